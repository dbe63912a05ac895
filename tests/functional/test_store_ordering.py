"""Order and freshness: a per-finding sequence keeps an older change from being sent after a newer one, and
per-check freshness keeps what an overtaking evaluation did not re-check."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from accounts import Topic, drain
from botocore.exceptions import ClientError
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, Status
from eks_auditor.notify import Notifier
from eks_auditor.publish import Publisher
from eks_auditor.store import FindingStore
from table import ACCOUNT, CLUSTER, REGION, T0, later, make_evaluation, make_finding

ENDPOINT = "endpoint_public_unrestricted"
LOGGING = "control_plane_logging_disabled"


def sent(sqs: Any, url: str) -> list[tuple[str, str, int]]:
    """(change, status, sequence) of every finding change delivered, from the message body's finding JSON.

    The first-run baseline digest that follows a cluster's first openings carries no finding: left out."""
    out = []
    for envelope in drain(sqs, url):
        body = json.loads(envelope["Message"])
        if body["metadata"]["eventType"] == "DIGEST":
            continue
        finding = json.loads(body["metadata"]["additionalContext"]["finding"])
        out.append((body["metadata"]["eventType"], finding["status"], finding["sequence"]))
    return out


def fail_publish(notifier: Notifier) -> Any:
    def throttle(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Publish")

    notifier.client.meta.events.register("before-call.sns.Publish", throttle)
    return lambda: notifier.client.meta.events.unregister("before-call.sns.Publish", throttle)


@pytest.fixture
def pipeline(topic: Topic, store: FindingStore) -> tuple[FindingStore, Publisher, Notifier, str]:
    notifier = Notifier(topic.arn, client=topic.sns)
    url = topic.subscribe("slack")
    return store, Publisher(store, notifier), notifier, url


def test_failed_reopened_is_never_sent_after_the_resolved_that_followed(
    pipeline: tuple[FindingStore, Publisher, Notifier, str], topic: Topic
) -> None:
    store, publisher, notifier, url = pipeline
    finding = make_finding()
    publisher.publish(store.apply_evaluation(make_evaluation([finding])))
    publisher.publish(store.apply_evaluation(make_evaluation([], at=later(1), source="scan-2")))

    reopen = make_evaluation([finding], at=later(2), source="event-3")
    restore = fail_publish(notifier)
    [reopened] = store.apply_evaluation(reopen)
    with pytest.raises(ClientError):
        publisher.publish([reopened])
    restore()
    [resolved] = store.apply_evaluation(make_evaluation([], at=later(2, 2), source="event-4"))
    publisher.publish([resolved])

    # 31 minutes later the REOPENED's retry arrives (the handler retried, and the outbox of a later scan).
    publisher.publish(store.apply_evaluation(reopen))
    publisher.publish([reopened])
    publisher.publish(store.apply_evaluation(make_evaluation([], at=later(2, 31), source="scan-5")))

    assert (reopened.kind, reopened.finding.sequence, resolved.finding.sequence) == (
        ChangeKind.REOPENED,
        3,
        4,
    )
    messages = sent(topic.sqs, url)
    assert messages == [("OPENED", "OPEN", 1), ("RESOLVED", "RESOLVED", 2), ("RESOLVED", "RESOLVED", 4)]
    stored = store.get(finding.id)
    assert stored is not None and (stored.status.value, stored.sequence) == messages[-1][1:]
    assert store.pending_changes(ACCOUNT, REGION, CLUSTER) == []


def test_an_older_pending_change_due_in_the_outbox_is_folded_not_sent(
    pipeline: tuple[FindingStore, Publisher, Notifier, str], topic: Topic
) -> None:
    store, publisher, _, url = pipeline
    finding = make_finding()
    [opened] = store.apply_evaluation(make_evaluation([finding]))  # the handler dies: never published
    [resolved] = store.apply_evaluation(make_evaluation([], at=later(1), source="scan-2"))[:1]

    assert resolved.kind is ChangeKind.RESOLVED
    publisher.publish([resolved])
    # The next writer past the grace finds the OPENED: superseded, folded, never sent.
    assert store.apply_evaluation(make_evaluation([], at=later(2), source="scan-3")) == []
    assert sent(topic.sqs, url) == [("RESOLVED", "RESOLVED", 2)]
    assert store.pending_changes(ACCOUNT, REGION, CLUSTER) == []
    assert opened.finding.sequence == 1


def test_quiet_refresh_keeps_the_sequence(store: FindingStore) -> None:
    finding = make_finding()
    store.apply_evaluation(make_evaluation([finding]))
    store.apply_evaluation(make_evaluation([finding], at=later(30), source="scan-2"))  # heartbeat only
    [severity, _opened_unpublished] = store.apply_evaluation(
        make_evaluation([make_finding(severity=Severity.CRITICAL)], at=later(31), source="s3")
    )
    assert (severity.kind, severity.finding.sequence) == (ChangeKind.SEVERITY_CHANGED, 2)


def test_scan_overtaken_by_an_event_audit_keeps_the_checks_it_did_not_recheck(store: FindingStore) -> None:
    endpoint, logging_off = make_finding(), make_finding(LOGGING, "cluster")
    # The event audit (started later, T0 + 1 min) re-checks only the endpoint and writes first.
    event = make_evaluation([], at=T0 + timedelta(minutes=1), source="event-1", checks_run=(ENDPOINT,))
    store.apply_evaluation(event)
    scan = make_evaluation([endpoint, logging_off], source="scan-1")

    changes = store.apply_evaluation(scan)

    assert [(c.kind, c.finding.check_id) for c in changes] == [(ChangeKind.OPENED, LOGGING)]
    assert store.get(logging_off.id) is not None
    assert store.get(endpoint.id) is None  # the newer event audit's PASS stands


def test_event_audit_after_the_scan_overrides_only_its_own_checks(store: FindingStore) -> None:
    endpoint, logging_off = make_finding(), make_finding(LOGGING, "cluster")
    store.apply_evaluation(make_evaluation([endpoint, logging_off], source="scan-1"))

    event = make_evaluation([], at=T0 + timedelta(minutes=1), source="event-1", checks_run=(ENDPOINT,))
    changes = store.apply_evaluation(event)

    assert [(c.kind, c.finding.check_id) for c in changes] == [(ChangeKind.RESOLVED, ENDPOINT)]
    kept = store.get(logging_off.id)
    assert kept is not None and kept.status is Status.OPEN


def test_scan_overtaken_on_every_check_writes_nothing(store: FindingStore) -> None:
    store.apply_evaluation(make_evaluation([], at=T0 + timedelta(minutes=1), source="event-1"))
    assert store.apply_evaluation(make_evaluation([make_finding()], source="scan-1")) == []
    assert store.get(make_finding().id) is None
