"""The outbox: a change stays pending until mark_notified, and apply_evaluation hands it out again."""

from __future__ import annotations

from datetime import timedelta

from eks_auditor.model.finding import ChangeKind
from eks_auditor.store import FindingStore
from table import ACCOUNT, CLUSTER, REGION, T0, later, make_evaluation, make_finding


def test_retry_after_a_crash_between_write_and_publish(store: FindingStore) -> None:
    evaluation = make_evaluation([make_finding()])
    [written] = store.apply_evaluation(evaluation)
    # The handler dies here: written, never published, never marked.
    assert store.pending_changes(ACCOUNT, REGION, CLUSTER) == [written]

    # The retry (the same evaluation, redelivered) finds no new change but returns the pending one.
    [retried] = store.apply_evaluation(evaluation)
    assert retried == written
    store.mark_notified(retried)

    assert store.pending_changes(ACCOUNT, REGION, CLUSTER) == []
    assert store.apply_evaluation(evaluation) == []
    assert store.apply_evaluation(make_evaluation([make_finding()], at=later(1), source="scan-2")) == []


def test_later_evaluation_returns_old_pending_after_new_changes(store: FindingStore) -> None:
    endpoint = make_finding()
    [lost] = store.apply_evaluation(make_evaluation([endpoint]))
    logging_off = make_finding("control_plane_logging_disabled", "cluster")

    changes = store.apply_evaluation(make_evaluation([endpoint, logging_off], at=later(1), source="scan-2"))

    assert [(c.kind, c.finding.check_id) for c in changes] == [
        (ChangeKind.OPENED, "control_plane_logging_disabled"),
        (ChangeKind.OPENED, "endpoint_public_unrestricted"),
    ]
    assert changes[1] == lost


def test_pending_changes_of_a_live_concurrent_handler_are_not_returned(store: FindingStore) -> None:
    # Within the grace period, another evaluation's pending change most likely has a live handler
    # about to publish it.
    [pending] = store.apply_evaluation(make_evaluation([make_finding()]))

    assert store.apply_evaluation(make_evaluation([make_finding()], at=T0 + timedelta(minutes=1))) == []
    assert store.pending_changes(ACCOUNT, REGION, CLUSTER) == [pending]


def test_several_pending_changes_of_one_finding_are_all_kept(store: FindingStore) -> None:
    finding = make_finding()
    [opened] = store.apply_evaluation(make_evaluation([finding]))
    resolved = [c for c in store.apply_evaluation(make_evaluation([], at=later(1))) if c != opened]

    assert [c.kind for c in resolved] == [ChangeKind.RESOLVED]
    assert store.pending_changes(ACCOUNT, REGION, CLUSTER) == [opened, resolved[0]]
    store.mark_notified(opened)
    store.mark_notified(opened)  # a second mark is a no-op
    assert store.pending_changes(ACCOUNT, REGION, CLUSTER) == resolved
