"""What each Lambda does with one unit of input; the handlers in functions/ only parse and call these."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from eks_auditor.audit import AuditResult
from eks_auditor.concurrency import Attempt, Limiter, map_bounded
from eks_auditor.dispatch import CoalescedAudits, Dispatcher
from eks_auditor.metrics import MetricSink
from eks_auditor.model.events import (
    LIST_ACCOUNT_REGION,
    MalformedMessage,
    parse_cloudtrail_event,
    parse_cluster_audit_message,
)
from eks_auditor.model.pipeline import ACCOUNT_REGION
from eks_auditor.organization import (
    AccountSelection,
    Coverage,
    CoverageStatus,
    RegionCoverage,
    audit_messages,
    count_coverage,
    list_account_region,
    list_accounts,
    listing_messages,
    plan_targets,
)
from eks_auditor.triggers import AuditRequest, InvalidEvent, requests_from_event

logger = logging.getLogger(__name__)


def summarize(results: list[AuditResult]) -> dict[str, Any]:
    """A JSON-serializable summary (stored by the idempotency layer, printed by replay)."""
    return {
        "audits": [
            {
                "region": r.region,
                "cluster": r.cluster,
                "deleted": r.deleted,
                "failing": len(r.failing),
                "changes": [
                    {"kind": c.kind.value, "check_id": c.finding.check_id, "finding": c.finding.id}
                    for c in r.changes
                ],
            }
            for r in results
        ]
    }


def audit_cloudtrail_event(
    event: Mapping[str, Any],
    dispatcher: Dispatcher,
    heartbeats: Any = None,
    *,
    admit: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """Re-audit what one CloudTrail-via-EventBridge event can have changed. Raises InvalidEvent.

    `admit(account)` (organization mode) decides whether the event's account is audited at all; a
    rejected event is counted by the gate and dropped (no retry can admit it). With `heartbeats`
    (eks_auditor.store.heartbeat.HeartbeatStore), note that the pipeline delivered an event of the
    account-region: a failed call (errorCode) was delivered too.
    """
    if admit is not None and not admit(str(event.get("account", ""))):
        return {"skipped": "account", "account": event.get("account"), "audits": []}
    requests = requests_from_event(event)
    if heartbeats is not None:
        record_heartbeat(event, heartbeats)
    if not requests:
        logger.info("event %s skipped: the API call failed (errorCode set)", event.get("id"))
        return {"skipped": "errorCode", "audits": []}
    results: list[AuditResult] = []
    for request in requests:
        results.extend(dispatcher.handle(request))
    return summarize(results)


def record_heartbeat(event: Mapping[str, Any], heartbeats: Any) -> None:
    from datetime import UTC, datetime

    account, region = event.get("account"), event.get("region")
    if not account or not region:
        return
    detail = event.get("detail")
    name = detail.get("eventName") if isinstance(detail, Mapping) else None
    heartbeats.record_event(
        str(account),
        str(region),
        event_id=str(event.get("id") or ""),
        event_name=str(name or event.get("detail-type") or ""),
        at=datetime.now(UTC),
    )


class EventBatch:
    """One event_audit invocation: every record parsed and routed first, each cluster then audited once.

    `add` never raises: a record that cannot be parsed or routed keeps its error, raised when that record
    is handled (`event`), so it fails alone. `audit` returns what `audit_cloudtrail_event` returns for the
    event, from the batch's coalesced audits.

    With `heartbeats` (eks_auditor.store.heartbeat.HeartbeatStore), `audit` also notes that the pipeline
    delivered an event of the event's account-region (a failed call, errorCode set, was delivered too):
    one heartbeat write per account-region per batch, like the coalesced audits. A write that fails
    fails its record, and the next event of that account-region tries again.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        heartbeats: Any = None,
        admit: Callable[[str], bool] | None = None,
    ) -> None:
        self.audits = CoalescedAudits(dispatcher)
        self.heartbeats = heartbeats
        self.admit = admit
        self._events: dict[str, dict[str, Any] | Exception] = {}
        self._skipped: set[str] = set()
        self._outsiders: set[str] = set()
        self._heartbeats_recorded: set[tuple[str, str]] = set()

    def add(self, message_id: str, body: str) -> None:
        try:
            event = parse_event_body(body)
            if self.admit is not None and not self.admit(str(event.get("account", ""))):
                # Organization mode: an account outside the organization or the allow-list is counted by
                # the gate and dropped (no retry can admit it); nothing of it is routed or audited.
                self._outsiders.add(str(event["id"]))
                self._events[message_id] = event
                return
            requests = requests_from_event(event)
            self.audits.add(str(event["id"]), requests)
        except RecursionError:
            # Routing walks the event's parameters: nesting past the stack is bad input, not a crash.
            self._events[message_id] = InvalidEvent(f"message {message_id}: the event is nested too deeply")
            return
        except Exception as exc:  # raised again by `event`, failing this record only
            self._events[message_id] = exc
            return
        if not requests:
            self._skipped.add(str(event["id"]))
        self._events[message_id] = event

    def event(self, message_id: str) -> dict[str, Any]:
        """The record's parsed event; raises the error its parsing or routing met."""
        event = self._events.get(message_id)
        if event is None:
            raise InvalidEvent(f"message {message_id} was not part of this batch")
        if isinstance(event, Exception):
            raise event
        return event

    def audit(self, event: Mapping[str, Any]) -> dict[str, Any]:
        if str(event["id"]) in self._outsiders:
            # Not an audited account: no heartbeat either (the gate counted it).
            return {"skipped": "account", "account": event.get("account"), "audits": []}
        self._heartbeat(event)
        if str(event["id"]) in self._skipped:
            logger.info("event %s skipped: the API call failed (errorCode set)", event.get("id"))
            return {"skipped": "errorCode", "audits": []}
        return summarize(self.audits.results(str(event["id"])))

    def _heartbeat(self, event: Mapping[str, Any]) -> None:
        if self.heartbeats is None:
            return
        source = (str(event.get("account") or ""), str(event.get("region") or ""))
        if source in self._heartbeats_recorded:
            return
        record_heartbeat(event, self.heartbeats)
        self._heartbeats_recorded.add(source)


def plan_event_batch(
    records: Iterable[Mapping[str, Any]],
    dispatcher: Dispatcher,
    heartbeats: Any = None,
    *,
    admit: Callable[[str], bool] | None = None,
) -> EventBatch:
    """Route an SQS batch of CloudTrail events (the Lambda event's Records) before any audit runs.

    `admit(account)` (organization mode) decides whether an event's account is audited at all.
    """
    batch = EventBatch(dispatcher, heartbeats, admit)
    for record in records:
        batch.add(str(record.get("messageId")), str(record.get("body", "")))
    return batch


def parse_queued_cluster(body: str) -> AuditRequest:
    """A scheduler fan-out message (model.events.ClusterAuditMessage) -> AuditRequest. Raises InvalidEvent."""
    try:
        message = parse_cluster_audit_message(body)
    except MalformedMessage as exc:
        raise InvalidEvent(str(exc)) from exc
    return AuditRequest(
        source=message.scan_id,
        event_name="ScheduledScan",
        account=message.account,
        region=message.region,
        cluster=message.cluster,
        delete_cluster=message.deleted,
    )


def parse_event_body(body: str) -> dict[str, Any]:
    """An SQS body holding a CloudTrail EventBridge event, its envelope validated. Raises InvalidEvent."""
    try:
        return parse_cloudtrail_event(body)
    except MalformedMessage as exc:
        raise InvalidEvent(str(exc)) from exc


def audit_queued_cluster(
    body: str,
    dispatcher: Dispatcher,
    pipeline: Any = None,
    *,
    send_digest: Callable[..., str | None] | None = None,
    lister: Callable[..., dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One fan-out message: a cluster, or (cluster "-") the pipeline of an account-region, or (cluster
    "*", organization mode) the listing of an account-region with `lister(account, region, scan_id,
    digest=...)`; on the daily run, a cluster's digest follows its audit (the fresh state)."""
    request = parse_queued_cluster(body)
    if request.cluster == LIST_ACCOUNT_REGION:
        if lister is None:
            raise InvalidEvent("an account-region listing message reached a worker without organization mode")
        listed = parse_cluster_audit_message(body)
        return lister(request.account, request.region, request.source, digest=listed.digest)
    if request.cluster == ACCOUNT_REGION:
        if pipeline is None:
            raise InvalidEvent("a pipeline audit message reached a worker without a pipeline auditor")
        auditor = pipeline(request.region, account=request.account)
        return summarize(
            [auditor.audit(request.account, request.region, source=request.source, scheduled=True)]
        )
    summary = summarize(dispatcher.handle(request))
    message = parse_cluster_audit_message(body)
    if message.digest and not message.deleted and send_digest is not None:
        at = datetime.now(UTC)
        summary["digest"] = send_digest(message.account, message.region, message.cluster, at=at)
    return summary


_SCAN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


def scan_id_for(event: Any, request_id: str) -> str:
    """The scan id: the scheduler's execution id when the input carries a sane one, else the request id."""
    raw = event.get("id") if isinstance(event, Mapping) else None
    if isinstance(raw, str) and _SCAN_ID.fullmatch(raw):
        return f"scan-{raw}"
    return f"scan-{request_id}"


def is_daily_digest(event: Any) -> bool:
    """Whether the scheduler's input is the daily digest schedule's (template: DailyDigestSchedule).

    The input is the scheduler's own, but a malformed one must not stop the scan: anything else is no.
    """
    detail = event.get("detail") if isinstance(event, Mapping) else None
    return isinstance(detail, Mapping) and detail.get("digest") == "daily"


def audit_queued_batch(
    messages: Sequence[tuple[str, str]],
    dispatcher: Dispatcher,
    limiter: Limiter,
    pipeline: Any = None,
    *,
    send_digest: Callable[..., str | None] | None = None,
    lister: Callable[..., dict[str, Any]] | None = None,
) -> dict[str, Attempt[dict[str, Any]]]:
    """Audit a worker batch's clusters concurrently: message id -> its summary or its error.

    Messages naming one cluster run in turn, in batch order (a deletion after an audit stays after it);
    different clusters run in parallel under `limiter`, keyed by account-region. The caller reports each
    message's outcome to the batch processor, so partial-batch failure is kept per message. A message
    for the pseudo-cluster "-" audits the account-region's pipeline with `pipeline` (region -> auditor,
    see audit_queued_cluster), under the same limiter as that account-region's clusters. `send_digest`
    as for audit_queued_cluster (the daily digest follows its cluster's audit); `lister` lists an
    account-region for the organization scan's "*" messages (see list_queued_account_region).
    """
    groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    keys: dict[tuple[str, ...], tuple[str, str]] = {}
    for message_id, body in messages:
        try:
            request = parse_queued_cluster(body)
            group: tuple[str, ...] = (request.account, request.region, request.cluster or "")
            keys[group] = (request.account, request.region)
        except InvalidEvent:
            group = ("invalid", message_id)
            keys[group] = ("", "")
        groups.setdefault(group, []).append((message_id, body))

    def run(group: tuple[str, ...]) -> dict[str, Attempt[dict[str, Any]]]:
        done: dict[str, Attempt[dict[str, Any]]] = {}
        for message_id, body in groups[group]:
            try:
                done[message_id] = Attempt(
                    value=audit_queued_cluster(
                        body, dispatcher, pipeline, send_digest=send_digest, lister=lister
                    )
                )
            except Exception as exc:  # each message fails on its own
                done[message_id] = Attempt(error=exc)
        return done

    outcomes: dict[str, Attempt[dict[str, Any]]] = {}
    for attempt in map_bounded(run, list(groups), key=keys.__getitem__, limiter=limiter):
        if attempt.value is not None:
            outcomes.update(attempt.value)
    return outcomes


def fan_out_scan(
    *,
    account: str,
    regions: tuple[str, ...],
    scan_id: str,
    list_clusters: Any,
    known_clusters: Any,
    sqs: Any,
    queue_url: str,
    digest: bool = False,
) -> dict[str, Any]:
    """Enumerate clusters per region and send one audit message per cluster (10 per SendMessageBatch).

    Clusters the table knows but ListClusters no longer returns were deleted while no event reached
    us: they get a message too, so the worker resolves their findings. Each region also gets one message
    for the pseudo-cluster "-": the worker audits the auditor's own pipeline there.
    """
    messages: list[dict[str, Any]] = []
    for region in regions:
        live = list_clusters(region)
        gone = sorted(set(known_clusters(account, region)) - set(live))
        messages += [
            {"account": account, "region": region, "cluster": c, "scan_id": scan_id}
            | ({"digest": True} if digest else {})
            for c in live
        ]
        messages += [
            {"account": account, "region": region, "cluster": c, "scan_id": scan_id, "deleted": True}
            for c in gone
        ]
        messages.append({"account": account, "region": region, "cluster": ACCOUNT_REGION, "scan_id": scan_id})
    enqueue(sqs, queue_url, messages)
    return {"scan_id": scan_id, "enqueued": len(messages), "regions": list(regions)}


def enqueue(sqs: Any, queue_url: str, messages: Sequence[Mapping[str, Any]]) -> None:
    """Send audit messages, 10 per SendMessageBatch; raises when any could not be enqueued."""
    failed: list[str] = []
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": json.dumps(m)} for i, m in enumerate(chunk)],
        )
        failed += [
            f"{chunk[int(f['Id'])]['cluster']}: {f.get('Message')}" for f in response.get("Failed", [])
        ]
    if failed:
        # Raising makes the scheduler retry the fan-out; duplicates are harmless (audits are idempotent).
        raise RuntimeError(f"could not enqueue {len(failed)} audit(s): {'; '.join(failed)}")


def fan_out_organization(
    *,
    organizations: Any,
    regions: Sequence[str],
    selection: AccountSelection,
    scan_id: str,
    sqs: Any,
    queue_url: str,
    record_coverage: Callable[[Coverage], None],
    metrics: MetricSink,
    digest: bool = False,
) -> dict[str, Any]:
    """The organization schedule, first stage: accounts (ListAccounts) x regions, one listing message per
    account-region (the pseudo-cluster "*"). It reads no member account: each worker lists its
    account-region in that account-region's own error boundary (list_queued_account_region) and sends one
    message per cluster. The coverage record starts with every planned account-region `pending`.
    """
    accounts = list_accounts(organizations)
    targets, skipped = plan_targets(accounts, regions, selection)
    pending = [RegionCoverage(account, region, CoverageStatus.PENDING) for account, region in targets]
    coverage = Coverage(scan_id, pending + skipped)
    record_coverage(coverage)
    count_coverage(skipped, metrics)
    enqueue(sqs, queue_url, listing_messages(targets, scan_id, digest=digest))
    return {"scan_id": scan_id, "enqueued": len(targets), "coverage": coverage.counts()}


def list_queued_account_region(
    account: str,
    region: str,
    scan_id: str,
    *,
    list_clusters: Callable[[str, str], list[str]],
    known_clusters: Callable[[str, str], list[str]],
    sqs: Any,
    queue_url: str,
    record_entry: Callable[[str, RegionCoverage], None],
    metrics: MetricSink,
    digest: bool = False,
    pipeline: bool = True,
) -> dict[str, Any]:
    """The organization scan's second stage, on a worker: list one account-region and send one audit
    message per cluster (and its pipeline audit, `pipeline`).

    A failed listing (AssumeRole refused, AccessDenied, throttled) is this account-region's alone: it
    is recorded `incomplete`, its known clusters are audited (never resolved), and the message succeeds
    (a retry would not change the scan's outcome). A failed send or coverage write raises: the message
    is retried (duplicate audit messages are harmless, audits are idempotent).
    """
    listing = list_account_region(account, region, list_clusters=list_clusters, known_clusters=known_clusters)
    messages = audit_messages(listing, scan_id, digest=digest, pipeline=pipeline)
    enqueue(sqs, queue_url, messages)
    record_entry(scan_id, listing.coverage)
    count_coverage([listing.coverage], metrics)
    return {
        "scan_id": scan_id,
        "account": account,
        "region": region,
        "coverage": listing.coverage.status.value,
        "reason": listing.coverage.reason,
        "enqueued": len(messages),
    }


def prefetch_batch(bodies: Iterable[str], collector: Any) -> None:
    """Before a worker audits its batch: one DescribeInstanceTypes (and one DescribeAutoScalingGroups for
    the self-managed groups) for all the batch's clusters of a region.

    Bad messages are skipped here; each still fails on its own when its record is processed.
    """
    by_region: dict[str, list[str]] = {}
    for body in bodies:
        try:
            request = parse_queued_cluster(body)
        except InvalidEvent:
            continue
        pseudo = request.cluster in (ACCOUNT_REGION, LIST_ACCOUNT_REGION)
        if request.cluster and not pseudo and not request.delete_cluster:
            by_region.setdefault(request.region, []).append(request.cluster)
    for region, clusters in by_region.items():
        collector.expect_clusters(region, clusters)
        collector.prefetch_instance_types(region, clusters)
