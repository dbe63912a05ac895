"""What the auditor reads about its own event pipeline in one account-region: the PipelineSnapshot.

Account-region findings are stored under the pseudo-cluster ACCOUNT_REGION ("-"): no EKS cluster can
have that name (cluster names start with a letter or digit), so it never collides with a real one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from eks_auditor.model.frozen import FrozenModel
from eks_auditor.model.part import Part

ACCOUNT_REGION = "-"


def region_resource(region: str) -> str:
    """The resource of an account-region finding about something that does not exist."""
    return f"region/{region}"


class ManagementEvents(StrEnum):
    """Which management events a trail records (read-only events alone do not carry changes)."""

    ALL = "all"
    WRITE = "write"
    READ = "read"
    NONE = "none"


class TrailView(FrozenModel):
    """One trail that applies to the region, normalized from DescribeTrails/GetTrailStatus/selectors."""

    arn: str
    name: str
    home_region: str
    multi_region: bool
    organization: bool
    # None: GetTrailStatus / GetEventSelectors could not be read (the reason is in `error`).
    logging: bool | None
    management_events: ManagementEvents | None
    error: str | None = None

    @property
    def delivers_changes(self) -> bool:
        return bool(self.logging) and self.management_events in (ManagementEvents.ALL, ManagementEvents.WRITE)


class ExpectedTarget(FrozenModel):
    id: str
    dead_letter: bool
    role: bool


class ExpectedRule(FrozenModel):
    """A rule as template.yaml declares it (eks_auditor/data/pipeline_rules.json)."""

    logical_id: str
    pattern: Mapping[str, Any]
    targets: tuple[ExpectedTarget, ...]
    # Member forwarding rules only: the rule exists in us-east-1 alone (IAM events reach EventBridge there).
    us_east_1_only: bool = False


class RuleTarget(FrozenModel):
    id: str
    arn: str
    dead_letter_arn: str | None = None
    role_arn: str | None = None


class RuleView(FrozenModel):
    """A deployed rule, or a rule that could not be found (`arn` None) or read (`error`)."""

    logical_id: str
    name: str | None
    arn: str | None = None
    state: str | None = None
    pattern: Mapping[str, Any] | None = None
    targets: tuple[RuleTarget, ...] = ()
    error: str | None = None


class QueueView(FrozenModel):
    logical_id: str
    url: str
    arn: str | None = None
    dead_letter: bool
    messages: int | None = None
    # ApproximateAgeOfOldestMessage's latest datapoint; None when CloudWatch has none in the window.
    oldest_age_seconds: float | None = None
    error: str | None = None


class MissedChange(FrozenModel):
    """A finding the schedule opened for a check the event path would have re-run."""

    finding_id: str
    check_id: str
    cluster: str
    resource: str
    opened_at: datetime
    events: tuple[str, ...]


class RecordedEvent(FrozenModel):
    """An API call CloudTrail recorded (LookupEvents) that the event path would have routed."""

    event_id: str
    event_name: str
    event_time: datetime


class Heartbeat(FrozenModel):
    """What the store knows of the events processed for the account-region, and of the previous scan."""

    last_event_at: datetime | None = None
    last_event_id: str | None = None
    last_event_name: str | None = None
    previous_scan_at: datetime | None = None
    # The first scan that watched this account-region: the quiet period counts from it until an event.
    watch_started_at: datetime | None = None
    missed_changes: tuple[MissedChange, ...] = ()
    # Optional evidence (cloudtrail:LookupEvents), read only when changes were missed: the calls CloudTrail
    # recorded since the previous scan among the missed changes' events. None: not looked up, or the
    # lookup failed (`trail_lookup_error`). It never decides the verdict.
    trail_recorded: tuple[RecordedEvent, ...] | None = None
    trail_lookup_error: str | None = None


class PipelineSnapshot(FrozenModel):
    """The pipeline as seen from one account-region. A None part was not collected (see `gaps`)."""

    account: str
    region: str
    collected_at: datetime
    # Where the stack's rules and queues live: the central account's are evaluated in that region only.
    home_region: str
    # The auditor's own account (True), or a member account of the organization (False): a member's rules
    # are its forwarding rules (member/event-forwarding.yaml), in every audited region; it has no queues.
    central: bool = True
    trails: tuple[TrailView, ...] | None = None
    rules: tuple[RuleView, ...] | None = None
    expected_rules: tuple[ExpectedRule, ...] = ()
    queues: tuple[QueueView, ...] | None = None
    backlog_age: timedelta = timedelta(minutes=30)
    heartbeat: Heartbeat | None = None
    quiet_period: timedelta = timedelta(hours=24)
    gaps: Mapping[Part, str] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        """The pseudo-cluster its findings are stored under."""
        return ACCOUNT_REGION

    @property
    def arn(self) -> str:
        """The resource of an outcome that concerns the account-region as a whole."""
        return region_resource(self.region)

    @property
    def is_home(self) -> bool:
        return self.region == self.home_region
