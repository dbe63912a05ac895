"""EC2 spot interruption warnings and rebalance recommendations, parsed from EventBridge events."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from eks_auditor.model.frozen import FrozenModel

INTERRUPTION_WARNING = "EC2 Spot Instance Interruption Warning"
REBALANCE_RECOMMENDATION = "EC2 Instance Rebalance Recommendation"
SPOT_DETAIL_TYPES = (INTERRUPTION_WARNING, REBALANCE_RECOMMENDATION)
SOURCE = "aws.ec2"

# EC2 reclaims a spot instance two minutes after the interruption warning.
INTERRUPTION_NOTICE_PERIOD = timedelta(minutes=2)

# "instance-id" is what EC2 sends; the others have been seen in hand-written and SDK-built events
# (Powertools' EventBridge sample uses "instance_id").
_INSTANCE_ID_KEYS = ("instance-id", "instance_id", "instanceId", "InstanceId")
_ACTION_KEYS = ("instance-action", "instance_action", "instanceAction")
_INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


class SignalKind(StrEnum):
    INTERRUPTION_WARNING = "interruption_warning"
    REBALANCE_RECOMMENDATION = "rebalance_recommendation"


class InstanceAction(StrEnum):
    """What EC2 does to the instance at the deadline (the user guide lists exactly these three)."""

    TERMINATE = "terminate"
    STOP = "stop"
    HIBERNATE = "hibernate"


class SpotEventError(ValueError):
    """An event that cannot be turned into a SpotSignal; the message says which field and why."""

    def __init__(self, message: str, *, event_id: str | None = None) -> None:
        super().__init__(f"event {event_id}: {message}" if event_id else message)
        self.event_id = event_id
        self.detail = message


class SpotSignal(FrozenModel):
    """One spot interruption warning or rebalance recommendation for one instance."""

    event_id: str
    kind: SignalKind
    instance_id: str
    action: InstanceAction | None  # None for a rebalance recommendation
    time: datetime
    # time + 2 minutes for a stop/terminate warning, the event time for hibernate (it starts at once);
    # a recommendation has none.
    deadline: datetime | None
    account: str
    region: str

    @property
    def instance_arn(self) -> str:
        return f"arn:{partition_of(self.region)}:ec2:{self.region}:{self.account}:instance/{self.instance_id}"


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def parse_spot_event(event: Mapping[str, Any]) -> SpotSignal:
    """An EventBridge event -> SpotSignal; raises SpotEventError naming the field that is wrong."""
    if not isinstance(event, Mapping):
        raise SpotEventError(f"expected an EventBridge event object, got {type(event).__name__}")
    raw_id = event.get("id")
    event_id = raw_id if isinstance(raw_id, str) and raw_id else None
    if event_id is None:
        raise SpotEventError("missing 'id' (needed to recognise a redelivered event)")

    def error(message: str) -> SpotEventError:
        return SpotEventError(message, event_id=event_id)

    source = event.get("source")
    if source != SOURCE:
        raise error(f"source {source!r} is not {SOURCE!r}")
    detail_type = event.get("detail-type")
    if detail_type == INTERRUPTION_WARNING:
        kind = SignalKind.INTERRUPTION_WARNING
    elif detail_type == REBALANCE_RECOMMENDATION:
        kind = SignalKind.REBALANCE_RECOMMENDATION
    else:
        raise error(f"detail-type {detail_type!r} is not one of {', '.join(map(repr, SPOT_DETAIL_TYPES))}")

    account = event.get("account")
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        raise error(f"account {account!r} is not a 12-digit AWS account id")
    # The region comes from the envelope: EC2 has been seen putting the AZ in the ARN's region slot.
    region = event.get("region")
    if not isinstance(region, str) or not _REGION.match(region):
        raise error(f"region {region!r} is not an AWS region name")

    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise error("missing 'detail' object")
    time = _parse_time(event.get("time"), error)
    instance_id = _instance_id(detail, event.get("resources"), error)

    action: InstanceAction | None = None
    deadline: datetime | None = None
    if kind is SignalKind.INTERRUPTION_WARNING:
        action = _action(detail, error)
        # EC2 user guide (spot-instance-termination-notices): hibernation starts as soon as the
        # notice is sent; only stop and terminate come two minutes later.
        deadline = time if action is InstanceAction.HIBERNATE else time + INTERRUPTION_NOTICE_PERIOD
    return SpotSignal(
        event_id=event_id,
        kind=kind,
        instance_id=instance_id,
        action=action,
        time=time,
        deadline=deadline,
        account=account,
        region=region,
    )


_ErrorFactory = Callable[[str], SpotEventError]


def _parse_time(value: object, error: _ErrorFactory) -> datetime:
    if not isinstance(value, str) or not value:
        raise error("missing 'time'")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise error(f"time {value!r} is not an ISO 8601 timestamp such as 2024-05-01T12:00:00Z") from None
    # EventBridge always sends UTC with a Z; a hand-written event without an offset means UTC too.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _instance_id(detail: Mapping[str, Any], resources: object, error: _ErrorFactory) -> str:
    found = {key: detail[key] for key in _INSTANCE_ID_KEYS if detail.get(key) not in (None, "")}
    if len(set(map(str, found.values()))) > 1:
        raise error(f"detail names different instances: {found}")
    if found:
        key, value = next(iter(found.items()))
        if not isinstance(value, str) or not _INSTANCE_ID.match(value):
            raise error(f"detail {key!r} = {value!r} is not an EC2 instance id")
        return value
    # Fall back to the resource ARN: only its last segment is trustworthy (the region slot may hold an AZ).
    if isinstance(resources, list):
        for arn in resources:
            if isinstance(arn, str) and ":instance/" in arn:
                candidate = arn.rsplit("/", 1)[-1]
                if _INSTANCE_ID.match(candidate):
                    return candidate
    raise error("no instance id: detail has no 'instance-id' and no resource is an instance ARN")


def _action(detail: Mapping[str, Any], error: _ErrorFactory) -> InstanceAction:
    raw = next((detail[key] for key in _ACTION_KEYS if key in detail), None)
    if raw is None:
        raise error("interruption warning without 'instance-action'")
    try:
        return InstanceAction(str(raw).strip().lower())
    except ValueError:
        allowed = ", ".join(a.value for a in InstanceAction)
        raise error(f"unknown instance-action {raw!r} (expected one of {allowed})") from None


def parse_spot_body(body: str) -> SpotSignal:
    """An SQS body holding one EventBridge spot event -> SpotSignal; raises SpotEventError."""
    import json

    try:
        event = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SpotEventError(f"body is not JSON: {exc}") from None
    try:
        return parse_spot_event(event)
    except RecursionError:
        # A deeply nested field (e.g. an instance id that is a list of lists) is bad input, not a crash.
        raise SpotEventError("body is nested too deeply") from None
