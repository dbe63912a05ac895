"""First-run baseline and daily digest (issue #15, Slack): what a Chatbot subscription with the template's
filter policy receives, against moto SNS and SQS subscriptions (RawMessageDelivery false)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from accounts import Topic, drain
from eks_auditor.model.check import Severity
from eks_auditor.notify import MAX_ATTRIBUTES, SLACK_FILTER_POLICY, Notifier, daily_digest
from eks_auditor.publish import Publisher
from eks_auditor.store import FindingStore
from table import T0, later, make_evaluation, make_finding


def kinds(envelopes: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted(
        (
            e["MessageAttributes"]["change"]["Value"],
            e["MessageAttributes"]["severity"]["Value"],
            e["MessageAttributes"]["delivery"]["Value"],
        )
        for e in envelopes
    )


def assert_attribute_limit(envelopes: list[dict[str, Any]]) -> None:
    assert envelopes
    assert all(len(e["MessageAttributes"]) <= MAX_ATTRIBUTES for e in envelopes)


HIGH = make_finding()
MEDIUM = make_finding("control_plane_logging_disabled", "cluster", severity=Severity.MEDIUM)
CRITICAL = make_finding("endpoint_nodes_blocked_by_cidrs", "cluster", severity=Severity.CRITICAL)


@pytest.mark.parametrize("baseline", [True, False])
def test_first_scan_is_a_baseline_for_slack_and_everything_for_the_queue(
    topic: Topic, store: FindingStore, baseline: bool
) -> None:
    notifier = Notifier(topic.arn, client=topic.sns, baseline=baseline)
    publisher = Publisher(store, notifier)
    everything = topic.subscribe("everything")
    slack = topic.subscribe("slack", SLACK_FILTER_POLICY)

    publisher.publish(store.apply_evaluation(make_evaluation([HIGH, MEDIUM])))
    first_everything, first_slack = drain(topic.sqs, everything), drain(topic.sqs, slack)
    publisher.publish(
        store.apply_evaluation(make_evaluation([HIGH, MEDIUM, CRITICAL], at=later(1), source="s2"))
    )
    second_everything, second_slack = drain(topic.sqs, everything), drain(topic.sqs, slack)

    if baseline:
        assert kinds(first_everything) == [
            ("DIGEST", "HIGH", "immediate"),
            ("OPENED", "HIGH", "baseline"),
            ("OPENED", "MEDIUM", "baseline"),
        ]
        [digest] = first_slack
        body = json.loads(digest["Message"])
        assert (
            body["content"]["title"] == "[HIGH] prod-a first scan found 2 open finding(s) (1 HIGH, 1 MEDIUM)"
        )
        assert json.loads(body["metadata"]["additionalContext"]["finding_ids"]) == [HIGH.id, MEDIUM.id]
    else:
        assert kinds(first_everything) == [("OPENED", "HIGH", "immediate"), ("OPENED", "MEDIUM", "immediate")]
        assert kinds(first_slack) == kinds(first_everything)
    # After the first scan, a new problem alerts Slack on its own, without a digest.
    assert kinds(second_everything) == kinds(second_slack) == [("OPENED", "CRITICAL", "immediate")]
    assert_attribute_limit(first_everything + second_everything)


def test_a_retry_of_the_first_scan_is_still_a_baseline(topic: Topic, store: FindingStore) -> None:
    publisher = Publisher(store, Notifier(topic.arn, client=topic.sns))
    slack = topic.subscribe("slack", SLACK_FILTER_POLICY)
    evaluation = make_evaluation([HIGH])
    store.apply_evaluation(evaluation)  # written; the Lambda dies before publishing

    changes = store.apply_evaluation(evaluation)  # the redelivered event

    assert [change.baseline for change in changes] == [True]
    publisher.publish(changes)
    assert [e["MessageAttributes"]["change"]["Value"] for e in drain(topic.sqs, slack)] == ["DIGEST"]


def test_a_check_run_for_the_first_time_on_a_known_cluster_is_a_baseline_too(store: FindingStore) -> None:
    for change in store.apply_evaluation(
        make_evaluation([HIGH], checks_run=("endpoint_public_unrestricted",))
    ):
        store.mark_notified(change)

    changes = store.apply_evaluation(
        make_evaluation([MEDIUM], at=later(1), source="s2", checks_run=("control_plane_logging_disabled",))
    )

    assert [(change.finding.check_id, change.baseline) for change in changes] == [
        ("control_plane_logging_disabled", True)
    ]


def test_daily_digest_defers_medium_and_lower_but_not_spot_notices(topic: Topic, store: FindingStore) -> None:
    notifier = Notifier(topic.arn, client=topic.sns, daily_digest=True)
    publisher = Publisher(store, notifier)
    everything = topic.subscribe("everything")
    slack = topic.subscribe("slack", SLACK_FILTER_POLICY)
    store.apply_evaluation(make_evaluation([]))  # a first scan with nothing: later openings alert
    spot = make_finding(
        "spot_interruption_notice",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
        severity=Severity.MEDIUM,
        expires_at=later(48),
    )

    publisher.publish(store.apply_evaluation(make_evaluation([HIGH, MEDIUM], at=later(1), source="s2")))
    publisher.publish(store.record_transient([spot]))

    delivery = {
        e["MessageAttributes"]["check_id"]["Value"]: e["MessageAttributes"]["delivery"]["Value"]
        for e in drain(topic.sqs, everything)
    }
    assert delivery == {
        "endpoint_public_unrestricted": "immediate",
        "control_plane_logging_disabled": "daily",
        "spot_interruption_notice": "immediate",
    }
    assert sorted(e["MessageAttributes"]["check_id"]["Value"] for e in drain(topic.sqs, slack)) == [
        "endpoint_public_unrestricted",
        "spot_interruption_notice",
    ]

    digest = daily_digest(store.open_findings("123456789012", "us-east-1", "prod-a"), at=later(24))
    assert digest is not None
    notifier.publish_digest(digest)
    [message] = drain(topic.sqs, slack)
    body = json.loads(message["Message"])
    assert body["content"]["title"] == "[MEDIUM] prod-a daily digest: 1 open finding(s) (1 MEDIUM)"
    assert json.loads(body["metadata"]["additionalContext"]["finding_ids"]) == [MEDIUM.id]
    assert message["MessageAttributes"]["change"]["Value"] == "DIGEST"
    assert_attribute_limit([message])


def test_no_daily_digest_without_open_medium_or_lower_findings() -> None:
    assert daily_digest([make_finding()], at=T0) is None


def test_a_held_audit_incomplete_finding_waits_out_of_the_daily_digest() -> None:
    incomplete = make_finding("audit_incomplete", "endpoint_public_unrestricted:arn", severity=Severity.INFO)
    assert daily_digest([incomplete.model_copy(update={"held": True})], at=T0) is None
    digest = daily_digest([incomplete], at=T0)
    assert digest is not None and [f.id for f in digest.findings] == [incomplete.id]


def test_a_digest_that_fails_to_publish_is_sent_by_the_retry(
    topic: Topic, store: FindingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = Notifier(topic.arn, client=topic.sns)
    publisher = Publisher(store, notifier)
    slack = topic.subscribe("slack", SLACK_FILTER_POLICY)
    evaluation = make_evaluation([HIGH, MEDIUM])

    def sns_down(digest: Any) -> str:
        raise ConnectionError("SNS unreachable")

    monkeypatch.setattr(notifier, "publish_digest", sns_down)
    with pytest.raises(ConnectionError):
        publisher.publish(store.apply_evaluation(evaluation))
    assert drain(topic.sqs, slack) == []
    monkeypatch.undo()

    # The baseline openings stayed in the outbox: the redelivered evaluation sends them, then the digest.
    retry = store.apply_evaluation(evaluation)
    assert sorted(change.finding.id for change in retry) == sorted([HIGH.id, MEDIUM.id])
    publisher.publish(retry)
    [digest] = drain(topic.sqs, slack)
    assert digest["MessageAttributes"]["change"]["Value"] == "DIGEST"
    assert store.apply_evaluation(evaluation) == []


def test_a_baseline_opening_superseded_before_its_digest_is_folded_and_left_out_of_it(
    topic: Topic, store: FindingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest sums up only the openings actually sent: the sequence check runs before each send."""
    notifier = Notifier(topic.arn, client=topic.sns)
    publisher = Publisher(store, notifier)
    everything = topic.subscribe("everything")

    def sns_down(digest: Any) -> str:
        raise ConnectionError("SNS unreachable")

    monkeypatch.setattr(notifier, "publish_digest", sns_down)
    with pytest.raises(ConnectionError):
        publisher.publish(store.apply_evaluation(make_evaluation([HIGH, MEDIUM])))
    monkeypatch.undo()
    drain(topic.sqs, everything)

    # An hour later HIGH is fixed: its baseline opening, still in the outbox (read before the RESOLVED was
    # written), is handed back too; the publisher finds it superseded and folds it.
    changes = store.apply_evaluation(make_evaluation([MEDIUM], at=later(1), source="s2"))
    assert sorted((c.kind.value, c.finding.id == HIGH.id, c.baseline) for c in changes) == [
        ("OPENED", False, True),
        ("OPENED", True, True),
        ("RESOLVED", True, False),
    ]
    publisher.publish(changes)

    delivered = drain(topic.sqs, everything)
    assert kinds(delivered) == [
        ("DIGEST", "MEDIUM", "immediate"),
        ("OPENED", "MEDIUM", "baseline"),
        ("RESOLVED", "HIGH", "immediate"),
    ]
    [digest] = [e for e in delivered if e["MessageAttributes"]["change"]["Value"] == "DIGEST"]
    assert json.loads(json.loads(digest["Message"])["metadata"]["additionalContext"]["finding_ids"]) == [
        MEDIUM.id
    ]
    assert store.pending_changes("123456789012", "us-east-1", "prod-a") == []
