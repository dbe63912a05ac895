"""Suppressions end to end: add, evaluate (silenced, no alert), expire, reopen (alert), under moto.

Alerts are read back as subscribers get them: SQS queues subscribed to the SNS topic with the filter
policies docs/notifications.md documents (HIGH and CRITICAL to Slack, everything to the security queue).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from accounts import Topic, drain
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, StateChange, Status
from eks_auditor.notify import SLACK_FILTER_POLICY, Notifier, render
from eks_auditor.store import FindingQuery, FindingStore
from eks_auditor.suppressions import Suppression, alerts
from table import T0, CallCounter, later, make_evaluation, make_finding

ENDPOINT = "endpoint_public_unrestricted"
LOGGING = "control_plane_logging_disabled"


def documented_slack_policy(repo_root: Any) -> dict[str, Any]:
    text = (repo_root / "docs" / "notifications.md").read_text()
    policy: dict[str, Any] = json.loads(re.findall(r"```json\n(.*?)\n```", text, re.S)[0])
    assert policy == SLACK_FILTER_POLICY  # the documented policy is the one the template sets
    return policy


@dataclass
class World:
    store: FindingStore
    notifier: Notifier
    sqs: Any
    slack: str
    everything: str
    dynamodb: Any

    def deliver(self, changes: list[StateChange]) -> None:
        """What Auditor.publish does: publish each change, then mark it notified."""
        for change in changes:
            self.notifier.publish(change)
            self.store.mark_notified(change)

    def received(self, url: str) -> list[tuple[str, str]]:
        return [
            (
                envelope["MessageAttributes"]["change"]["Value"],
                envelope["MessageAttributes"]["severity"]["Value"],
            )
            for envelope in drain(self.sqs, url)
        ]


@pytest.fixture
def world(repo_root: Any, topic: Topic, store: FindingStore, dynamodb: Any) -> World:
    return World(
        store=store,
        # No first-run baseline: the first scan's openings alert, as every later change does.
        notifier=Notifier(topic.arn, client=topic.sns, baseline=False),
        sqs=topic.sqs,
        slack=topic.subscribe("slack", documented_slack_policy(repo_root)),
        everything=topic.subscribe("security-team"),
        dynamodb=dynamodb,
    )


def suppression(**fields: Any) -> Suppression:
    base: dict[str, Any] = {
        "id": "sup-endpoint",
        "check_id": ENDPOINT,
        "cluster": "prod-*",
        "reason": "public endpoint needed until the VPN lands",
        "author": "alice@example.com",
        "created_at": later(1),
        "expires_at": later(24),
    }
    base.update(fields)
    return Suppression.model_validate(base)


def kinds(changes: list[StateChange]) -> list[tuple[ChangeKind, Status, bool]]:
    return [(c.kind, c.finding.status, alerts(c)) for c in changes]


def test_add_evaluate_expire_reopen(world: World) -> None:
    finding = make_finding(ENDPOINT, "arn-a")
    world.deliver(world.store.apply_evaluation(make_evaluation([finding])))
    assert world.received(world.slack) == [("OPENED", "HIGH")]
    assert world.received(world.everything) == [("OPENED", "HIGH")]

    world.store.put_suppression(suppression())
    calls = CallCounter(world.dynamodb)
    changes = world.store.apply_evaluation(make_evaluation([finding], at=later(2), source="scan-2"))
    assert calls["Scan"] == 0
    calls.detach()
    assert kinds(changes) == [(ChangeKind.SUPPRESSED, Status.SUPPRESSED, False)]
    assert changes[0].reason == (
        "suppression sup-endpoint (check endpoint_public_unrestricted, cluster prod-*) by alice@example.com "
        "until 2025-03-02T12:00:00Z: public endpoint needed until the VPN lands"
    )
    world.deliver(changes)
    assert world.received(world.slack) == []  # no alert, on any subscription
    assert world.received(world.everything) == []
    assert world.store.get(finding.id).status is Status.SUPPRESSED  # type: ignore[union-attr]
    suppressed = world.store.query(FindingQuery(status=Status.SUPPRESSED))
    assert [f.id for f in suppressed.items] == [finding.id]
    assert world.store.query(FindingQuery(status=Status.OPEN)).items == []

    # Still evaluated while suppressed: no change, no alert.
    assert world.store.apply_evaluation(make_evaluation([finding], at=later(12), source="scan-3")) == []

    # Expired: the next evaluation reopens it, and that alerts.
    changes = world.store.apply_evaluation(make_evaluation([finding], at=later(25), source="scan-4"))
    assert kinds(changes) == [(ChangeKind.UNSUPPRESSED, Status.OPEN, True)]
    assert changes[0].reason == f"expired: {suppression().describe()}"
    body = render(changes[0])
    assert body["content"]["title"] == (
        "[HIGH] UNSUPPRESSED endpoint_public_unrestricted on prod-a: suppression ended, still failing"
    )
    assert body["content"]["description"].splitlines()[0] == (
        f"{finding.title} (expired: {suppression().describe()}); first seen 2025-03-01T12:00:00+00:00."
    )
    assert body["metadata"]["threadId"] == finding.id  # the same Slack thread as the opening
    world.deliver(changes)
    assert world.received(world.slack) == [("UNSUPPRESSED", "HIGH")]
    assert world.received(world.everything) == [("UNSUPPRESSED", "HIGH")]

    assert [(e.kind, e.new_status, e.source) for e in world.store.history(finding.id)] == [
        (ChangeKind.OPENED, Status.OPEN, "scan-1"),
        (ChangeKind.SUPPRESSED, Status.SUPPRESSED, "scan-2"),
        (ChangeKind.UNSUPPRESSED, Status.OPEN, "scan-4"),
    ]
    stored = world.store.get(finding.id)
    assert stored is not None and (stored.status, stored.first_seen) == (Status.OPEN, T0)


def test_a_new_finding_under_a_suppression_is_born_suppressed(world: World) -> None:
    world.store.put_suppression(suppression(created_at=T0 - timedelta(days=1)))
    changes = world.store.apply_evaluation(make_evaluation([make_finding(ENDPOINT, "arn-a")]))
    assert kinds(changes) == [(ChangeKind.SUPPRESSED, Status.SUPPRESSED, False)]
    assert changes[0].previous_status is None
    world.deliver(changes)
    assert world.received(world.everything) == []


def test_removing_the_suppression_reopens_and_says_so(world: World) -> None:
    finding = make_finding(ENDPOINT, "arn-a")
    world.store.put_suppression(suppression(created_at=T0 - timedelta(days=1)))
    world.deliver(world.store.apply_evaluation(make_evaluation([finding])))
    assert world.store.delete_suppression("sup-endpoint")
    assert not world.store.delete_suppression("sup-endpoint")

    changes = world.store.apply_evaluation(make_evaluation([finding], at=later(1), source="scan-2"))
    assert kinds(changes) == [(ChangeKind.UNSUPPRESSED, Status.OPEN, True)]
    assert changes[0].reason == "no suppression covers it any more (removed)"


def test_a_fixed_suppressed_finding_resolves_silently(world: World) -> None:
    finding = make_finding(ENDPOINT, "arn-a")
    world.store.put_suppression(suppression(created_at=T0 - timedelta(days=1)))
    world.deliver(world.store.apply_evaluation(make_evaluation([finding])))

    changes = world.store.apply_evaluation(make_evaluation([], at=later(2), source="scan-2"))
    assert kinds(changes) == [(ChangeKind.RESOLVED, Status.RESOLVED, False)]
    assert changes[0].previous_status is Status.SUPPRESSED
    assert world.notifier.publish(changes[0]) is None  # resolving an accepted risk is not alerted either
    world.deliver(changes)
    assert world.received(world.everything) == []
    description = render(changes[0])["content"]["description"].splitlines()
    assert description[description.index("Was failing with:") + 1] == '• `publicAccessCidrs`: ["0.0.0.0/0"]'
    # Failing again later while still suppressed: suppressed again, not reopened with an alert.
    changes = world.store.apply_evaluation(make_evaluation([finding], at=later(3), source="scan-3"))
    assert kinds(changes) == [(ChangeKind.SUPPRESSED, Status.SUPPRESSED, False)]


def test_suppression_scope_leaves_other_findings_alone(world: World) -> None:
    world.store.put_suppression(
        suppression(cluster="prod-*", resource=r"arn-a\d", created_at=T0 - timedelta(days=1))
    )
    covered = make_finding(ENDPOINT, "arn-a1")
    other_resource = make_finding(ENDPOINT, "arn-b1")
    other_check = make_finding(LOGGING, "arn-a1", severity=Severity.MEDIUM)
    other_cluster = make_finding(ENDPOINT, "arn-a1", cluster="dev-a")
    changes = world.store.apply_evaluation(make_evaluation([covered, other_resource, other_check]))
    changes += world.store.apply_evaluation(make_evaluation([other_cluster], cluster="dev-a"))
    got = {(c.finding.cluster, c.finding.check_id, c.finding.resource): c.kind for c in changes}
    assert got == {
        ("prod-a", ENDPOINT, "arn-a1"): ChangeKind.SUPPRESSED,
        ("prod-a", ENDPOINT, "arn-b1"): ChangeKind.OPENED,
        ("prod-a", LOGGING, "arn-a1"): ChangeKind.OPENED,
        ("dev-a", ENDPOINT, "arn-a1"): ChangeKind.OPENED,
    }
    world.deliver(changes)
    # The Slack policy filters on baseline and delivery, not severity: the suppressed one alone is missing.
    assert sorted(world.received(world.slack)) == [
        ("OPENED", "HIGH"),
        ("OPENED", "HIGH"),
        ("OPENED", "MEDIUM"),
    ]
    assert sorted(world.received(world.everything)) == [
        ("OPENED", "HIGH"),
        ("OPENED", "HIGH"),
        ("OPENED", "MEDIUM"),
    ]


def test_suppression_items_stay_out_of_the_finding_indexes(world: World) -> None:
    world.store.put_suppression(suppression())
    assert world.store.query(FindingQuery(status=None, check_id=ENDPOINT)).items == []
    assert world.store.query(FindingQuery(status=None)).items == []
    assert [s.id for s in world.store.suppressions()] == ["sup-endpoint"]
    with pytest.raises(world.dynamodb.exceptions.ConditionalCheckFailedException):
        world.store.put_suppression(suppression())  # ids are unique
