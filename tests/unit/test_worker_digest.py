"""The worker's daily digest (issue #15, Slack) follows its cluster's audit on both worker paths: the
concurrent batch (audit_queued_batch) and the one-message fallback (audit_queued_cluster)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from eks_auditor.concurrency import Limiter
from eks_auditor.entrypoints import audit_queued_batch, audit_queued_cluster

ACCOUNT, REGION = "123456789012", "eu-west-1"


class NoAudits:
    """Stands in for the dispatcher: every audit finds nothing."""

    def handle(self, request: Any) -> list[Any]:
        return []


def body(cluster: str, **extra: Any) -> str:
    return json.dumps({"account": ACCOUNT, "region": REGION, "cluster": cluster, "scan_id": "s1", **extra})


def test_daily_messages_send_their_clusters_digest_in_the_batch_and_alone() -> None:
    sent: list[tuple[str, str, str]] = []

    def send_digest(account: str, region: str, cluster: str, *, at: datetime) -> str:
        sent.append((account, region, cluster))
        return f"digest-{cluster}"

    messages = [
        ("m1", body("daily", digest=True)),
        ("m2", body("plain")),
        ("m3", body("gone", digest=True, deleted=True)),  # a deleted cluster gets no digest
    ]
    outcomes = audit_queued_batch(messages, NoAudits(), Limiter(4, 2), send_digest=send_digest)  # type: ignore[arg-type]

    assert {message_id: attempt.error for message_id, attempt in outcomes.items()} == {
        "m1": None,
        "m2": None,
        "m3": None,
    }
    assert outcomes["m1"].value is not None and outcomes["m1"].value["digest"] == "digest-daily"
    assert outcomes["m2"].value is not None and "digest" not in outcomes["m2"].value
    assert sent == [(ACCOUNT, REGION, "daily")]

    alone = audit_queued_cluster(body("daily", digest=True), NoAudits(), send_digest=send_digest)  # type: ignore[arg-type]
    assert alone["digest"] == "digest-daily"
