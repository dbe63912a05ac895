"""Deploy parameters and the conditional subscriptions of the findings topic (issue #15, item 9)."""

from __future__ import annotations

from typing import Any

import pytest
from eks_auditor.notify import SLACK_FILTER_POLICY
from template_helpers import raw_template, resolve, transformed

SUBSCRIPTIONS = ("AlertEmailSubscription", "ChatbotSlackSubscription", "SecurityQueueSubscription")
QUEUE = "arn:aws:sqs:eu-west-1:123456789012:security-team"


def test_every_parameter_is_described_and_constrained() -> None:
    for name, spec in raw_template()["Parameters"].items():
        assert spec.get("Description"), name
        constrained = {"AllowedValues", "AllowedPattern", "MinValue"} & set(spec)
        assert constrained, f"{name} accepts anything"
        if "AllowedPattern" in spec or "MinValue" in spec:
            assert spec.get("ConstraintDescription"), name


def test_audit_regions_must_be_answered() -> None:
    assert "Default" not in raw_template()["Parameters"]["AuditRegions"]


@pytest.mark.parametrize(
    ("overrides", "present"),
    [
        ({}, set()),
        ({"AlertEmail": "sre@example.com"}, {"AlertEmailSubscription"}),
        ({"ChatbotSubscription": "true"}, {"ChatbotSlackSubscription"}),
        ({"SecurityQueueArn": QUEUE}, {"SecurityQueueSubscription"}),
    ],
)
def test_subscriptions_exist_only_when_asked_for(overrides: dict[str, str], present: set[str]) -> None:
    resources = resolve(transformed(), overrides)["Resources"]
    assert {name for name in SUBSCRIPTIONS if name in resources} == present


def test_people_get_the_slack_filter_policy_and_the_queue_gets_everything_raw() -> None:
    resources: dict[str, Any] = resolve(
        transformed(),
        {"AlertEmail": "sre@example.com", "ChatbotSubscription": "true", "SecurityQueueArn": QUEUE},
    )["Resources"]
    for name in ("AlertEmailSubscription", "ChatbotSlackSubscription"):
        assert resources[name]["Properties"]["FilterPolicy"] == SLACK_FILTER_POLICY
    queue = resources["SecurityQueueSubscription"]["Properties"]
    assert "FilterPolicy" not in queue
    assert queue["RawMessageDelivery"] is True
    assert queue["Endpoint"] == QUEUE


@pytest.mark.parametrize(("daily", "state"), [("false", "DISABLED"), ("true", "ENABLED")])
def test_daily_digest_schedule_follows_the_parameter(daily: str, state: str) -> None:
    resources = resolve(transformed(), {"DailyDigest": daily})["Resources"]
    [schedule] = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Scheduler::Schedule"
        and "daily digest" in r["Properties"].get("Description", "")
    ]
    assert schedule["State"] == state
    assert '"digest": "daily"' in str(schedule["Target"]["Input"])
