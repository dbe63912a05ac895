"""The audit_incomplete alert threshold (store.lifecycle.IncompleteAlerts): a part that cannot be read is
recorded at once (OPEN, never a pass) but alerted only after 3 consecutive scans or 12 hours, or at once for
AccessDenied; a held finding that becomes readable again resolves quietly. Then the same through the engine
on a moto fleet under EC2 throttling (RequestLimitExceeded answered by a botocore before-send hook): the
limiter backs off, the scan completes or records incomplete, and a throttling storm pages nobody."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
from accounts import Topic, drain, moto_account
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from eks_auditor.audit import Auditor
from eks_auditor.collect.clients import AwsClients
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.concurrency import Limiter
from eks_auditor.model.check import Result
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status
from eks_auditor.notify import Notifier
from eks_auditor.store import FindingStore
from eks_auditor.store.lifecycle import IncompleteAlerts, denied
from table import REGION, TABLE, create_table, later, make_evaluation, make_finding, make_incomplete

from eks_auditor_tools.demo.fleet import ACCOUNT, build_fleet

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
        (THROTTLED, False),
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


# --- through the engine, under EC2 throttling --------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def answering(operation: str, code: str, status: int, *, times: int | None = None) -> Any:
    """A before-send hook answering the EC2 `operation` with the error `code` (`times` times, or always)."""
    seen: Counter[str] = Counter()

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if f"Action={operation}" not in body or (times is not None and seen[operation] >= times):
            return None
        seen[operation] += 1
        xml = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>injected {code}.</Message></Error>"
            "</Errors><RequestID>r</RequestID></Response>"
        ).encode()
        return AWSResponse(request.url, status, {}, _Raw(xml))

    return handler


@dataclass
class World:
    store: FindingStore
    topic: Topic
    queue: str


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with moto_account() as session:
        build_fleet(session, REGION)
        client = session.client("dynamodb")
        create_table(client)
        topic = Topic.create("eks-auditor-alerts")
        yield World(FindingStore(TABLE, client=client), topic, topic.subscribe("everything"))


# Checks that read subnets (throttled below) and one that does not (endpoint: it must keep its verdict).
SUBNET_CHECKS = {"nodes_public_subnet", "ip_capacity_exhaustion_risk"}
CHECKS = [*sorted(SUBNET_CHECKS), ENDPOINT]


def scan(world: World, cluster: str, source: str, hook: Any, limiter: Limiter, *, attempts: int = 1) -> Any:
    """One audit of `cluster` (its throttles past `attempts` reported to `limiter`), stored and published."""
    clients = AwsClients(
        boto3.Session(),
        config=Config(retries={"mode": "standard", "max_attempts": attempts}),
        on_throttle=limiter.throttled_region,
    )
    clients.ec2(REGION).meta.events.register_first("before-send", hook)
    collector = SnapshotCollector(clients)
    collector.unregister("kubernetes")
    notifier = Notifier(world.topic.arn, client=world.topic.sns, baseline=False)
    auditor = Auditor(collector, store=world.store, notifier=notifier)
    return auditor.audit(REGION, cluster, check_ids=CHECKS, source=source, account=ACCOUNT)


def alerts(world: World) -> list[tuple[str, str]]:
    """(change, check id) of every message the topic delivered since the last call."""
    return sorted(
        (e["MessageAttributes"]["change"]["Value"], e["MessageAttributes"]["check_id"]["Value"])
        for e in drain(world.topic.sqs, world.queue)
    )


def test_a_throttling_storm_is_recorded_every_scan_and_alerted_on_the_third(world: World) -> None:
    limiter = Limiter(4, 4, jitter=lambda _: 0.0)
    storm = answering("DescribeSubnets", "RequestLimitExceeded", 503)
    for number in (1, 2, 3):
        result = scan(world, "payments", f"scan-storm-{number}", storm, limiter)
        errored = {o.check_id for o in result.outcomes if o.result is Result.ERROR}
        assert errored >= SUBNET_CHECKS and ENDPOINT not in errored
        assert SUBNET_CHECKS.isdisjoint(check for check, _ in result.evaluation.passing)  # never a pass
        messages = alerts(world)
        incomplete_messages = [m for m in messages if m[1] == "audit_incomplete"]
        if number < 3:
            assert incomplete_messages == []  # quiet...
        else:
            assert incomplete_messages == [("OPENED", "audit_incomplete")] * len(SUBNET_CHECKS)
        recorded = [
            f
            for f in (world.store.get(f.id) for f in result.failing if f.check_id == "audit_incomplete")
            if f is not None
        ]
        assert len(recorded) == len(SUBNET_CHECKS)  # ...but recorded on every scan
        assert all(f.status is Status.OPEN and f.evidence["scans"] == number for f in recorded)
    assert limiter.limit_of(("", REGION)) < 4  # the limiter backed off on the throttles

    # The storm passes: the alerted findings resolve, loudly.
    calm = scan(world, "payments", "scan-storm-4", answering("None", "x", 503), limiter)
    assert not [o for o in calm.outcomes if o.result is Result.ERROR]
    assert [m for m in alerts(world) if m[1] == "audit_incomplete"] == [
        ("RESOLVED", "audit_incomplete")
    ] * len(SUBNET_CHECKS)


def test_a_short_throttle_is_retried_and_the_scan_completes(world: World) -> None:
    limiter = Limiter(4, 4, jitter=lambda _: 0.0)
    burst = answering("DescribeSubnets", "RequestLimitExceeded", 503, times=1)
    result = scan(world, "analytics", "scan-burst-1", burst, limiter, attempts=2)
    assert [o for o in result.outcomes if o.result is Result.ERROR] == []
    assert {o.check_id for o in result.outcomes} == set(CHECKS)
    assert limiter.limit_of(("", REGION)) < 4
    alerts(world)


def test_access_denied_in_a_collector_alerts_on_the_first_scan(world: World) -> None:
    limiter = Limiter(4, 4, jitter=lambda _: 0.0)
    refusal = answering("DescribeSubnets", "UnauthorizedOperation", 403)
    result = scan(world, "batch", "scan-denied-1", refusal, limiter)
    assert {o.check_id for o in result.outcomes if o.result is Result.ERROR} >= SUBNET_CHECKS
    assert [m for m in alerts(world) if m[1] == "audit_incomplete"] == [("OPENED", "audit_incomplete")] * len(
        SUBNET_CHECKS
    )
    assert limiter.limit_of(("", REGION)) == 4  # a refusal is no throttle
