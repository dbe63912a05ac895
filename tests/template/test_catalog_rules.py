"""The template's EventBridge rules deliver every event a check declares (eks_auditor.checks.registry),
and the catalog walk: every part a snapshot check reads has an event that re-runs the check, or a reason
why only the schedule can see it change.

A check that names a call the rules do not forward would never be re-run by it: only the schedule would
catch the change. Events are the repository's real samples with the name (or detail-type) swapped in.
"""

from __future__ import annotations

from typing import Any

import pytest
from eks_auditor import triggers
from eks_auditor.checks import events
from eks_auditor.checks.registry import CATALOG, CHECKS, REGION_CHECKS
from eks_auditor.model.check import CLOUDTRAIL_DETAIL_TYPE, CheckKind, CheckSpec, Event
from eks_auditor.model.part import Part
from template_helpers import TEMPLATE, load_event

from eks_auditor_tools.patterns import Rule, load_rules, matching_rules

# A real sample per source and kind of event, and the one rule that must take it.
SAMPLES = {
    ("aws.eks", CLOUDTRAIL_DETAIL_TYPE): ("eks-create-nodegroup.json", "EksApiCallsRule"),
    ("aws.ec2", CLOUDTRAIL_DETAIL_TYPE): ("ec2-delete-route.json", "Ec2ApiCallsRule"),
    ("aws.iam", CLOUDTRAIL_DETAIL_TYPE): ("iam-create-oidc-provider.json", "IamOidcRule"),
    ("aws.autoscaling", CLOUDTRAIL_DETAIL_TYPE): (
        "autoscaling-update-auto-scaling-group.json",
        "AutoScalingApiCallsRule",
    ),
    ("aws.network-firewall", CLOUDTRAIL_DETAIL_TYPE): (
        "network-firewall-associate-subnets.json",
        "NetworkFirewallApiCallsRule",
    ),
    ("aws.ec2", "EC2 Spot Instance Interruption Warning"): ("spot-interruption-warning.json", "SpotRule"),
    ("aws.ec2", "EC2 Instance Rebalance Recommendation"): ("spot-rebalance-recommendation.json", "SpotRule"),
}


# Calls a rule forwards only with certain parameters (EC2 tag calls: when a resource tagged is a subnet)
# take a sample of their own; the name is swapped into it like the others.
NAMED_SAMPLES = {
    Event("aws.ec2", "CreateTags"): "ec2-create-tags-subnet.json",
    Event("aws.ec2", "DeleteTags"): "ec2-create-tags-subnet.json",
}


def declared_events() -> list[Event]:
    events = {event for check in CATALOG.values() for event in check.spec.events}
    # Calls about the whole cluster are the router's, not a check's.
    events |= {Event("aws.eks", name) for name in triggers.EVERY_CHECK_EVENTS | triggers.EKS_DELETE_EVENTS}
    return sorted(events, key=lambda e: e.label)


@pytest.fixture(scope="module")
def rules() -> dict[str, Rule]:
    return load_rules(TEMPLATE)


def test_the_catalog_declares_events_of_every_rule() -> None:
    assert {(e.source, e.detail_type) for e in declared_events()} == set(SAMPLES)


def payload_of(event: Event) -> dict[str, Any]:
    sample = NAMED_SAMPLES.get(event) or SAMPLES[(event.source, event.detail_type)][0]
    payload = load_event(sample)
    if event.name:
        payload["detail"]["eventName"] = event.name
    return payload


@pytest.mark.parametrize("event", declared_events(), ids=lambda e: e.label)
def test_every_declared_event_reaches_exactly_its_rule(rules: dict[str, Rule], event: Event) -> None:
    assert matching_rules(rules, payload_of(event)) == [SAMPLES[(event.source, event.detail_type)][1]]


# --- the catalog walk --------------------------------------------------------------------------------


def rerun_by(rules: dict[str, Rule], event: Event) -> frozenset[str]:
    """The snapshot checks an event re-runs once it is through the template's rules and the router."""
    payload = payload_of(event)
    if event.detail_type != CLOUDTRAIL_DETAIL_TYPE or not matching_rules(rules, payload):
        return frozenset()
    try:
        requests = triggers.requests_from_event(payload)
    except triggers.InvalidEvent:
        return frozenset()
    every = frozenset(CHECKS)
    return frozenset().union(*(every if r.check_ids is None else r.check_ids for r in requests))


def uncovered(spec: CheckSpec, rules: dict[str, Rule]) -> list[Part]:
    """The parts `spec` reads that none of its events changes (per events.PART_CHANGES) and re-runs it on,
    and that it does not declare schedule_only."""
    gaps = []
    for part in spec.parts:
        if part in spec.schedule_only:
            continue
        changing = [e for e in spec.events if e in events.PART_CHANGES.get(part, ())]
        if not any(spec.id in rerun_by(rules, e) for e in changing):
            gaps.append(part)
    return gaps


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_every_part_a_check_reads_has_a_routed_event_or_a_schedule_only_reason(
    rules: dict[str, Rule], check_id: str
) -> None:
    assert uncovered(CHECKS[check_id].spec, rules) == []


def test_the_walk_leaves_out_only_checks_no_routed_event_re_runs() -> None:
    # The walk covers snapshot checks. The others are not re-run by the router: spot notices are born of
    # their own events (SpotRule), audit_incomplete of the engine, and the account-region checks
    # (pipeline_*, cluster "-") read the auditor's own pipeline, which only the schedule and
    # `scan --check` evaluate; so they declare no CloudTrail call and no schedule_only reason.
    others = {check_id: check.spec for check_id, check in CATALOG.items() if check_id not in CHECKS}
    assert {spec.kind for spec in others.values()} == {
        CheckKind.EVENT,
        CheckKind.ENGINE,
        CheckKind.ACCOUNT_REGION,
    }
    assert sorted(REGION_CHECKS) == sorted(
        check_id for check_id, spec in others.items() if spec.kind is CheckKind.ACCOUNT_REGION
    )
    for check_id in REGION_CHECKS:
        spec = CATALOG[check_id].spec
        assert (spec.events, dict(spec.schedule_only)) == ((), {}), check_id


def test_the_walk_finds_a_part_without_an_event(rules: dict[str, Rule]) -> None:
    spec = CHECKS["nodegroup_ssh_open"].spec
    # Only the security-group calls left: nothing re-runs the check when its node groups change.
    without = spec.model_copy(update={"events": events.SECURITY_GROUP_RULES})
    assert uncovered(without, rules) == [Part.NODEGROUPS]
    excused = without.model_copy(update={"schedule_only": {Part.NODEGROUPS: "for the test"}})
    assert uncovered(excused, rules) == []
    # Declared but not routed to the check (the router knows the call for other checks only).
    stranger = spec.model_copy(update={"id": "not_registered"})
    assert uncovered(stranger, rules) == [Part.NODEGROUPS, Part.NODE_SECURITY_GROUPS]
    # Routed, but a call that changes another part than the one read.
    wrong_part = spec.model_copy(update={"events": events.SECURITY_GROUP_RULES + events.VPC_ENDPOINTS})
    assert uncovered(wrong_part, rules) == [Part.NODEGROUPS]


def test_the_walk_needs_the_template_to_forward_the_event(rules: dict[str, Rule]) -> None:
    spec = CHECKS["oidc_provider_missing"].spec
    assert uncovered(spec, rules) == []
    assert uncovered(spec, {name: rule for name, rule in rules.items() if name != "IamOidcRule"}) == [
        Part.IAM_OIDC_PROVIDERS
    ]


def test_every_declared_event_changes_a_known_part() -> None:
    known = {event for changes in events.PART_CHANGES.values() for event in changes}
    declared = {event for check in CATALOG.values() for event in check.spec.events}
    assert sorted(e.label for e in declared - known) == []
    # And the table speaks only of events some check declares (the router would drop the others).
    assert sorted(e.label for e in known - declared) == []


def test_schedule_only_is_declared_only_where_the_walk_needs_or_explains_it() -> None:
    declared = {(check_id, part) for check_id, check in CATALOG.items() for part in check.spec.schedule_only}
    assert declared == {
        ("autoscaler_dynamic_instance_list", Part.KUBERNETES),
        ("cluster_admin_broad", Part.KUBERNETES),
        ("cluster_subnet_ip_low", Part.NETWORK),
        ("ip_capacity_exhaustion_risk", Part.CLUSTER),
        ("ip_capacity_exhaustion_risk", Part.NETWORK),
        ("ip_capacity_exhaustion_risk", Part.INSTANCE_TYPES),
        ("ip_prefix_delegation_recommended", Part.CLUSTER),
        ("ip_prefix_delegation_recommended", Part.INSTANCE_TYPES),
        ("oidc_provider_missing", Part.CLUSTER),
        ("version_end_of_standard_support", Part.VERSION_SUPPORT),
        ("vpc_endpoint_missing", Part.KUBERNETES),
    }


def test_schedule_only_names_a_part_the_check_reads_and_says_why() -> None:
    spec = CHECKS["oidc_provider_missing"].spec.model_dump()
    with pytest.raises(ValueError, match="does not read"):
        CheckSpec.model_validate({**spec, "schedule_only": {Part.KUBERNETES: "not read"}})
    with pytest.raises(ValueError, match="needs a reason"):
        CheckSpec.model_validate({**spec, "schedule_only": {Part.CLUSTER: " "}})


def test_the_named_samples_are_needed_and_declared(rules: dict[str, Rule]) -> None:
    # Each call with a sample of its own is declared, and the generic sample would not carry it: the
    # rule filters on its parameters.
    declared = set(declared_events())
    for event in NAMED_SAMPLES:
        assert event in declared, event.label
        generic = load_event(SAMPLES[(event.source, event.detail_type)][0])
        generic["detail"]["eventName"] = event.name
        assert matching_rules(rules, generic) == [], event.label


def test_an_undeclared_call_is_not_forwarded(rules: dict[str, Rule]) -> None:
    # The check above could not fail if the rules matched any eventName.
    payload = load_event("eks-create-nodegroup.json")
    payload["detail"]["eventName"] = "DescribeNodegroup"
    assert matching_rules(rules, payload) == []
