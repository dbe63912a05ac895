"""Collects the auditor's own event pipeline for one account-region: the PipelineSnapshot.

Trails are read in the audited region (and their status in each trail's home region); rules and queues
in the stack's home region. `clients` may be built from a member account's session: the collector
holds no account of its own. One error boundary per part, and per trail, rule and queue inside it.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from eks_auditor.collect.errors import describe_error, error_code
from eks_auditor.model.part import PIPELINE_PARTS, Part
from eks_auditor.model.pipeline import (
    ExpectedRule,
    ExpectedTarget,
    Heartbeat,
    ManagementEvents,
    MissedChange,
    PipelineSnapshot,
    QueueView,
    RecordedEvent,
    RuleTarget,
    RuleView,
    TrailView,
)

if TYPE_CHECKING:
    from eks_auditor.model.finding import Finding

logger = logging.getLogger(__name__)

_ERRORS = (ClientError, BotoCoreError)
# LookupEvents is throttled at 2 calls/s per account-region: a few event names, a few events each.
LOOKUP_NAMES = 3
LOOKUP_RESULTS = 5


@dataclass(frozen=True)
class ExpectedPipeline:
    """The template's rules (with patterns and targets) and queues (DLQ or not), by logical id."""

    rules: tuple[ExpectedRule, ...]
    queues: Mapping[str, bool]  # logical id -> is a dead-letter queue
    # member/event-forwarding.yaml's rules (organization mode: each member account-region's forwarding)
    member_rules: tuple[ExpectedRule, ...] = ()


@cache
def expected_pipeline() -> ExpectedPipeline:
    """eks_auditor/data/pipeline.json, generated from template.yaml (python -m eks_auditor_tools.pipeline)."""
    text = importlib.resources.files("eks_auditor").joinpath("data/pipeline.json").read_text("utf-8")
    data = json.loads(text)
    return ExpectedPipeline(
        rules=_expected_rules(data["rules"]),
        queues=dict(data["queues"]),
        member_rules=_expected_rules(data.get("member_rules", [])),
    )


def _expected_rules(rules: Sequence[Mapping[str, Any]]) -> tuple[ExpectedRule, ...]:
    return tuple(
        ExpectedRule(
            logical_id=rule["logical_id"],
            pattern=rule["pattern"],
            targets=tuple(ExpectedTarget(**target) for target in rule["targets"]),
            us_east_1_only=bool(rule.get("us_east_1_only", False)),
        )
        for rule in rules
    )


@dataclass
class PipelineSettings:
    """Where the stack's resources are and how patient to be; the Lambda reads them from its environment."""

    home_region: str
    # Rule logical id -> deployed name; a rule not named here is looked up by `stack_name` (ListRules).
    rule_names: Mapping[str, str] = field(default_factory=dict)
    stack_name: str = "eks-auditor"
    queue_urls: Mapping[str, str] = field(default_factory=dict)
    backlog_age: timedelta = timedelta(minutes=30)
    quiet_period: timedelta = timedelta(hours=168)
    quiet_periods: Mapping[str, timedelta] = field(default_factory=dict)  # per region
    # Organization mode: the central organization bus, the target of every member forwarding rule (members'
    # rules are found by it: ListRuleNamesByTarget).
    organization_bus_arn: str = ""


class HeartbeatSource(Protocol):
    """What collect needs of the heartbeat store (eks_auditor.store.heartbeat.HeartbeatStore)."""

    def read(self, account: str, region: str) -> Heartbeat: ...

    def opened_by_schedule(self, account: str, region: str, since: datetime) -> Sequence[Finding]: ...


class PipelineCollector:
    def __init__(
        self,
        client: Callable[[str, str], Any],
        settings: PipelineSettings,
        *,
        heartbeats: HeartbeatSource | None = None,
        expected: ExpectedPipeline | None = None,
        member: bool = False,
        organization_trails: Callable[[str], tuple[TrailView, ...]] | None = None,
    ) -> None:
        """`client(service, region)` builds a boto3 client (AwsClients.client, or a member account's).

        `member`: the clients are a member account's (organization mode): its rules are the forwarding
        rules to `settings.organization_bus_arn`, in every region, and it has no queues of the auditor.
        `organization_trails(region)`: the organization's trails applying to the region, read once from
        the account that owns them (OrganizationTrails); they cover every member, and a member's own
        listing of them is ignored (moto does not even show them to members).
        """
        self.client = client
        self.settings = settings
        self.heartbeats = heartbeats
        self.expected = expected or expected_pipeline()
        self.member = member
        self.organization_trails = organization_trails

    def collect(
        self, account: str, region: str, parts: frozenset[Part] | None, *, now: datetime
    ) -> PipelineSnapshot:
        wanted = PIPELINE_PARTS if parts is None else parts & PIPELINE_PARTS
        values: dict[str, Any] = {}
        gaps: dict[Part, str] = {}
        readers: dict[Part, Callable[[], Any]] = {
            Part.TRAILS: lambda: self._trails(region),
            Part.RULES: lambda: self._rules(account, region),
            Part.QUEUES: lambda: self._queues(region, now),
            Part.HEARTBEAT: lambda: self._heartbeat(account, region),
        }
        for part in sorted(wanted):
            try:
                values[part.value] = readers[part]()
            except _ERRORS as exc:
                gaps[part] = describe_error(exc)
            except _Unavailable as exc:
                gaps[part] = str(exc)
        return PipelineSnapshot(
            account=account,
            region=region,
            collected_at=now,
            home_region=self.settings.home_region,
            central=not self.member,
            expected_rules=self._expected_rules(region),
            backlog_age=self.settings.backlog_age,
            quiet_period=self.settings.quiet_periods.get(region, self.settings.quiet_period),
            gaps=gaps,
            **values,
        )

    def _expected_rules(self, region: str) -> tuple[ExpectedRule, ...]:
        if not self.member:
            return self.expected.rules
        return tuple(
            rule for rule in self.expected.member_rules if region == "us-east-1" or not rule.us_east_1_only
        )

    # --- trails --------------------------------------------------------------------------------------

    def _trails(self, region: str) -> tuple[TrailView, ...]:
        if self.organization_trails is None:
            return read_trails(self.client, region)
        # Organization mode: the organization's trails come from their owner, once; the account's own
        # listing adds its own trails only.
        organization = self.organization_trails(region)
        own = read_trails(self.client, region, organization=False)
        known = {trail.arn for trail in organization}
        return organization + tuple(trail for trail in own if trail.arn not in known)

    # --- rules ---------------------------------------------------------------------------------------

    def _rules(self, account: str, region: str) -> tuple[RuleView, ...]:
        if self.member:
            return self._forwarding_rules(region)
        if region != self.settings.home_region:
            return ()
        events = self.client("events", region)
        names = dict(self.settings.rule_names)
        if any(rule.logical_id not in names for rule in self.expected.rules):
            names = {**self._discover_rule_names(events), **names}
        return tuple(
            self._rule(events, rule.logical_id, names.get(rule.logical_id)) for rule in self.expected.rules
        )

    def _forwarding_rules(self, region: str) -> tuple[RuleView, ...]:
        """A member account-region's forwarding rules: those targeting the central organization bus, matched
        to member/event-forwarding.yaml's by logical id (CloudFormation names a rule
        "<stack>-<LogicalId>-<suffix>")."""
        bus = self.settings.organization_bus_arn
        if not bus:
            raise _Unavailable("the central organization bus is not configured (ORGANIZATION_EVENT_BUS_ARN)")
        events = self.client("events", region)
        names = _paged(events.list_rule_names_by_target, "RuleNames", TargetArn=bus)
        by_logical: dict[str, str] = {}
        for expected in self._expected_rules(region):
            found = sorted(name for name in names if f"-{expected.logical_id}-" in f"-{name}-")
            if found:
                by_logical[expected.logical_id] = found[0]
        return tuple(
            self._rule(events, rule.logical_id, by_logical.get(rule.logical_id))
            for rule in self._expected_rules(region)
        )

    def _discover_rule_names(self, events: Any) -> dict[str, str]:
        # CloudFormation names an unnamed rule "<stack>-<LogicalId>-<suffix>".
        found: dict[str, str] = {}
        prefix = f"{self.settings.stack_name}-"
        request: dict[str, Any] = {"NamePrefix": prefix}
        while True:
            response = events.list_rules(**request)
            for rule in response.get("Rules", []):
                name = str(rule.get("Name", ""))
                logical = name[len(prefix) :].rsplit("-", 1)[0]
                found.setdefault(logical, name)
            if not response.get("NextToken"):
                return found
            request["NextToken"] = response["NextToken"]

    def _rule(self, events: Any, logical_id: str, name: str | None) -> RuleView:
        if name is None:
            return RuleView(logical_id=logical_id, name=None)
        try:
            described = events.describe_rule(Name=name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return RuleView(logical_id=logical_id, name=name)
            return RuleView(logical_id=logical_id, name=name, error=describe_error(exc))
        except BotoCoreError as exc:
            return RuleView(logical_id=logical_id, name=name, error=describe_error(exc))
        arn = str(described["Arn"])
        try:
            targets = _paged(events.list_targets_by_rule, "Targets", Rule=name)
        except _ERRORS as exc:
            return RuleView(logical_id=logical_id, name=name, arn=arn, error=describe_error(exc))
        pattern = described.get("EventPattern")
        return RuleView(
            logical_id=logical_id,
            name=name,
            arn=arn,
            state=described.get("State"),
            pattern=json.loads(pattern) if pattern else None,
            targets=tuple(
                RuleTarget(
                    id=str(target["Id"]),
                    arn=str(target["Arn"]),
                    dead_letter_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
                    role_arn=target.get("RoleArn"),
                )
                for target in targets
            ),
        )

    # --- queues --------------------------------------------------------------------------------------

    def _queues(self, region: str, now: datetime) -> tuple[QueueView, ...]:
        if self.member:
            raise _Unavailable("a member account holds none of the auditor's queues (central checks only)")
        if region != self.settings.home_region:
            return ()
        sqs = self.client("sqs", region)
        views: list[QueueView] = []
        for logical_id, url in self.settings.queue_urls.items():
            dead_letter = self.expected.queues.get(logical_id, False)
            try:
                attributes = sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"]
                )["Attributes"]
            except _ERRORS as exc:
                views.append(
                    QueueView(
                        logical_id=logical_id, url=url, dead_letter=dead_letter, error=describe_error(exc)
                    )
                )
                continue
            views.append(
                QueueView(
                    logical_id=logical_id,
                    url=url,
                    arn=attributes.get("QueueArn"),
                    dead_letter=dead_letter,
                    messages=int(attributes.get("ApproximateNumberOfMessages", 0)),
                )
            )
        return self._with_ages(tuple(views), region, now)

    def _with_ages(self, views: tuple[QueueView, ...], region: str, now: datetime) -> tuple[QueueView, ...]:
        # The age of the oldest message is a CloudWatch metric, not a queue attribute: one GetMetricData
        # for every work queue.
        work = [view for view in views if not view.dead_letter and view.error is None]
        if not work:
            return views
        queries = [
            {
                "Id": f"q{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SQS",
                        "MetricName": "ApproximateAgeOfOldestMessage",
                        "Dimensions": [
                            {"Name": "QueueName", "Value": view.url.rstrip("/").rsplit("/", 1)[-1]}
                        ],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
                "ReturnData": True,
            }
            for index, view in enumerate(work)
        ]
        try:
            results = _paged(
                self.client("cloudwatch", region).get_metric_data,
                "MetricDataResults",
                MetricDataQueries=queries,
                StartTime=now - timedelta(minutes=15),
                EndTime=now,
                ScanBy="TimestampDescending",
            )
        except _ERRORS as exc:
            reason = describe_error(exc)
            return tuple(
                view.model_copy(update={"error": reason}) if view in work else view for view in views
            )
        latest: dict[str, float] = {}
        for result in results:
            points = sorted(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
            if points:
                latest[str(result["Id"])] = float(points[-1][1])
        ages = {view.logical_id: latest.get(f"q{index}") for index, view in enumerate(work)}
        return tuple(
            view.model_copy(update={"oldest_age_seconds": ages[view.logical_id]})
            if view.logical_id in ages
            else view
            for view in views
        )

    # --- heartbeat -----------------------------------------------------------------------------------

    def _heartbeat(self, account: str, region: str) -> Heartbeat:
        if self.heartbeats is None:
            raise _Unavailable("no findings table to read the heartbeat from")
        heartbeat = self.heartbeats.read(account, region)
        if heartbeat.previous_scan_at is None:
            return heartbeat
        opened = self.heartbeats.opened_by_schedule(account, region, heartbeat.previous_scan_at)
        missed = missed_changes(opened)
        update: dict[str, Any] = {"missed_changes": missed}
        if missed and (
            heartbeat.last_event_at is None or heartbeat.last_event_at < heartbeat.previous_scan_at
        ):
            update |= self._recorded(region, missed, since=heartbeat.previous_scan_at)
        return heartbeat.model_copy(update=update)

    def _recorded(self, region: str, missed: Sequence[MissedChange], *, since: datetime) -> dict[str, Any]:
        """What CloudTrail recorded of the missed changes' API calls since the previous scan (LookupEvents,
        one event name per call: at most LOOKUP_NAMES names, LOOKUP_RESULTS events each). A failure is
        kept as the reason: this is evidence, never the verdict."""
        names = sorted(
            {label.split(":", 1)[1] for change in missed for label in change.events if ":" in label}
        )
        recorded: list[RecordedEvent] = []
        try:
            cloudtrail = self.client("cloudtrail", region)
            for name in names[:LOOKUP_NAMES]:
                response = cloudtrail.lookup_events(
                    LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
                    StartTime=since,
                    MaxResults=LOOKUP_RESULTS,
                )
                recorded += [
                    RecordedEvent(
                        event_id=str(event.get("EventId", "")),
                        event_name=str(event.get("EventName", name)),
                        event_time=event["EventTime"],
                    )
                    for event in response.get("Events", [])
                    if event.get("EventTime") is not None
                ]
        except _ERRORS as exc:
            return {"trail_lookup_error": describe_error(exc)}
        except Exception as exc:  # evidence only, never a failed audit (moto raises NotImplementedError)
            logger.warning("CloudTrail lookup in %s failed: %s: %s", region, type(exc).__name__, exc)
            return {"trail_lookup_error": f"{type(exc).__name__}: {exc}"}
        return {"trail_recorded": tuple(sorted(recorded, key=lambda e: (e.event_time, e.event_id)))}


def read_trails(
    client: Callable[[str, str], Any], region: str, *, organization: bool | None = None
) -> tuple[TrailView, ...]:
    """The trails that apply to `region` as an account sees them (`organization`: only organization trails
    (True), only the others (False), all (None))."""
    # Shadow trails: a multi-region or organization trail appears in every region it applies to.
    response = client("cloudtrail", region).describe_trails(includeShadowTrails=True)
    trails: list[TrailView] = []
    for raw in response.get("trailList", []):
        home = str(raw.get("HomeRegion") or region)
        multi = bool(raw.get("IsMultiRegionTrail"))
        if not multi and home != region:
            continue
        if organization is not None and bool(raw.get("IsOrganizationTrail")) != organization:
            continue
        trails.append(_trail(client, raw, home, multi))
    return tuple(trails)


def _trail(client: Callable[[str, str], Any], raw: Mapping[str, Any], home: str, multi: bool) -> TrailView:
    arn = str(raw.get("TrailARN") or raw.get("Name"))
    base = {
        "arn": arn,
        "name": str(raw.get("Name") or arn),
        "home_region": home,
        "multi_region": multi,
        "organization": bool(raw.get("IsOrganizationTrail")),
    }
    # Status and selectors are read in the trail's home region, where the trail itself lives.
    cloudtrail = client("cloudtrail", home)
    try:
        logging_on = bool(cloudtrail.get_trail_status(Name=arn).get("IsLogging"))
        selectors = cloudtrail.get_event_selectors(TrailName=arn)
    except _ERRORS as exc:
        return TrailView(**base, logging=None, management_events=None, error=describe_error(exc))
    return TrailView(**base, logging=logging_on, management_events=management_events(selectors))


class OrganizationTrails:
    """The organization's trails, read from the account that owns them (the management account: an
    organization trail lives there even when a delegated administrator created it), once per region
    per `ttl` and shared by every member's pipeline audit.

    A failed read is not cached, and becomes one unreadable trail: a member with no trail of its own is
    then `could not evaluate`, never "no trail".
    """

    def __init__(
        self,
        owner_client: Callable[[], Callable[[str, str], Any]],
        *,
        clock: Callable[[], float] | None = None,
        ttl: float = 900.0,
    ) -> None:
        import threading
        import time

        self._owner_client = owner_client
        self._clock = clock or time.monotonic
        self._ttl = ttl
        self._cache: dict[str, tuple[float, tuple[TrailView, ...]]] = {}
        self._lock = threading.Lock()
        self.reads = 0

    def __call__(self, region: str) -> tuple[TrailView, ...]:
        with self._lock:
            cached = self._cache.get(region)
            if cached is not None and self._clock() - cached[0] <= self._ttl:
                return cached[1]
            try:
                self.reads += 1
                trails = read_trails(self._owner_client(), region, organization=True)
            except _ERRORS as exc:
                reason = describe_error(exc)
                logger.warning("could not read the organization's trails for %s: %s", region, reason)
                unreadable = TrailView(
                    arn=f"organization-trails/{region}",
                    name="organization trails",
                    home_region=region,
                    multi_region=True,
                    organization=True,
                    logging=None,
                    management_events=None,
                    error=reason,
                )
                return (unreadable,)
            self._cache[region] = (self._clock(), trails)
            return trails


class _Unavailable(Exception):
    """A part that cannot be collected in this setting (the reason is the message)."""


def missed_changes(findings: Sequence[Finding]) -> tuple[MissedChange, ...]:
    """The findings opened by the schedule for checks the event path would have re-run (declared events)."""
    from eks_auditor.checks.registry import CATALOG

    missed: list[MissedChange] = []
    for finding in findings:
        check = CATALOG.get(finding.check_id)
        if check is None or not check.spec.events:
            continue
        missed.append(
            MissedChange(
                finding_id=finding.id,
                check_id=finding.check_id,
                cluster=finding.cluster,
                resource=finding.resource,
                opened_at=finding.first_seen,
                events=tuple(event.label for event in check.spec.events),
            )
        )
    return tuple(missed)


def management_events(response: Mapping[str, Any]) -> ManagementEvents:
    """Which management events GetEventSelectors' answer records (basic or advanced selectors)."""
    advanced = response.get("AdvancedEventSelectors")
    if advanced:
        return _combine(_advanced(selector) for selector in advanced)
    basic = response.get("EventSelectors") or []
    if not basic:
        # No selector at all is AWS's default: every management event, read and write.
        return ManagementEvents.ALL
    return _combine(
        {
            "All": ManagementEvents.ALL,
            "WriteOnly": ManagementEvents.WRITE,
            "ReadOnly": ManagementEvents.READ,
        }.get(str(selector.get("ReadWriteType", "All")), ManagementEvents.ALL)
        if selector.get("IncludeManagementEvents", True)
        else ManagementEvents.NONE
        for selector in basic
    )


def _advanced(selector: Mapping[str, Any]) -> ManagementEvents:
    fields = {str(f.get("Field")): f for f in selector.get("FieldSelectors", [])}
    category = fields.get("eventCategory")
    if category is None or "Management" not in category.get("Equals", []):
        return ManagementEvents.NONE
    read_only = fields.get("readOnly")
    if read_only is None:
        return ManagementEvents.ALL
    equals = [str(value).lower() for value in read_only.get("Equals", [])]
    if equals == ["true"]:
        return ManagementEvents.READ
    if equals == ["false"]:
        return ManagementEvents.WRITE
    return ManagementEvents.ALL


def _combine(kinds: Any) -> ManagementEvents:
    found = set(kinds)
    if ManagementEvents.ALL in found or {ManagementEvents.READ, ManagementEvents.WRITE} <= found:
        return ManagementEvents.ALL
    for kind in (ManagementEvents.WRITE, ManagementEvents.READ):
        if kind in found:
            return kind
    return ManagementEvents.NONE


def _paged(call: Callable[..., Any], key: str, **request: Any) -> list[Any]:
    items: list[Any] = []
    while True:
        response = call(**request)
        items.extend(response.get(key, []))
        token = response.get("NextToken")
        if not token:
            return items
        request["NextToken"] = token
