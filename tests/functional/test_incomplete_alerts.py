"""The audit_incomplete alert threshold (store.lifecycle.IncompleteAlerts) against moto's DynamoDB: a part
that cannot be read is recorded at once (OPEN, never a pass) but alerted only after 3 consecutive scans or 12
hours, or at once for AccessDenied; a held finding that becomes readable again resolves quietly. The same
through the engine under EC2 throttling is in test_fault_matrix.py (it shares that module's fleet)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from eks_auditor.errors import denied
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status
from eks_auditor.store import FindingStore
from eks_auditor.store.lifecycle import IncompleteAlerts
from table import REGION, TABLE, later, make_evaluation, make_finding, make_incomplete

from eks_auditor_tools.demo.fleet import ACCOUNT

ENDPOINT = "endpoint_public_unrestricted"
ARN = "arn:aws:eks:us-east-1:123456789012:cluster/prod-a"
THROTTLED = "RequestLimitExceeded on ec2:DescribeSubnets: Request limit exceeded."


def incomplete(reason: str, *, hours: float = 0, source: str = "scan-1") -> Finding:
    finding = make_incomplete(ENDPOINT, ARN, at=later(hours), source=source)
    return finding.model_copy(update={"evidence": {**finding.evidence, "reason": reason}})


def evaluate(store: FindingStore, reason: str, *, hours: float, source: str) -> list[StateChange]:
    """One evaluation in which the endpoint check could not run for `reason`; its changes marked sent."""
    evaluation = make_evaluation(
        [incomplete(reason, hours=hours, source=source)], at=later(hours), source=source, errored=[ENDPOINT]
    )
    changes = store.apply_evaluation(evaluation)
    for change in changes:
        store.mark_notified(change)
    return changes


def kinds(changes: list[StateChange]) -> list[tuple[ChangeKind, str]]:
    return [(change.kind, change.finding.check_id) for change in changes]


@pytest.mark.parametrize(
    ("reason", "refusal"),
    [
        ("AccessDenied on ec2:DescribeSubnets: User is not authorized", True),
        ("AccessDeniedException on eks:ListAccessEntries: not authorized", True),
        ("UnauthorizedOperation on ec2:DescribeRouteTables: You are not authorized", True),
        ("needs network: AccessDenied on ec2:DescribeSubnets", True),
        ("403 Forbidden: configmaps is forbidden (/api/v1/namespaces/kube-system). Grant read", True),
        ("could not collect cluster: 401 Unauthorized: token rejected", True),
        ("AuthFailure on ec2:DescribeSubnets: AWS was not able to validate the provided credentials", True),
        ("InvalidClientTokenId on sts:GetCallerIdentity: The security token included is invalid", True),
        (THROTTLED, False),
        ("RequestExpired on ec2:DescribeSubnets: Request has expired", False),
        ("ThrottlingException on eks:DescribeCluster: Rate exceeded", False),
        ("ReadTimeoutError: Read timeout on endpoint URL", False),
        ("404 Not Found (HTML error page)", False),
        ("check raised KeyError: 'AccessDeniedFoo'", True),
    ],
)
def test_which_reasons_are_refusals(reason: str, refusal: bool) -> None:
    assert denied(reason) is refusal


def test_throttled_part_is_recorded_at_once_and_alerted_on_the_third_consecutive_scan(
    store: FindingStore,
) -> None:
    endpoint = make_finding(resource=ARN)
    for change in store.apply_evaluation(make_evaluation([endpoint])):
        store.mark_notified(change)

    assert evaluate(store, THROTTLED, hours=6, source="scan-2") == []
    held = store.get(incomplete(THROTTLED).id)
    assert held is not None and (held.status, held.held) == (Status.OPEN, True)
    assert held.evidence["scans"] == 1 and held.evidence["unreadable_since"] == "2025-03-01T18:00:00.000000Z"
    still = store.get(endpoint.id)
    assert still is not None and still.status is Status.OPEN  # unreadable is never a pass

    assert evaluate(store, THROTTLED, hours=7, source="scan-3") == []
    # The same scan's message delivered again (SQS retries) is not one more scan.
    assert evaluate(store, THROTTLED, hours=7.5, source="scan-3") == []
    third = evaluate(store, THROTTLED, hours=8, source="scan-4")

    assert kinds(third) == [(ChangeKind.OPENED, "audit_incomplete")]
    alerted = third[0].finding
    assert (alerted.held, alerted.sequence, alerted.evidence["scans"]) == (False, 1, 3)
    assert [entry.kind for entry in store.history(alerted.id)] == [ChangeKind.OPENED]


def test_event_audits_alert_after_twelve_hours_not_as_scans(store: FindingStore) -> None:
    assert evaluate(store, THROTTLED, hours=0, source="evt-1") == []
    assert evaluate(store, THROTTLED, hours=1, source="evt-2") == []
    assert evaluate(store, THROTTLED, hours=11.9, source="evt-3") == []
    late = evaluate(store, THROTTLED, hours=12, source="evt-4")
    assert kinds(late) == [(ChangeKind.OPENED, "audit_incomplete")]
    assert late[0].finding.evidence["scans"] == 0


def test_access_denied_alerts_at_once(store: FindingStore) -> None:
    changes = evaluate(store, "AccessDenied on ec2:DescribeSubnets: not authorized", hours=0, source="scan-1")
    assert kinds(changes) == [(ChangeKind.OPENED, "audit_incomplete")]
    assert changes[0].finding.held is False


def test_a_throttle_that_turns_into_access_denied_alerts_then(store: FindingStore) -> None:
    assert evaluate(store, THROTTLED, hours=0, source="scan-1") == []
    changes = evaluate(store, "AccessDenied on ec2:DescribeSubnets: not authorized", hours=6, source="scan-2")
    assert kinds(changes) == [(ChangeKind.OPENED, "audit_incomplete")]


def test_held_finding_readable_again_resolves_quietly_and_an_alerted_one_loudly(store: FindingStore) -> None:
    evaluate(store, THROTTLED, hours=0, source="scan-1")
    readable = store.apply_evaluation(make_evaluation([], at=later(6), source="scan-2"))
    assert readable == []
    quiet = store.get(incomplete(THROTTLED).id)
    assert quiet is not None and (quiet.status, quiet.held, quiet.sequence) == (Status.RESOLVED, False, 0)
    assert store.history(quiet.id) == []

    # A new streak starts from one scan again; once alerted, its end is published.
    for hours, source in ((12, "scan-3"), (18, "scan-4")):
        assert evaluate(store, THROTTLED, hours=hours, source=source) == []
    assert kinds(evaluate(store, THROTTLED, hours=24, source="scan-5")) == [
        (ChangeKind.OPENED, "audit_incomplete")
    ]
    resolved = store.apply_evaluation(make_evaluation([], at=later(30), source="scan-6"))
    assert kinds(resolved) == [(ChangeKind.RESOLVED, "audit_incomplete")]


def test_a_resolved_alerted_finding_unreadable_again_reopens_only_when_due(store: FindingStore) -> None:
    evaluate(store, "AccessDenied on ec2:DescribeSubnets", hours=0, source="scan-1")
    for change in store.apply_evaluation(make_evaluation([], at=later(1), source="scan-2")):
        store.mark_notified(change)
    assert evaluate(store, THROTTLED, hours=6, source="scan-3") == []
    assert evaluate(store, THROTTLED, hours=12, source="scan-4") == []
    reopened = evaluate(store, THROTTLED, hours=18, source="scan-5")
    assert kinds(reopened) == [(ChangeKind.REOPENED, "audit_incomplete")]
    assert reopened[0].previous_status is Status.RESOLVED


def test_deleting_a_cluster_resolves_a_held_finding_quietly(store: FindingStore) -> None:
    evaluate(store, THROTTLED, hours=0, source="scan-1")
    assert store.resolve_cluster(ACCOUNT, REGION, "prod-a", source="evt-del", evaluated_at=later(1)) == []
    gone = store.get(incomplete(THROTTLED).id)
    assert gone is not None and gone.status is Status.RESOLVED


def test_the_threshold_is_configurable(dynamodb: Any) -> None:
    store = FindingStore(TABLE, client=dynamodb, incomplete_alerts=IncompleteAlerts(scans=1))
    assert kinds(evaluate(store, THROTTLED, hours=0, source="scan-1")) == [
        (ChangeKind.OPENED, "audit_incomplete")
    ]
    hourly = IncompleteAlerts(scans=10, after=timedelta(hours=1))
    assert hourly.due(THROTTLED, later(0), 1, later(1)) and not hourly.due(THROTTLED, later(0), 9, later(0.5))
