"""Parsing EC2 spot interruption warnings and rebalance recommendations (shapes from the EC2 user guide
and aws-node-termination-handler's sources)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from eks_auditor.spot.events import (
    InstanceAction,
    SignalKind,
    SpotEventError,
    SpotSignal,
    parse_spot_event,
)

WARNING: dict[str, Any] = {
    "version": "0",
    "id": "1e5527d7-bb36-4607-3370-4164db56a40e",
    "detail-type": "EC2 Spot Instance Interruption Warning",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2024-05-01T12:00:00Z",
    "region": "us-east-1",
    # As aws-node-termination-handler documents it: the AZ sits in the ARN's region slot, no account.
    "resources": ["arn:aws:ec2:us-east-1b:instance/i-0b662ef9931388ba0"],
    "detail": {"instance-id": "i-0b662ef9931388ba0", "instance-action": "terminate"},
}
REBALANCE: dict[str, Any] = {
    "version": "0",
    "id": "5d5555d5-dd55-5555-5555-5555dd55d55d",
    "detail-type": "EC2 Instance Rebalance Recommendation",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2020-10-26T14:14:14Z",
    "region": "us-east-2",
    "resources": ["arn:aws:ec2:us-east-2:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0"},
}


def patched(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(base)
    for key, value in changes.items():
        event[key.replace("_", "-")] = value
    return event


def with_detail(base: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(base)
    event["detail"] = detail
    return event


def test_interruption_warning_has_deadline_two_minutes_after_the_event() -> None:
    assert parse_spot_event(WARNING) == SpotSignal(
        event_id="1e5527d7-bb36-4607-3370-4164db56a40e",
        kind=SignalKind.INTERRUPTION_WARNING,
        instance_id="i-0b662ef9931388ba0",
        action=InstanceAction.TERMINATE,
        time=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        deadline=datetime(2024, 5, 1, 12, 2, tzinfo=UTC),
        account="123456789012",
        region="us-east-1",
    )


def test_region_comes_from_the_envelope_not_the_arn() -> None:
    signal = parse_spot_event(WARNING)
    assert signal.region == "us-east-1"
    assert signal.instance_arn == "arn:aws:ec2:us-east-1:123456789012:instance/i-0b662ef9931388ba0"


def test_rebalance_recommendation_has_no_action_and_no_deadline() -> None:
    assert parse_spot_event(REBALANCE) == SpotSignal(
        event_id="5d5555d5-dd55-5555-5555-5555dd55d55d",
        kind=SignalKind.REBALANCE_RECOMMENDATION,
        instance_id="i-1234567890abcdef0",
        action=None,
        time=datetime(2020, 10, 26, 14, 14, 14, tzinfo=UTC),
        deadline=None,
        account="123456789012",
        region="us-east-2",
    )


@pytest.mark.parametrize("action", ["terminate", "stop", "hibernate", "STOP"])
def test_every_documented_action_is_accepted(action: str) -> None:
    event = with_detail(WARNING, {"instance-id": "i-0b662ef9931388ba0", "instance-action": action})
    assert parse_spot_event(event).action == InstanceAction(action.lower())


@pytest.mark.parametrize("key", ["instance_id", "instanceId", "InstanceId"])
def test_alternative_instance_id_spellings(key: str) -> None:
    event = with_detail(WARNING, {key: "i-0b662ef9931388ba0", "instance-action": "stop"})
    signal = parse_spot_event(event)
    assert (signal.instance_id, signal.action) == ("i-0b662ef9931388ba0", InstanceAction.STOP)


def test_instance_id_falls_back_to_the_resource_arn() -> None:
    event = with_detail(WARNING, {"instance-action": "terminate"})
    assert parse_spot_event(event).instance_id == "i-0b662ef9931388ba0"


def test_offset_time_is_normalised_to_utc() -> None:
    signal = parse_spot_event(patched(WARNING, time="2024-05-01T21:00:00+09:00"))
    assert signal.time == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert signal.deadline == datetime(2024, 5, 1, 12, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            # The EC2 user guide's example, unchanged: placeholders for time and action.
            patched(WARNING, time="yyyy-mm-ddThh:mm:ssZ"),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: time 'yyyy-mm-ddThh:mm:ssZ' is not an ISO 8601 "
            "timestamp such as 2024-05-01T12:00:00Z",
        ),
        (
            with_detail(WARNING, {"instance-id": "i-0b662ef9931388ba0", "instance-action": "action"}),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: unknown instance-action 'action' "
            "(expected one of terminate, stop, hibernate)",
        ),
        (
            with_detail(WARNING, {"instance-id": "i-0b662ef9931388ba0"}),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: interruption warning without 'instance-action'",
        ),
        (
            patched(with_detail(WARNING, {"instance-action": "terminate"}), resources=[]),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: no instance id: detail has no 'instance-id' and no "
            "resource is an instance ARN",
        ),
        (
            with_detail(WARNING, {"instance-id": "node-1", "instance-action": "terminate"}),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: detail 'instance-id' = 'node-1' is not an EC2 "
            "instance id",
        ),
        (
            with_detail(
                WARNING, {"instance-id": "i-0b662ef9931388ba0", "instance_id": "i-1234567890abcdef0"}
            ),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: detail names different instances: "
            "{'instance-id': 'i-0b662ef9931388ba0', 'instance_id': 'i-1234567890abcdef0'}",
        ),
        (
            # aws-node-termination-handler's sample keeps a placeholder account.
            patched(WARNING, account="<account_number>"),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: account '<account_number>' is not a 12-digit AWS "
            "account id",
        ),
        (
            patched(WARNING, region="us-east-1b"),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: region 'us-east-1b' is not an AWS region name",
        ),
        (
            patched(WARNING, detail_type="EC2 Spot Instance Interruption"),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: detail-type 'EC2 Spot Instance Interruption' is not "
            "one of 'EC2 Spot Instance Interruption Warning', 'EC2 Instance Rebalance Recommendation'",
        ),
        (
            patched(WARNING, source="aws.autoscaling"),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: source 'aws.autoscaling' is not 'aws.ec2'",
        ),
        (
            patched(WARNING, detail=None),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: missing 'detail' object",
        ),
        (
            patched(WARNING, time=None),
            "event 1e5527d7-bb36-4607-3370-4164db56a40e: missing 'time'",
        ),
        (
            patched(WARNING, id=""),
            "missing 'id' (needed to recognise a redelivered event)",
        ),
    ],
)
def test_malformed_events_raise_an_error_naming_the_field(event: dict[str, Any], message: str) -> None:
    with pytest.raises(SpotEventError) as raised:
        parse_spot_event(event)
    assert str(raised.value) == message


def test_error_keeps_the_event_id_for_the_log_line() -> None:
    with pytest.raises(SpotEventError) as raised:
        parse_spot_event(patched(WARNING, time="not a time"))
    assert raised.value.event_id == "1e5527d7-bb36-4607-3370-4164db56a40e"
    assert (
        raised.value.detail == "time 'not a time' is not an ISO 8601 timestamp such as 2024-05-01T12:00:00Z"
    )


def test_a_non_object_event_is_rejected() -> None:
    with pytest.raises(SpotEventError, match="expected an EventBridge event object, got list"):
        parse_spot_event([])  # type: ignore[arg-type]


@pytest.mark.parametrize(("action", "notice"), [("terminate", 120), ("stop", 120), ("hibernate", 0)])
def test_hibernation_starts_at_once_others_after_two_minutes(action: str, notice: int) -> None:
    # EC2 user guide, spot instance interruption notices: hibernation begins immediately.
    event = with_detail(WARNING, {"instance-id": "i-0b662ef9931388ba0", "instance-action": action})
    signal = parse_spot_event(event)
    assert signal.deadline is not None
    assert (signal.deadline - signal.time).total_seconds() == notice
