"""Stale and concurrent writes, transient findings, counters and claims (moto DynamoDB)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from eks_auditor.model.check import Severity
from eks_auditor.model.evaluation import Evaluation
from eks_auditor.model.finding import ChangeKind, StateChange, Status
from eks_auditor.store import FindingStore
from eks_auditor.store.schema import cluster_pk, finding_sk
from table import (
    ACCOUNT,
    CLUSTER,
    REGION,
    T0,
    TABLE,
    CallCounter,
    later,
    make_evaluation,
    make_finding,
)

ENDPOINT = "endpoint_public_unrestricted"
LOGGING = "control_plane_logging_disabled"


# Every test writes to the findings table (conftest's `dynamodb`), through stores of its own.
pytestmark = pytest.mark.usefixtures("dynamodb")


def new_store() -> tuple[FindingStore, Any]:
    """A store on its own client, as a second Lambda would have."""
    client = boto3.client("dynamodb", region_name=REGION)
    return FindingStore(TABLE, client=client), client


def settle(store: FindingStore, changes: list[StateChange]) -> None:
    for change in changes:
        store.mark_notified(change)


def run_once_after(client: Any, operation: str, action: Callable[[], None]) -> None:
    """Run `action` right after the client's next `operation` call: a real interleaving of two writers."""
    fired = False

    def hook(**_: Any) -> None:
        nonlocal fired
        if not fired:
            fired = True
            action()

    client.meta.events.register(f"after-call.dynamodb.{operation}", hook)


def test_older_evaluation_after_a_newer_one_is_ignored(aws: None) -> None:
    store, client = new_store()
    finding = make_finding()
    settle(store, store.apply_evaluation(make_evaluation([finding], at=later(2), source="scan-new")))
    calls = CallCounter(client)

    changes = store.apply_evaluation(make_evaluation([], at=later(1), source="scan-old"))

    assert changes == []
    # The failed stale guard and one read of the AUDIT item (which checks are newer?); nothing written.
    assert dict(calls.calls) == {"UpdateItem": 1, "GetItem": 1}
    stored = store.get(finding.id)
    assert stored is not None
    assert (stored.status, stored.evaluated_at, stored.source) == (Status.OPEN, later(2), "scan-new")


def test_retried_evaluation_is_idempotent(aws: None) -> None:
    store, _ = new_store()
    evaluation = make_evaluation([make_finding()])
    [first] = store.apply_evaluation(evaluation)
    store.mark_notified(first)

    assert store.apply_evaluation(evaluation) == []
    assert len(store.history(first.finding.id)) == 1


def test_newer_evaluation_landing_between_guard_and_read_wins(aws: None) -> None:
    setup, _ = new_store()
    finding = make_finding()
    settle(setup, setup.apply_evaluation(make_evaluation([finding])))
    older, older_client = new_store()
    newer, _ = new_store()
    critical = finding.model_copy(update={"severity": Severity.CRITICAL})
    newer_changes: list[StateChange] = []
    run_once_after(
        older_client,
        "UpdateItem",
        lambda: newer_changes.extend(
            newer.apply_evaluation(make_evaluation([critical], at=later(2), source="scan-new"))
        ),
    )

    older_changes = older.apply_evaluation(make_evaluation([], at=later(1), source="scan-old"))

    assert [c.kind for c in newer_changes] == [ChangeKind.SEVERITY_CHANGED]
    assert older_changes == []
    stored = setup.get(finding.id)
    assert stored is not None
    assert (stored.status, stored.severity, stored.source) == (Status.OPEN, Severity.CRITICAL, "scan-new")


def test_older_evaluation_cannot_write_after_a_newer_one_claimed_the_check(aws: None) -> None:
    # The older evaluation read the finding as OPEN and decides to resolve it; before it writes, a newer
    # evaluation sees it still failing (no change, no write). Without the ConditionCheck on the AUDIT item
    # the older resolve would land last and the newer "still failing" would be lost.
    setup, _ = new_store()
    finding = make_finding()
    settle(setup, setup.apply_evaluation(make_evaluation([finding])))
    older, older_client = new_store()
    newer, _ = new_store()
    newer_changes: list[StateChange] = []
    run_once_after(
        older_client,
        "Query",
        lambda: newer_changes.extend(
            newer.apply_evaluation(make_evaluation([finding], at=later(2), source="scan-new"))
        ),
    )

    older_changes = older.apply_evaluation(make_evaluation([], at=later(1), source="scan-old"))

    assert newer_changes == []
    assert older_changes == []
    stored = setup.get(finding.id)
    assert stored is not None and stored.status is Status.OPEN
    assert [entry.kind for entry in setup.history(finding.id)] == [ChangeKind.OPENED]


def test_concurrent_evaluations_of_different_checks_both_apply(aws: None) -> None:
    setup, _ = new_store()
    endpoint = make_finding()
    settle(setup, setup.apply_evaluation(make_evaluation([endpoint])))
    first, first_client = new_store()
    second, _ = new_store()
    logging_off = make_finding(LOGGING, "cluster", severity=Severity.MEDIUM)
    second_changes: list[StateChange] = []
    run_once_after(
        first_client,
        "UpdateItem",
        lambda: second_changes.extend(
            second.apply_evaluation(
                make_evaluation([logging_off], at=later(2), source="evt-2", checks_run=[LOGGING])
            )
        ),
    )

    first_changes = first.apply_evaluation(
        make_evaluation([], at=later(1), source="evt-1", checks_run=[ENDPOINT])
    )

    assert [(c.kind, c.finding.check_id) for c in first_changes] == [(ChangeKind.RESOLVED, ENDPOINT)]
    assert [(c.kind, c.finding.check_id) for c in second_changes] == [(ChangeKind.OPENED, LOGGING)]


def evaluation_with(at: datetime, source: str) -> Evaluation:
    return make_evaluation([make_finding()], at=at, source=source)


def test_record_transient_deduplicates_on_the_event_id(aws: None) -> None:
    store, client = new_store()
    expires = T0 + timedelta(hours=6)
    notice = make_finding(
        "spot_interruption_notice",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc",
        severity=Severity.MEDIUM,
        source="event-1",
        expires_at=expires,
    )

    [opened] = store.record_transient([notice])
    assert store.record_transient([notice]) == []  # the same event delivered twice
    again = notice.model_copy(update={"source": "event-2", "evaluated_at": later(1), "last_seen": later(1)})
    [reopened] = store.record_transient([again])

    assert (opened.kind, opened.finding) == (ChangeKind.OPENED, notice.model_copy(update={"sequence": 1}))
    assert (reopened.kind, reopened.finding.source, reopened.finding.sequence) == (
        ChangeKind.OPENED,
        "event-2",
        2,
    )
    assert opened.change_id != reopened.change_id
    item = client.get_item(
        TableName=TABLE,
        Key={"pk": {"S": cluster_pk(ACCOUNT, REGION, CLUSTER)}, "sk": {"S": finding_sk(notice.id)}},
    )["Item"]
    assert item["expires_at_epoch"] == {"N": str(int(expires.timestamp()))}
    assert [c.change_id for c in store.pending_changes(ACCOUNT, REGION, CLUSTER)] == [
        opened.change_id,
        reopened.change_id,
    ]
    settle(store, [opened, reopened])
    assert store.pending_changes(ACCOUNT, REGION, CLUSTER) == []


def test_transient_findings_are_not_resolved_by_evaluations(aws: None) -> None:
    store, _ = new_store()
    notice = make_finding("spot_interruption_notice", "i-0abc", source="event-1", expires_at=later(6))
    settle(store, store.record_transient([notice]))

    changes = store.apply_evaluation(
        make_evaluation([], at=later(1), checks_run=["spot_interruption_notice"])
    )

    assert changes == []


@pytest.fixture
def serialized_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies writes to one item one at a time; moto's in-memory backend does not (it races).

    One lock around moto's request handling restores that guarantee, so the threaded tests below check our
    side of it: an increment or a claim must be ONE conditional request, not a read followed by a write.
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def one_at_a_time(self: Any) -> Any:
        with lock:  # the whole request, response included: moto renders the item after updating it
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", one_at_a_time)


def test_counter_is_atomic_under_concurrent_callers(aws: None, serialized_backend: None) -> None:
    store, _ = new_store()
    expires = datetime.now(UTC) + timedelta(hours=1)

    def five(caller: int) -> list[int]:
        return [
            store.increment_counter("ng-1#window", member=f"event-{caller}-{n}", expires_at=expires)
            for n in range(5)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = [count for batch in pool.map(five, range(8)) for count in batch]

    assert sorted(counts) == list(range(1, 41))
    assert store.increment_counter("ng-1#window", member="event-40", expires_at=expires) == 41
    # The same notice again (a retry, a redelivery) is not counted twice.
    assert store.increment_counter("ng-1#window", member="event-0-0", expires_at=expires) == 41
    assert store.increment_counter("ng-2#window", member="event-0-0", expires_at=expires) == 1


def test_counter_past_its_window_starts_again(aws: None) -> None:
    store, _ = new_store()
    past = datetime.now(UTC) - timedelta(minutes=1)
    assert [store.increment_counter("k", member=m, expires_at=past) for m in "ab"] == [1, 1]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert [store.increment_counter("k", member=m, expires_at=future) for m in "ab"] == [1, 2]


def test_claim_once_has_exactly_one_winner(aws: None, serialized_backend: None) -> None:
    store, _ = new_store()
    expires = datetime.now(UTC) + timedelta(hours=1)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda n: store.claim_once("burst#ng-1", claimant=f"e{n}", expires_at=expires), range(8))
        )

    assert sorted(results) == [False] * 7 + [True]
    winner = f"e{results.index(True)}"
    # The winner's retry claims again (it must finish its alert); nobody else does.
    assert store.claim_once("burst#ng-1", claimant=winner, expires_at=expires) is True
    assert store.claim_once("burst#ng-1", claimant="e-late", expires_at=expires) is False
    assert store.claim_once("burst#ng-2", claimant="e0", expires_at=expires) is True
    # A claim whose window has ended (TTL deletes only eventually) no longer blocks.
    ended = datetime.now(UTC) - timedelta(seconds=1)
    assert store.claim_once("burst#old", claimant="e0", expires_at=ended) is True
    assert store.claim_once("burst#old", claimant="e1", expires_at=expires) is True
    assert store.claim_once("burst#old", claimant="e2", expires_at=expires) is False
