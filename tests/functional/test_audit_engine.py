"""The engine (evaluate, to_evaluation, Auditor) under moto with the demo fleet.

A check that could not run is never a pass: DescribeCluster denied, a snapshot part missing or a check
raising all end in audit_incomplete findings, and the other checks' results are kept. Failures are
injected with botocore event hooks on the collector's own clients; the rest of the scan runs on moto.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from eks_auditor.audit import Auditor, evaluate, required_parts, to_evaluation
from eks_auditor.checks.registry import CHECKS, select
from eks_auditor.collect.clients import AwsClients
from eks_auditor.collect.errors import ClusterNotFound, ClusterUnavailable
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.metrics import CountingSink
from eks_auditor.model.check import Check, Result, Severity
from eks_auditor.model.finding import ChangeKind, StateChange, Status, finding_id
from eks_auditor.store import FindingStore
from table import create_table

from eks_auditor_tools.demo.fleet import ACCOUNT, Fleet

REGION = "us-east-1"
ALL_CHECKS = list(CHECKS)
DENIED = "AccessDeniedException on eks:DescribeCluster: User is not authorized to perform eks:DescribeCluster"


@dataclass
class World:
    session: boto3.Session
    fleet: Fleet
    store: FindingStore


@pytest.fixture(scope="module")
def world(demo_fleet: tuple[boto3.Session, Fleet]) -> World:
    session, fleet = demo_fleet
    dynamodb = session.client("dynamodb")
    # No outbox grace: a change left pending by a failed publish is due on the very next audit.
    store = FindingStore(create_table(dynamodb), client=dynamodb, outbox_grace=timedelta(0))
    return World(session, fleet, store)


class Clock:
    """A collector clock that moves one minute per reading (evaluations are strictly ordered)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def collector(world: World, clock: Clock | None = None) -> SnapshotCollector:
    made = SnapshotCollector(AwsClients(world.session), now=clock or Clock())
    # No Kubernetes API is served in this module; the checks that need it are audit_incomplete.
    made.unregister("kubernetes")
    return made


def deny_describe_cluster(source: SnapshotCollector, cluster: str) -> Any:
    """DescribeCluster of `cluster` answers AccessDenied; returns the hook (to unregister)."""

    def deny(params: dict[str, Any], **_: Any) -> None:
        if params.get("name") == cluster:
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDeniedException",
                        "Message": "User is not authorized to perform eks:DescribeCluster",
                    }
                },
                "DescribeCluster",
            )

    source.clients.eks(REGION).meta.events.register("before-parameter-build.eks.DescribeCluster", deny)
    return deny


class RecordingNotifier:
    """Stands in for the SNS notifier; fails the first `failures` publishes."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.published: list[StateChange] = []

    def publish(self, change: StateChange) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("SNS unavailable")
        self.published.append(change)

    def publish_digests(self, changes: Sequence[StateChange]) -> list[str]:
        return []


# --- DescribeCluster denied --------------------------------------------------------------------------


def test_access_denied_makes_every_requested_check_incomplete_never_pass(world: World) -> None:
    source = collector(world)
    deny_describe_cluster(source, "analytics")
    metrics = CountingSink()
    result = Auditor(source, metrics=metrics).audit(REGION, "analytics", source="scan-1", account=ACCOUNT)

    evaluation = result.evaluation
    assert evaluation is not None
    assert list(evaluation.checks_run) == ALL_CHECKS
    assert evaluation.passing == ()
    assert list(evaluation.errored_checks) == ALL_CHECKS
    assert [(o.check_id, o.result) for o in result.outcomes] == [(c, Result.ERROR) for c in ALL_CHECKS]
    arn = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/analytics"
    assert [(f.check_id, f.severity, f.resource) for f in evaluation.failing] == [
        ("audit_incomplete", Severity.INFO, f"{check}:{arn}") for check in ALL_CHECKS
    ]
    assert {f.evidence["reason"] for f in evaluation.failing} == {f"could not collect cluster: {DENIED}"}
    assert [f.evidence["check_id"] for f in evaluation.failing] == ALL_CHECKS
    assert result.failing[0].title == f"{ALL_CHECKS[0]} could not be evaluated"
    # A refusal: each check counts as incomplete and as denied (its audit_incomplete alerts at once).
    assert metrics.counts == {
        "ClustersAudited": 1,
        "ChecksIncomplete": len(ALL_CHECKS),
        "ChecksDenied": len(ALL_CHECKS),
    }


def test_access_denied_on_a_targeted_reaudit_covers_only_its_checks(world: World) -> None:
    source = collector(world)
    deny_describe_cluster(source, "analytics")
    wanted = ["endpoint_public_unrestricted", "nodegroup_ssh_open"]
    result = Auditor(source).audit(REGION, "analytics", check_ids=wanted, source="evt", account=ACCOUNT)
    assert result.evaluation is not None
    assert sorted(result.evaluation.errored_checks) == sorted(wanted)
    assert sorted(f.evidence["check_id"] for f in result.failing) == sorted(wanted)


def test_access_denied_without_a_known_account_raises(world: World) -> None:
    source = collector(world)
    deny_describe_cluster(source, "analytics")
    with pytest.raises(ClusterUnavailable, match="AccessDeniedException on eks:DescribeCluster"):
        Auditor(source).audit(REGION, "analytics", source="cli")


def test_missing_cluster_raises_cluster_not_found(world: World) -> None:
    with pytest.raises(ClusterNotFound, match="cluster nope not found in us-east-1"):
        Auditor(collector(world)).audit(REGION, "nope", source="cli", account=ACCOUNT)


def test_access_denied_keeps_stored_findings_open_until_the_check_runs_again(world: World) -> None:
    clock = Clock()
    source = collector(world, clock)
    notifier = RecordingNotifier()
    auditor = Auditor(source, store=world.store, notifier=notifier, clock=clock)
    wanted = ["endpoint_public_unrestricted"]
    arn = world.fleet.clusters["prod-web"]
    finding = finding_id(ACCOUNT, REGION, "prod-web", "endpoint_public_unrestricted", arn)
    incomplete = finding_id(
        ACCOUNT, REGION, "prod-web", "audit_incomplete", f"endpoint_public_unrestricted:{arn}"
    )

    first = auditor.audit(REGION, "prod-web", check_ids=wanted, source="scan-1", account=ACCOUNT)
    assert [(c.kind, c.finding.id) for c in first.changes] == [(ChangeKind.OPENED, finding)]

    hook = deny_describe_cluster(source, "prod-web")
    source.start_scan()
    denied = auditor.audit(REGION, "prod-web", check_ids=wanted, source="scan-2", account=ACCOUNT)
    assert [(c.kind, c.finding.id) for c in denied.changes] == [(ChangeKind.OPENED, incomplete)]
    stored = world.store.get(finding)
    assert stored is not None and stored.status is Status.OPEN

    source.clients.eks(REGION).meta.events.unregister("before-parameter-build.eks.DescribeCluster", hook)
    source.start_scan()
    again = auditor.audit(REGION, "prod-web", check_ids=wanted, source="scan-3", account=ACCOUNT)
    assert [(c.kind, c.finding.id) for c in again.changes] == [(ChangeKind.RESOLVED, incomplete)]
    stored = world.store.get(finding)
    assert stored is not None and stored.status is Status.OPEN
    assert [(c.kind, c.finding.id) for c in notifier.published] == [
        (ChangeKind.OPENED, finding),
        (ChangeKind.OPENED, incomplete),
        (ChangeKind.RESOLVED, incomplete),
    ]


# --- a part missing, a check raising -----------------------------------------------------------------


def test_a_check_that_raises_is_incomplete_and_the_others_still_produce_results(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(snapshot: Any) -> Any:
        raise RuntimeError("boom")

    broken = CHECKS["control_plane_logging_disabled"]
    monkeypatch.setitem(CHECKS, broken.spec.id, Check(spec=broken.spec, run=boom))
    wanted = ["endpoint_public_unrestricted", "control_plane_logging_disabled", "secrets_encryption_disabled"]
    result = Auditor(collector(world)).audit(
        REGION, "prod-web", check_ids=wanted, source="evt", account=ACCOUNT
    )
    arn = world.fleet.clusters["prod-web"]
    assert [(o.check_id, o.result) for o in result.outcomes] == [
        ("endpoint_public_unrestricted", Result.FAIL),
        ("control_plane_logging_disabled", Result.ERROR),
        ("secrets_encryption_disabled", Result.FAIL),
    ]
    assert [(f.check_id, f.resource) for f in result.failing] == [
        ("endpoint_public_unrestricted", arn),
        ("audit_incomplete", f"control_plane_logging_disabled:{arn}"),
        ("secrets_encryption_disabled", arn),
    ]
    assert result.failing[1].evidence == {
        "check_id": "control_plane_logging_disabled",
        "resource": arn,
        "reason": "check raised RuntimeError: boom",
    }
    assert result.evaluation is not None
    assert result.evaluation.errored_checks == ("control_plane_logging_disabled",)


def test_a_part_that_could_not_be_collected_is_incomplete_with_its_reason(world: World) -> None:
    source = collector(world)

    def deny(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "UnauthorizedOperation", "Message": "You are not authorized"}},
            "DescribeRouteTables",
        )

    source.clients.ec2(REGION).meta.events.register("before-call.ec2.DescribeRouteTables", deny)
    wanted = ["vpc_endpoint_missing", "endpoint_public_unrestricted"]
    result = Auditor(source).audit(REGION, "payments", check_ids=wanted, source="evt", account=ACCOUNT)
    assert result.evaluation is not None
    assert result.evaluation.errored_checks == ("vpc_endpoint_missing",)
    [incomplete] = [f for f in result.failing if f.check_id == "audit_incomplete"]
    assert incomplete.evidence["check_id"] == "vpc_endpoint_missing"
    assert incomplete.evidence["reason"].startswith("could not collect network: UnauthorizedOperation")
    assert "ec2:DescribeRouteTables" in incomplete.evidence["reason"]
    assert ("endpoint_public_unrestricted", world.fleet.clusters["payments"]) in result.evaluation.passing


def test_evaluate_reports_each_missing_part(world: World) -> None:
    snapshot = collector(world).collect(REGION, "batch", frozenset({"cluster"}))
    checks = select(
        ["spot_single_instance_type", "ip_capacity_exhaustion_risk", "secrets_encryption_disabled"]
    )
    outcomes = evaluate(snapshot, checks)
    assert [(o.check_id, o.result, o.reason) for o in outcomes] == [
        ("spot_single_instance_type", Result.ERROR, "could not collect nodegroups: not collected"),
        (
            "ip_capacity_exhaustion_risk",
            Result.ERROR,
            "could not collect network: not collected; nodegroups: not collected; "
            "instance_types: not collected",
        ),
        ("secrets_encryption_disabled", Result.PASS, None),
    ]


def test_required_parts_are_the_union_of_the_checks_needs() -> None:
    assert required_parts([]) == {"cluster"}
    assert required_parts(select(["endpoint_public_unrestricted"])) == {"cluster"}
    assert required_parts(select(["cluster_admin_broad", "ip_prefix_delegation_recommended"])) == {
        "cluster",
        "kubernetes",
        "access_entries",
        "nodegroups",
        "instance_types",
    }


# --- what the engine records -------------------------------------------------------------------------


def test_to_evaluation_stamps_ids_times_and_outcome_severity(world: World) -> None:
    snapshot = collector(world).collect(REGION, "payments")
    checks = select(["vpc_endpoint_missing", "secrets_encryption_disabled"])
    outcomes = evaluate(snapshot, checks)
    at = snapshot.collected_at
    evaluation = to_evaluation(snapshot, checks, outcomes, source="scan-9", evaluated_at=at)
    arn = world.fleet.clusters["payments"]
    # One finding per missing service, with the service's own severity (not the spec's).
    resources = {f.resource.replace(f"{arn}/vpc-endpoint/", ""): f.severity for f in evaluation.failing}
    assert resources == {
        "s3": Severity.CRITICAL,
        "ec2": Severity.HIGH,
        "logs": Severity.MEDIUM,
        "eks": Severity.MEDIUM,
        "elasticloadbalancing": Severity.MEDIUM,
        "autoscaling": Severity.LOW,
        # moto answers 404 to the Pod Identity and add-on reads that decide eks-auth: could not evaluate
        # (audit_incomplete, INFO), never a pass and never a guess at HIGH.
        "vpc_endpoint_missing:eks-auth": Severity.INFO,
    }
    for finding in evaluation.failing:
        assert finding.id == finding_id(ACCOUNT, REGION, "payments", finding.check_id, finding.resource)
        assert (finding.first_seen, finding.last_seen, finding.evaluated_at) == (at, at, at)
        assert (finding.source, finding.status, finding.cluster_arn) == ("scan-9", Status.OPEN, arn)
    assert evaluation.checks_run == ("vpc_endpoint_missing", "secrets_encryption_disabled")
    assert ("secrets_encryption_disabled", arn) in evaluation.passing
    assert {f"{arn}/vpc-endpoint/{s}" for s in ("ecr.api", "ecr.dkr", "sts")} <= {
        r for _, r in evaluation.passing
    }
    assert evaluation.errored_checks == ("vpc_endpoint_missing",)  # its eks-auth resource only


def test_unknown_check_ids_run_nothing(world: World) -> None:
    result = Auditor(collector(world)).audit(
        REGION, "batch", check_ids=["spot_interruption_notice"], source="evt", account=ACCOUNT
    )
    assert result.evaluation is not None
    assert (result.evaluation.checks_run, result.outcomes) == ((), [])


def test_a_failed_publish_is_published_by_the_next_audit_exactly_once(world: World) -> None:
    notifier = RecordingNotifier(failures=1)
    metrics = CountingSink()
    auditor = Auditor(collector(world), store=world.store, notifier=notifier, metrics=metrics)
    wanted = ["spot_single_instance_type"]
    with pytest.raises(RuntimeError, match="SNS unavailable"):
        auditor.audit(REGION, "batch", check_ids=wanted, source="scan-1", account=ACCOUNT)
    assert notifier.published == []

    retried = auditor.audit(REGION, "batch", check_ids=wanted, source="scan-2", account=ACCOUNT)
    assert [(c.kind, c.finding.check_id, c.finding.source) for c in retried.changes] == [
        (ChangeKind.OPENED, "spot_single_instance_type", "scan-1")
    ]
    assert notifier.published == retried.changes

    quiet = auditor.audit(REGION, "batch", check_ids=wanted, source="scan-3", account=ACCOUNT)
    assert quiet.changes == []
    assert len(notifier.published) == 1
    assert metrics.counts["FindingsOpenedMedium"] == 1  # counted when it happened, not when re-published
    assert metrics.counts["ClustersAudited"] == 3


def test_resolve_deleted_without_a_store_changes_nothing(world: World) -> None:
    result = Auditor(collector(world)).resolve_deleted(ACCOUNT, REGION, "gone", source="evt")
    assert (result.deleted, result.changes, result.cluster) == (True, [], "gone")
