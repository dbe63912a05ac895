"""A batch of evaluations (one Lambda invocation) reads the suppressions once, not once per cluster."""

from __future__ import annotations

from typing import Any

from eks_auditor.model.finding import ChangeKind
from eks_auditor.store import FindingStore
from eks_auditor.suppressions import Suppression
from table import T0, TABLE, CallCounter, later, make_evaluation, make_finding


def test_one_suppressions_query_per_batch_and_put_refreshes_it(client: Any) -> None:
    store = FindingStore(TABLE, client=client)
    store.start_batch()
    calls = CallCounter(client)
    for cluster in ("a", "b", "c"):
        store.apply_evaluation(make_evaluation([make_finding(cluster=cluster)], cluster=cluster))
    # One Query per cluster partition, one for the suppressions.
    assert calls.calls["Query"] == 4

    store.put_suppression(
        Suppression(
            check_id="endpoint_public_unrestricted",
            cluster="a",
            reason="accepted",
            author="alice",
            created_at=T0,
            expires_at=later(100),
        )
    )
    changes = store.apply_evaluation(
        make_evaluation([make_finding(cluster="a")], cluster="a", at=later(1), source="s2")
    )
    # The suppression added in this batch is seen at once.
    assert [c.kind for c in changes if c.kind is ChangeKind.SUPPRESSED] == [ChangeKind.SUPPRESSED]


def test_without_a_batch_every_evaluation_reads_the_current_suppressions(client: Any) -> None:
    store = FindingStore(TABLE, client=client)
    calls = CallCounter(client)
    for cluster in ("a", "b"):
        store.apply_evaluation(make_evaluation([make_finding(cluster=cluster)], cluster=cluster))
    assert calls.calls["Query"] == 4
