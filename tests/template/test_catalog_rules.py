"""The template's EventBridge rules deliver every event a check declares (eks_auditor.checks.registry).

A check that names a call the rules do not forward would never be re-run by it: only the schedule would
catch the change. Events are the repository's real samples with the name (or detail-type) swapped in.
"""

from __future__ import annotations

import pytest
from eks_auditor import triggers
from eks_auditor.checks.registry import CATALOG
from eks_auditor.model.check import CLOUDTRAIL_DETAIL_TYPE, Event
from template_helpers import TEMPLATE, load_event

from eks_auditor_tools.patterns import Rule, load_rules, matching_rules

# A real sample per source and kind of event, and the one rule that must take it.
SAMPLES = {
    ("aws.eks", CLOUDTRAIL_DETAIL_TYPE): ("eks-create-nodegroup.json", "EksApiCallsRule"),
    ("aws.ec2", CLOUDTRAIL_DETAIL_TYPE): ("ec2-delete-route.json", "Ec2ApiCallsRule"),
    ("aws.iam", CLOUDTRAIL_DETAIL_TYPE): ("iam-create-oidc-provider.json", "IamOidcRule"),
    ("aws.ec2", "EC2 Spot Instance Interruption Warning"): ("spot-interruption-warning.json", "SpotRule"),
    ("aws.ec2", "EC2 Instance Rebalance Recommendation"): ("spot-rebalance-recommendation.json", "SpotRule"),
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


@pytest.mark.parametrize("event", declared_events(), ids=lambda e: e.label)
def test_every_declared_event_reaches_exactly_its_rule(rules: dict[str, Rule], event: Event) -> None:
    sample, rule = SAMPLES[(event.source, event.detail_type)]
    payload = load_event(sample)
    if event.name:
        payload["detail"]["eventName"] = event.name
    assert matching_rules(rules, payload) == [rule]


def test_an_undeclared_call_is_not_forwarded(rules: dict[str, Rule]) -> None:
    # The check above could not fail if the rules matched any eventName.
    payload = load_event("eks-create-nodegroup.json")
    payload["detail"]["eventName"] = "DescribeNodegroup"
    assert matching_rules(rules, payload) == []
