"""Notifier against moto SNS, read back as a subscriber would: SQS subscriptions, RawMessageDelivery false."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from accounts import Topic, drain
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status
from eks_auditor.notify import MAX_MESSAGE_BYTES, Notifier, render
from eks_auditor.store import FindingStore, change_id
from table import T0, later, make_evaluation, make_finding

ENDPOINT = "endpoint_public_unrestricted"
TITLE = "[HIGH] OPENED endpoint_public_unrestricted on prod-a: endpoint_public_unrestricted fails"


@dataclass
class World:
    notifier: Notifier
    store: FindingStore
    sqs: Any
    everything: str  # queue URL, no filter
    urgent: str  # queue URL, FilterPolicy severity in (CRITICAL, HIGH)


@pytest.fixture
def world(topic: Topic, store: FindingStore) -> World:
    return World(
        notifier=Notifier(topic.arn, client=topic.sns),
        store=store,
        sqs=topic.sqs,
        everything=topic.subscribe("everything"),
        urgent=topic.subscribe("urgent", {"severity": ["CRITICAL", "HIGH"]}),
    )


received = drain  # (sqs, queue URL) -> every SNS envelope waiting, deleted as read


def opened(finding: Finding | None = None) -> StateChange:
    finding = finding or make_finding()
    return StateChange(
        change_id=change_id(finding.id, ChangeKind.OPENED, T0),
        kind=ChangeKind.OPENED,
        finding=finding,
        changed_at=T0,
    )


def handle(world: World, changes: list[StateChange]) -> None:
    """What the handlers do with apply_evaluation's result."""
    for change in changes:
        world.notifier.publish(change)
        world.store.mark_notified(change)


def test_render_follows_the_chatbot_custom_notification_schema() -> None:
    change = opened()
    finding = change.finding

    body = render(change)

    assert body == {
        "version": "1.0",
        "source": "custom",
        "id": change.change_id,
        "content": {
            "textType": "client-markdown",
            "title": TITLE,
            "description": body["content"]["description"],
            "nextSteps": [
                "1. Restrict publicAccessCidrs.",
                "2. Or turn the public endpoint off.",
                "Docs: https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html",
            ],
            "keywords": ["HIGH", "OPENED", ENDPOINT, "prod-a"],
        },
        "metadata": {
            "threadId": finding.id,
            "summary": TITLE,
            "eventType": "OPENED",
            "relatedResources": [finding.cluster_arn],  # the resource is the cluster itself: listed once
            "additionalContext": {
                "finding": body["metadata"]["additionalContext"]["finding"],
                "change_id": change.change_id,
                "change": "OPENED",
                "changed_at": "2025-03-01T12:00:00+00:00",
            },
        },
    }
    # The title says what broke: the description does not say it again.
    assert body["content"]["description"].splitlines() == [
        finding.description,
        f"Resource: `{finding.resource}` · account 123456789012 · region us-east-1",
        "Evidence:",
        '• `publicAccessCidrs`: ["0.0.0.0/0"]',
        f"Finding `{finding.id}` · source `scan-1`",
    ]
    # Chatbot wants string values in additionalContext: the finding travels as JSON text.
    assert Finding.model_validate_json(body["metadata"]["additionalContext"]["finding"]) == finding


def test_render_says_what_changed() -> None:
    finding = make_finding(severity=Severity.CRITICAL)
    severity = StateChange(
        change_id="c1",
        kind=ChangeKind.SEVERITY_CHANGED,
        finding=finding,
        previous_status=Status.OPEN,
        previous_severity=Severity.HIGH,
        changed_at=later(1),
    )
    resolved_finding = finding.model_copy(update={"status": Status.RESOLVED, "resolved_at": later(2)})
    resolved = StateChange(
        change_id="c2",
        kind=ChangeKind.RESOLVED,
        finding=resolved_finding,
        previous_status=Status.OPEN,
        previous_severity=Severity.CRITICAL,
        changed_at=later(2),
        reason="the cluster was deleted",
    )

    severity_body = render(severity)
    resolved_body = render(resolved)

    assert severity_body["content"]["title"] == (
        "[CRITICAL] SEVERITY_CHANGED endpoint_public_unrestricted on prod-a: HIGH -> CRITICAL"
    )
    assert severity_body["metadata"]["additionalContext"]["previous_severity"] == "HIGH"
    assert resolved_body["content"]["title"] == (
        "[CRITICAL] RESOLVED endpoint_public_unrestricted on prod-a: no longer failing"
    )
    assert resolved_body["content"]["description"].startswith(
        "*Resolved* (the cluster was deleted; evaluation `scan-1` at 2025-03-01T14:00:00+00:00): "
        f"{finding.title}."
    )
    assert resolved_body["content"]["nextSteps"] == [
        "Nothing to do: the finding is resolved. Its history stays in the findings table."
    ]
    assert resolved_body["metadata"]["additionalContext"]["previous_status"] == "OPEN"


def test_published_message_carries_body_attributes_and_subject(world: World) -> None:
    change = opened()

    message_id = world.notifier.publish(change)

    [envelope] = received(world.sqs, world.everything)
    assert envelope["MessageId"] == message_id
    assert envelope["Subject"] == TITLE  # within SNS's 100 characters
    assert json.loads(envelope["Message"]) == render(change)
    assert {
        name: (value["Type"], value["Value"]) for name, value in envelope["MessageAttributes"].items()
    } == {
        "severity": ("String", "HIGH"),
        "status": ("String", "OPEN"),
        "check_id": ("String", ENDPOINT),
        "cluster": ("String", "prod-a"),
        "account": ("String", "123456789012"),
        "region": ("String", "us-east-1"),
        "change": ("String", "OPENED"),
        "change_id": ("String", change.change_id),
        "delivery": ("String", "immediate"),
        "controls": ("String.Array", '["cis-eks-1.7:5.4.1", "cis-eks-1.7:5.4.2", "fsbp:EKS.1"]'),
    }


def test_one_message_per_change_none_when_nothing_changed_and_filter_policy(world: World) -> None:
    high = make_finding()
    medium = make_finding("control_plane_logging_disabled", "cluster", severity=Severity.MEDIUM)

    handle(world, world.store.apply_evaluation(make_evaluation([high, medium])))
    first = received(world.sqs, world.everything)
    first_urgent = received(world.sqs, world.urgent)
    handle(world, world.store.apply_evaluation(make_evaluation([high, medium], at=later(1), source="scan-2")))
    unchanged = received(world.sqs, world.everything)
    handle(world, world.store.apply_evaluation(make_evaluation([medium], at=later(2), source="scan-3")))
    fixed = received(world.sqs, world.everything)

    assert sorted(
        (e["MessageAttributes"]["change"]["Value"], e["MessageAttributes"]["severity"]["Value"])
        for e in first
    ) == [
        ("OPENED", "HIGH"),
        ("OPENED", "MEDIUM"),
    ]
    assert [e["MessageAttributes"]["severity"]["Value"] for e in first_urgent] == ["HIGH"]
    assert unchanged == []
    assert [
        (e["MessageAttributes"]["change"]["Value"], e["MessageAttributes"]["status"]["Value"]) for e in fixed
    ] == [("RESOLVED", "RESOLVED")]
    assert [e["MessageAttributes"]["severity"]["Value"] for e in received(world.sqs, world.urgent)] == [
        "HIGH"
    ]


def test_a_crash_before_publish_is_published_once_on_retry(world: World) -> None:
    evaluation = make_evaluation([make_finding()])
    world.store.apply_evaluation(evaluation)  # written; the Lambda dies before publishing
    assert received(world.sqs, world.everything) == []

    handle(world, world.store.apply_evaluation(evaluation))  # the redelivered event
    handle(world, world.store.apply_evaluation(evaluation))  # and once more: nothing left to send

    [envelope] = received(world.sqs, world.everything)
    assert envelope["MessageAttributes"]["change"]["Value"] == "OPENED"


def test_oversized_evidence_is_dropped_from_the_message(world: World) -> None:
    huge = make_finding(evidence={"subnets": [f"subnet-{i:06d}" for i in range(30_000)]})
    change = opened(huge)

    world.notifier.publish(change)

    [envelope] = received(world.sqs, world.everything)
    assert len(envelope["Message"].encode()) <= MAX_MESSAGE_BYTES
    body = json.loads(envelope["Message"])
    carried = json.loads(body["metadata"]["additionalContext"]["finding"])
    assert carried["evidence"]["truncated"] is True
    assert carried["id"] == huge.id
    assert "• ... " not in body["content"]["description"]  # one key: shown, its value cut short
    assert body["content"]["description"].count("...") == 1


def test_unknown_cluster_arn_is_left_out_of_related_resources() -> None:
    finding = make_finding("spot_interruption_notice", "arn:aws:ec2:us-east-1:123456789012:instance/i-1")
    change = opened(finding.model_copy(update={"cluster_arn": ""}))

    assert render(change)["metadata"]["relatedResources"] == [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
    ]


def test_titles_name_the_account_in_organization_mode(topic: Topic, store: FindingStore) -> None:
    names = {"123456789012": "payments-prod"}
    notifier = Notifier(topic.arn, client=topic.sns, account_name=names.get)
    url = topic.subscribe("named")
    notifier.publish(opened())
    [envelope] = received(topic.sqs, url)
    content = json.loads(envelope["Message"])["content"]
    assert content["title"] == TITLE.replace("on prod-a:", "on prod-a (payments-prod):")
    assert envelope["Subject"].startswith(
        "[HIGH] OPENED endpoint_public_unrestricted on prod-a (payments-prod)"
    )
    # Digests too (the first-run baseline of a cluster).
    from eks_auditor.notify import Digest

    digest = Digest("baseline", [make_finding()], at=T0)
    notifier.publish_digest(digest)
    [envelope] = received(topic.sqs, url)
    assert json.loads(envelope["Message"])["content"]["title"].startswith(
        "[HIGH] prod-a (payments-prod) first scan"
    )
    # An account the directory cannot name keeps the plain title.
    assert (
        Notifier(topic.arn, client=topic.sns, account_name=lambda _: None).render(opened())["content"][
            "title"
        ]
        == TITLE
    )
