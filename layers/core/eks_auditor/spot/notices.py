"""Spot interruption notices and bursts: EventBridge events in, findings stored and alerts published.

A notice is one transient finding per instance, deduplicated on the event id by the store. A burst is
counted per node group in fixed windows (window start = event time floored to the window) with an
atomic DynamoDB ADD, so concurrent invocations never lose a count; the first invocation that sees the
count at or above the threshold claims the window and raises one HIGH finding and one alert.

Fixed windows can split a burst across a boundary (two interruptions at 12:14 and two at 12:16 are two
windows of two). We accept that: overlapping counters would double the writes per event and need a
second de-duplication between the windows that both reach the threshold, and a burst that matters
keeps going into the next window, where it is caught.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from eks_auditor.checks.spot import SPOT_INTERRUPTION_BURST, SPOT_INTERRUPTION_NOTICE
from eks_auditor.metrics import MetricSink, NullSink
from eks_auditor.model.check import CheckSpec
from eks_auditor.model.finding import ClusterScope, Finding, StateChange, finding_from_spec
from eks_auditor.model.frozen import FrozenModel
from eks_auditor.publish import Publisher
from eks_auditor.spot.events import (
    SignalKind,
    SpotEventError,
    SpotSignal,
    parse_spot_body,
    parse_spot_event,
    partition_of,
)
from eks_auditor.spot.mapping import EksNode, InstanceLookup, NodeGroupKind, look_up_instances

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client

    from eks_auditor.store import FindingStore
    from eks_auditor.store.heartbeat import HeartbeatStore

logger = logging.getLogger(__name__)

UNKNOWN_CLUSTER = "unknown"
INSTANCE_NOT_FOUND = "not found at DescribeInstances"

# Event-born checks (kind EVENT in the catalog): never run at scan time.
EVENT_CHECK_SPECS: tuple[CheckSpec, ...] = (SPOT_INTERRUPTION_NOTICE, SPOT_INTERRUPTION_BURST)

_VERBS = {
    "terminate": ("terminates", "terminated"),
    "stop": ("stops", "stopped"),
    "hibernate": ("hibernates", "hibernated"),
}
_GROUP_SEGMENT = {
    NodeGroupKind.MANAGED: "nodegroup",
    NodeGroupKind.SELF_MANAGED: "asg",
    NodeGroupKind.KARPENTER: "nodepool",
}


class EventOutcome(StrEnum):
    HANDLED = "handled"
    IGNORED = "ignored"
    FAILED = "failed"


class SpotEventResult(FrozenModel):
    """What happened to one event of the batch; `index` is its position in the input."""

    index: int
    event_id: str | None = None
    outcome: EventOutcome
    reason: str | None = None
    # False for events no retry can fix (malformed): the handler may send them to the DLQ at once.
    retryable: bool = False
    instance_id: str | None = None
    cluster: str | None = None
    node_group: str | None = None
    duplicate: bool = False  # handled before (same event id): nothing new stored, no alert
    finding_ids: tuple[str, ...] = ()


class SpotBatchResult(FrozenModel):
    results: tuple[SpotEventResult, ...]
    changes: tuple[
        StateChange, ...
    ]  # recorded (and published, given a notifier) in this invocation, in order
    describe_calls: int = 0

    @property
    def failed(self) -> tuple[SpotEventResult, ...]:
        return tuple(r for r in self.results if r.outcome is EventOutcome.FAILED)

    @property
    def failed_indexes(self) -> tuple[int, ...]:
        return tuple(r.index for r in self.failed)

    def count(self, outcome: EventOutcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)


class SpotEventFailed(Exception):
    """One event could not be handled (retryable): its result says why. Raised for the batch processor."""

    def __init__(self, result: SpotEventResult) -> None:
        super().__init__(result.reason)
        self.result = result


class SpotBatch:
    """One batch of spot events: prefetch() the instances of all of them, then handle() each on its own.

    The prefetch makes one DescribeInstances call per region (up to 100 ids each) for the whole batch, so
    a batch processor that calls handle() record by record still reads EC2 once.
    """

    def __init__(
        self,
        *,
        ec2_client: EC2Client,
        store: FindingStore,
        publisher: Publisher,
        now: datetime,
        ttl: timedelta = timedelta(days=7),
        burst_threshold: int = 3,
        burst_window: timedelta = timedelta(minutes=15),
        metrics: MetricSink | None = None,
        ec2_client_for: Callable[[str], EC2Client] | None = None,
        heartbeats: HeartbeatStore | None = None,
    ) -> None:
        if burst_threshold < 1:
            raise ValueError("burst_threshold must be at least 1")
        if burst_window <= timedelta(0):
            raise ValueError("burst_window must be positive")
        self.ec2_client = ec2_client
        self.ec2_client_for = ec2_client_for
        self.metrics: MetricSink = metrics or NullSink()
        self.lookups: dict[str, InstanceLookup] = {}
        self.lookup_errors: dict[str, str] = {}
        self.describe_calls = 0
        self.heartbeats = heartbeats
        self.now = now
        self._processor = _Processor(store, publisher, self.metrics, now, ttl, burst_threshold, burst_window)

    def prefetch(self, signals: Iterable[SpotSignal]) -> None:
        """Describe every instance the signals name that is not looked up yet (one call per region)."""
        wanted = [s for s in signals if s.region not in self.lookups and s.region not in self.lookup_errors]
        lookups, errors, calls = _look_up(wanted, self.ec2_client, self.ec2_client_for)
        self.lookups.update(lookups)
        self.lookup_errors.update(errors)
        self.describe_calls += calls

    def process(self, events: Sequence[Mapping[str, Any]]) -> SpotBatchResult:
        """Turn a batch of spot events into stored notices, burst escalations and SNS alerts (replay,
        tests; the spot Lambda feeds handle() record by record through its batch processor).

        One DescribeInstances call per region per batch. Each event has its own error boundary: a
        malformed event or a failed write is reported in its result and never stops the others. A
        publisher without a notifier stores the changes and returns them unpublished. A redelivered
        event publishes what the cluster's outbox holds past the store's grace, as the engine does.
        """
        results: dict[int, SpotEventResult] = {}
        signals: dict[int, SpotSignal] = {}
        for index, event in enumerate(events):
            try:
                signals[index] = parse_spot_event(event)
            except SpotEventError as exc:
                logger.warning("rejected spot event %s: %s", exc.event_id or f"#{index}", exc.detail)
                self.metrics.count("SpotEventsRejected")
                results[index] = SpotEventResult(
                    index=index, event_id=exc.event_id, outcome=EventOutcome.FAILED, reason=str(exc)
                )
        self.prefetch(signals.values())
        published: list[StateChange] = []
        for index, signal in signals.items():
            try:
                result, changes = self.handle(signal, index=index)
            except SpotEventFailed as exc:
                result, changes = exc.result.model_copy(update={"index": index}), []
            results[index] = result
            published.extend(changes)
        return SpotBatchResult(
            results=tuple(results[i] for i in sorted(results)),
            changes=tuple(published),
            describe_calls=self.describe_calls,
        )

    def handle(self, signal: SpotSignal, *, index: int = 0) -> tuple[SpotEventResult, list[StateChange]]:
        """Store and publish what one event means; raises SpotEventFailed (retryable) when it cannot."""
        self._heartbeat(signal)
        if signal.region not in self.lookups and signal.region not in self.lookup_errors:
            self.prefetch([signal])  # not in the prefetched batch: look it up on its own
        if signal.region in self.lookup_errors:
            raise SpotEventFailed(self._failed(index, signal, self.lookup_errors[signal.region]))
        try:
            return self._processor.process(index, signal, self.lookups[signal.region])
        except Exception as exc:  # a store or SNS failure fails this event only; the batch goes on
            # The batch processor logs the ERROR line (with the message id); one line per failed record.
            logger.info("spot event %s failed: %s", signal.event_id, type(exc).__name__)
            self.metrics.count("SpotEventsFailed")
            raise SpotEventFailed(self._failed(index, signal, f"{type(exc).__name__}: {exc}")) from exc

    def _heartbeat(self, signal: SpotSignal) -> None:
        """The pipeline delivered an event of the account-region (pipeline_silent reads it).

        Best effort: the alert matters more than the heartbeat, so a failed write is logged, not raised.
        """
        if self.heartbeats is None:
            return
        try:
            self.heartbeats.record_event(
                signal.account,
                signal.region,
                event_id=signal.event_id,
                event_name=signal.kind.value,
                at=self.now,
            )
        except Exception:
            logger.warning("could not record the heartbeat of spot event %s", signal.event_id, exc_info=True)
            self.metrics.count("HeartbeatsFailed")

    @staticmethod
    def _failed(index: int, signal: SpotSignal, reason: str) -> SpotEventResult:
        return _unhandled(index, signal, EventOutcome.FAILED, reason)


def _look_up(
    signals: Iterable[SpotSignal],
    ec2_client: EC2Client,
    ec2_client_for: Callable[[str], EC2Client] | None,
) -> tuple[dict[str, InstanceLookup], dict[str, str], int]:
    by_region: dict[str, list[str]] = {}
    for signal in signals:
        by_region.setdefault(signal.region, []).append(signal.instance_id)
    lookups: dict[str, InstanceLookup] = {}
    errors: dict[str, str] = {}
    calls = 0
    home = ec2_client.meta.region_name
    for region, instance_ids in by_region.items():
        if region != home and ec2_client_for is None:
            errors[region] = f"event from region {region}; this function reads EC2 in {home} only"
            continue
        try:
            client = ec2_client if region == home or ec2_client_for is None else ec2_client_for(region)
            lookup = look_up_instances(client, instance_ids)
        except Exception as exc:  # throttling or AccessDenied: every event of the region is retried
            logger.exception("DescribeInstances failed in %s", region)
            errors[region] = f"DescribeInstances failed in {region}: {type(exc).__name__}: {exc}"
            continue
        lookups[region] = lookup
        calls += lookup.describe_calls
    return lookups, errors, calls


class _Processor:
    def __init__(
        self,
        store: FindingStore,
        publisher: Publisher,
        metrics: MetricSink,
        now: datetime,
        ttl: timedelta,
        burst_threshold: int,
        burst_window: timedelta,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.metrics = metrics
        self.now = now.astimezone(UTC)
        self.ttl = ttl
        self.burst_threshold = burst_threshold
        self.burst_window = burst_window

    def process(
        self, index: int, signal: SpotSignal, lookup: InstanceLookup
    ) -> tuple[SpotEventResult, list[StateChange]]:
        instance_id = signal.instance_id
        node = lookup.nodes.get(instance_id)
        if node is None and instance_id in lookup.not_eks:
            logger.debug("spot event %s: instance %s is not an EKS node", signal.event_id, instance_id)
            self.metrics.count("SpotEventsIgnoredNotEks")
            reason = f"instance {instance_id} is not an EKS node (no cluster tag)"
            return _unhandled(index, signal, EventOutcome.IGNORED, reason), []
        if node is None:
            # Spot instances can be gone (terminated and aged out) by the time a redelivered event arrives:
            # with no cluster to attach, a finding on cluster "unknown" would help nobody (DESIGN §5).
            logger.info("spot event %s: instance %s %s", signal.event_id, instance_id, INSTANCE_NOT_FOUND)
            self.metrics.count("SpotInstancesNotFound")
            reason = f"instance {instance_id} {INSTANCE_NOT_FOUND}: cannot be mapped to a cluster"
            return _unhandled(index, signal, EventOutcome.IGNORED, reason), []
        notice = notice_finding(signal, node, now=self.now, ttl=self.ttl)
        recorded = self.store.record_event(notice)
        changes = [recorded.change] if recorded.change is not None else []
        finding_ids = [notice.id]
        duplicate = not recorded.new
        self.metrics.count("SpotNoticesOpened" if recorded.new else "SpotEventsDuplicate")
        # Counted before anything is published, and idempotently (the counter holds event ids): a retry
        # after a failed publish, or a redelivery, counts this notice no second time and none fewer.
        if node is not None and node.node_group and signal.kind is SignalKind.INTERRUPTION_WARNING:
            burst = self._count_burst(signal, node)
            if burst is not None:
                finding_ids.append(burst.id)
                burst_record = self.store.record_event(burst)
                if burst_record.change is not None:
                    changes.append(burst_record.change)
        if duplicate or len(changes) < len(finding_ids):
            # A retry: this event's own unpublished changes (and any past the grace) go out now.
            changes = self._republish(signal, notice.cluster, changes)
        else:
            self.publisher.publish(changes, counted_at=self.now)
        result = SpotEventResult(
            index=index,
            event_id=signal.event_id,
            outcome=EventOutcome.HANDLED,
            instance_id=instance_id,
            cluster=node.cluster if node else None,
            node_group=node.node_group if node else None,
            duplicate=duplicate,
            finding_ids=tuple(finding_ids),
        )
        return result, changes

    def _republish(self, signal: SpotSignal, cluster: str, new: list[StateChange]) -> list[StateChange]:
        """A redelivered or retried event: publish its new changes, then what the cluster's outbox holds of
        this event or past the grace (the handler died, SNS failed): the engine's retry rule."""
        seen = {change.change_id for change in new}
        pending = [
            change
            for change in self.store.due_changes(
                signal.account, signal.region, cluster, now=self.now, source=signal.event_id
            )
            if change.change_id not in seen
        ]
        for change in pending:
            logger.info("republishing change %s (event %s)", change.change_id, signal.event_id)
        changes = new + pending
        self.publisher.publish(changes, counted_at=self.now)
        return changes

    def _count_burst(self, signal: SpotSignal, node: EksNode) -> Finding | None:
        """The burst finding when this notice brings its window to the threshold and claims it."""
        window_start = window_start_of(signal.time, self.burst_window)
        window_end = window_start + self.burst_window
        key = burst_counter_key(
            signal.account, signal.region, node.cluster, node.node_group or "", window_start
        )
        # Keep the counter a little past its window so a late, redelivered event still finds it.
        expires = max(window_end, self.now) + self.burst_window
        count = self.store.increment_counter(key, member=signal.event_id, expires_at=expires)
        if count < self.burst_threshold:
            return None
        if not self.store.claim_once(key, claimant=signal.event_id, expires_at=expires):
            return None
        self.metrics.count("SpotBurstsOpened")
        return burst_finding(
            signal,
            node,
            count=count,
            threshold=self.burst_threshold,
            window_start=window_start,
            window_end=window_end,
            now=self.now,
            ttl=self.ttl,
        )


def _unhandled(index: int, signal: SpotSignal, outcome: EventOutcome, reason: str) -> SpotEventResult:
    """An event that made no finding: IGNORED for good, or FAILED in a way a retry can fix."""
    return SpotEventResult(
        index=index,
        event_id=signal.event_id,
        outcome=outcome,
        reason=reason,
        retryable=outcome is EventOutcome.FAILED,
        instance_id=signal.instance_id,
    )


def window_start_of(time: datetime, window: timedelta) -> datetime:
    """The fixed window holding `time`: floor(time / window) * window, from the Unix epoch."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    seconds = int(window.total_seconds())
    offset = int((time.astimezone(UTC) - epoch).total_seconds())
    return epoch + timedelta(seconds=offset - offset % seconds)


def burst_counter_key(
    account: str, region: str, cluster: str, node_group: str, window_start: datetime
) -> str:
    return f"{account}#{region}#{cluster}#{node_group}#{_iso(window_start)}"


def cluster_arn(account: str, region: str, cluster: str) -> str:
    return f"arn:{partition_of(region)}:eks:{region}:{account}:cluster/{cluster}"


def _scope(signal: SpotSignal, node: EksNode | None) -> ClusterScope:
    """The cluster of the signal's instance: UNKNOWN_CLUSTER, with no ARN, when EC2 no longer knows it."""
    cluster = node.cluster if node else UNKNOWN_CLUSTER
    arn = cluster_arn(signal.account, signal.region, cluster) if node else ""
    return ClusterScope(account=signal.account, region=signal.region, cluster=cluster, cluster_arn=arn)


def notice_finding(signal: SpotSignal, node: EksNode | None, *, now: datetime, ttl: timedelta) -> Finding:
    """The spot_interruption_notice finding; `node` None means EC2 no longer knows the instance."""
    spec = SPOT_INTERRUPTION_NOTICE
    scope = _scope(signal, node)
    cluster = scope["cluster"]
    instance = node.instance if node else None
    where = f"{cluster}/{node.node_group}" if node and node.node_group else cluster
    if signal.kind is SignalKind.INTERRUPTION_WARNING and signal.deadline and signal.action:
        present, past = _VERBS[signal.action.value]
        verb = present if signal.deadline >= now else past
        title = f"Spot interruption: {signal.instance_id} in {where} {verb} at {_clock(signal.deadline, now)}"
        what = (
            f"EC2 sent a spot interruption warning for {signal.instance_id} at {_iso(signal.time)}: the "
            f"instance will {signal.action.value} at {_iso(signal.deadline)}."
        )
    else:
        title = (
            f"Spot rebalance recommendation: {signal.instance_id} in {where} "
            "is at elevated risk of interruption"
        )
        what = (
            f"EC2 sent a rebalance recommendation for {signal.instance_id} at {_iso(signal.time)}: the "
            "instance is at elevated risk of interruption; no deadline yet."
        )
    if node is None:
        what += (
            " DescribeInstances no longer returns the instance, so its cluster and node group are unknown;"
            " this finding holds only what the event says."
        )
    evidence: dict[str, Any] = {
        "event_id": signal.event_id,
        "signal": signal.kind.value,
        "instance_id": signal.instance_id,
        "instance_type": instance.instance_type if instance else None,
        "availability_zone": instance.availability_zone if instance else None,
        "cluster": cluster,
        "node_group": node.node_group if node else None,
        "node_group_kind": node.node_group_kind.value if node else None,
        "action": signal.action.value if signal.action else None,
        "event_time": _iso(signal.time),
        "deadline": _iso(signal.deadline) if signal.deadline else None,
        "instance_lifecycle": instance.lifecycle if instance else None,
        "instance_state": instance.state if instance else INSTANCE_NOT_FOUND,
    }
    return finding_from_spec(
        spec,
        **scope,
        resource=signal.instance_arn,
        evidence=evidence,
        source=signal.event_id,
        evaluated_at=now,
        seen_at=signal.time,
        title=title,
        description=f"{what} {spec.description}",
        expires_at=now + ttl,
    )


def burst_finding(
    signal: SpotSignal,
    node: EksNode,
    *,
    count: int,
    threshold: int,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    ttl: timedelta,
) -> Finding:
    spec = SPOT_INTERRUPTION_BURST
    group = node.node_group or ""
    scope = _scope(signal, node)
    resource = f"{scope['cluster_arn']}/{_GROUP_SEGMENT[node.node_group_kind]}/{group}"
    minutes = int((window_end - window_start).total_seconds() // 60)
    title = (
        f"Spot interruption burst: {count} interruptions in {node.cluster}/{group} "
        f"within {minutes} min ({_clock(window_start, now)}-{_clock(window_end, now)})"
    )
    return finding_from_spec(
        spec,
        **scope,
        resource=resource,
        title=title,
        description=(
            f"{count} spot interruption warnings (threshold {threshold}) reached node group {group} of "
            f"cluster {node.cluster} between {_iso(window_start)} and {_iso(window_end)}. {spec.description}"
        ),
        evidence={
            "cluster": node.cluster,
            "node_group": group,
            "node_group_kind": node.node_group_kind.value,
            "interruptions": count,
            "threshold": threshold,
            "window_start": _iso(window_start),
            "window_end": _iso(window_end),
            "triggering_event_id": signal.event_id,
            "triggering_instance_id": signal.instance_id,
            "instance_type": node.instance.instance_type,
            "availability_zone": node.instance.availability_zone,
        },
        source=signal.event_id,
        evaluated_at=now,
        seen_at=signal.time,
        expires_at=now + ttl,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clock(moment: datetime, now: datetime) -> str:
    """12:02:00Z on the day of `now`; the full date otherwise, so an old event is not misread."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%H:%M:%SZ") if moment.date() == now.astimezone(UTC).date() else _iso(moment)


def prefetch_bodies(bodies: Iterable[str], batch: SpotBatch) -> None:
    """Before a handler handles its SQS batch: look up every instance the batch names, in one call per region.

    Bad messages are skipped here; each still fails on its own when its record is handled.
    """
    signals = []
    for body in bodies:
        try:
            signals.append(parse_spot_body(body))
        except SpotEventError:
            continue
    batch.prefetch(signals)
