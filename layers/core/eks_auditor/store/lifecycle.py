"""The finding lifecycle as pure planning: stored findings + an evaluation -> the writes to make."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from eks_auditor.errors import denied
from eks_auditor.model.evaluation import Evaluation
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status, finding_id
from eks_auditor.store.schema import AUDIT_INCOMPLETE, evidence_json, owner_check, timestamp
from eks_auditor.suppressions import Suppression, match


@dataclass(frozen=True)
class Write:
    """One finding write: `change` is None for a quiet write (last_seen heartbeat or refreshed content)."""

    finding: Finding
    change: StateChange | None
    owner: str | None  # the check (claimed by this evaluation's stale guard) this write depends on
    # A quiet write that still moves the finding in the time-ordered indexes (a held audit_incomplete
    # finding recorded, or resolved quietly): its status changed without a published change.
    moved_at: datetime | None = None


_SCAN_SOURCES = ("scan-", "cli-scan-")  # entrypoints.scan_id_for and the CLI's scan ids


def is_scan(source: str) -> bool:
    """Whether an evaluation's source is a scan (scheduled or CLI), not an event audit."""
    return source.startswith(_SCAN_SOURCES)


@dataclass(frozen=True)
class IncompleteAlerts:
    """When an audit_incomplete finding is alerted (its opening published) rather than only recorded.

    A part that stays unreadable for `scans` consecutive scans, or for `after` since it first was (event
    audits count for the time, not as scans), alerts; a refusal (AccessDenied, 403) alerts at once. Until
    then the finding is stored OPEN and `held` (never a pass, in every query and report), and a held finding
    that becomes readable again resolves quietly: a throttling storm pages nobody. The streak is kept in the
    finding's evidence (`unreadable_since`, `scans`).
    """

    scans: int = 3
    after: timedelta = timedelta(hours=12)

    def due(self, reason: str, since: datetime, scans: int, at: datetime) -> bool:
        return denied(reason) or scans >= self.scans or at - since >= self.after


def _streak(old: Finding | None, source: str, at: datetime) -> tuple[datetime, int]:
    """(unreadable since, consecutive scans unreadable) including this evaluation."""
    counted = 1 if is_scan(source) else 0
    if old is None or old.status is not Status.OPEN:
        return at, counted
    since, scans = old.evidence.get("unreadable_since"), old.evidence.get("scans")
    start = datetime.fromisoformat(since) if isinstance(since, str) else old.first_seen
    previous = scans if isinstance(scans, int) else 1
    # The same scan delivered again (a retried message) is not one more scan.
    return start, previous + (counted if old.source != source else 0)


def change_id(finding_id: str, kind: ChangeKind, evaluated_at: datetime) -> str:
    """Deterministic, so a retried evaluation names the same change."""
    key = "\x1f".join((finding_id, kind.value, timestamp(evaluated_at)))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def state_change(
    kind: ChangeKind,
    finding: Finding,
    previous: Finding | None,
    changed_at: datetime,
    reason: str | None = None,
) -> StateChange:
    return StateChange(
        change_id=change_id(finding.id, kind, changed_at),
        kind=kind,
        finding=finding,
        previous_status=previous.status if previous else None,
        previous_severity=previous.severity if previous else None,
        changed_at=changed_at,
        reason=reason,
    )


def _next(finding: Finding, stored: Finding | None) -> Finding:
    """`finding` as the next state of `stored`: one sequence number later."""
    return finding.model_copy(update={"sequence": (stored.sequence if stored else 0) + 1})


def _content_differs(old: Finding, new: Finding) -> bool:
    return (
        old.title != new.title
        or old.description != new.description
        or old.remediation != new.remediation
        or old.references != new.references
        or old.cluster_arn != new.cluster_arn
        or old.expires_at != new.expires_at
        or evidence_json(old.evidence) != evidence_json(new.evidence)
    )


def _unsuppressed_reason(suppressions: Sequence[Suppression], finding: Finding, at: datetime) -> str:
    ended = [s for s in suppressions if not s.active(at) and s.matches(finding)]
    if ended:
        latest = max(ended, key=lambda s: (s.expires_at, s.id))
        return f"expired: {latest.describe()}"
    return "no suppression covers it any more (removed)"


def _transition(
    old: Finding, current: Finding, suppression: Suppression | None, suppressions: Sequence[Suppression]
) -> tuple[ChangeKind, str | None] | None:
    """The state change from a stored finding to a failing evaluation of it, if any."""
    if suppression is not None:
        return None if old.status is Status.SUPPRESSED else (ChangeKind.SUPPRESSED, suppression.describe())
    if old.status is Status.SUPPRESSED:
        return ChangeKind.UNSUPPRESSED, _unsuppressed_reason(suppressions, current, current.evaluated_at)
    if old.status is Status.RESOLVED:
        return ChangeKind.REOPENED, None
    if old.severity is not current.severity:
        return ChangeKind.SEVERITY_CHANGED, None
    return None


def plan_evaluation(
    evaluation: Evaluation,
    stored: Mapping[str, Finding],
    *,
    heartbeat: timedelta,
    suppressions: Sequence[Suppression] = (),
    incomplete_alerts: IncompleteAlerts | None = None,
) -> list[Write]:
    """The writes that bring the stored findings of one cluster in line with `evaluation`.

    A failing finding that an active suppression covers is SUPPRESSED (still evaluated, still resolved
    when it passes); when no suppression covers it any more it turns OPEN again (UNSUPPRESSED).
    audit_incomplete findings open (and resolve) silently until `incomplete_alerts` says they are due.
    """
    alerts = incomplete_alerts or IncompleteAlerts()
    at = evaluation.evaluated_at
    claimed = set(evaluation.checks_run)

    def guarded(finding: Finding) -> str | None:
        owner = owner_check(finding)
        return owner if owner in claimed else None

    writes: list[Write] = []
    failing_ids: set[str] = set()
    for reported in evaluation.failing:
        failing_ids.add(reported.id)
        old = stored.get(reported.id)
        if old is not None and old.evaluated_at > at:
            continue  # a newer evaluation already wrote it; the conditional write would fail anyway
        suppression = match(suppressions, reported, at)
        current = reported.model_copy(
            update={
                "status": Status.SUPPRESSED if suppression is not None else Status.OPEN,
                "last_seen": at,
                "evaluated_at": at,
                "source": evaluation.source,
                "resolved_at": None,
            }
        )
        owner = guarded(reported)
        if reported.check_id == AUDIT_INCOMPLETE and suppression is None and _alertable(old):
            write = _plan_incomplete(current, old, evaluation.source, owner, alerts, heartbeat)
            if write is not None:
                writes.append(write)
            continue
        if old is None:
            current = _next(current, None)
            if suppression is not None:
                change = state_change(ChangeKind.SUPPRESSED, current, None, at, suppression.describe())
            else:
                change = state_change(ChangeKind.OPENED, current, None, at)
            writes.append(Write(current, change, owner))
            continue
        current = current.model_copy(update={"first_seen": old.first_seen, "sequence": old.sequence})
        transition = _transition(old, current, suppression, suppressions)
        if transition is not None:
            kind, reason = transition
            current = _next(current, old)
            writes.append(Write(current, state_change(kind, current, old, at, reason), owner))
        elif (
            at - old.last_seen >= heartbeat
            or old.severity is not current.severity
            or _content_differs(old, current)
        ):
            # Unchanged state (a suppressed finding stays suppressed): no change, only a quiet refresh.
            quiet = current.model_copy(
                update={"status": old.status, "source": old.source, "resolved_at": old.resolved_at}
            )
            writes.append(Write(quiet, None, owner))

    scope = (evaluation.account, evaluation.region, evaluation.cluster)
    passed: set[str] = set()
    for check, resource in evaluation.passing:
        passed.add(finding_id(*scope, check, resource))
        passed.add(finding_id(*scope, AUDIT_INCOMPLETE, f"{check}:{resource}"))
    ran = set(evaluation.checks_run) - set(evaluation.errored_checks)
    for old in sorted(stored.values(), key=lambda finding: finding.id):
        # A suppressed finding that passes resolves too (silently: see eks_auditor.suppressions.alerts).
        if old.status is Status.RESOLVED or old.id in failing_ids or old.evaluated_at > at:
            continue
        owner = guarded(old)
        # Transient findings (spot notices) are born from events and end by TTL, not by an evaluation.
        implicit = owner in ran and old.expires_at is None
        if (old.id in passed or implicit) and old.held:
            writes.append(Write(_quietly_resolved(old, at, evaluation.source), None, owner, moved_at=at))
        elif old.id in passed or implicit:
            resolved = old.model_copy(
                update={
                    "status": Status.RESOLVED,
                    "resolved_at": at,
                    "evaluated_at": at,
                    "source": evaluation.source,
                    "sequence": old.sequence + 1,
                }
            )
            if old.check_id == AUDIT_INCOMPLETE:
                reason = f"{owner_check(old)} could be evaluated again"
            else:
                reason = f"{old.check_id} passed for {old.resource}"
            change = state_change(ChangeKind.RESOLVED, resolved, old, at, reason)
            writes.append(Write(resolved, change, owner))
    return writes


def _alertable(old: Finding | None) -> bool:
    """Whether the alert threshold decides this audit_incomplete write (a suppressed one stays suppressed)."""
    return old is None or old.status is not Status.SUPPRESSED


def _plan_incomplete(
    current: Finding,
    old: Finding | None,
    source: str,
    owner: str | None,
    alerts: IncompleteAlerts,
    heartbeat: timedelta,
) -> Write | None:
    """An audit_incomplete finding failing again: held (recorded, quiet), alerted now, or refreshed."""
    at = current.evaluated_at
    since, scans = _streak(old, source, at)
    evidence = {**current.evidence, "unreadable_since": timestamp(since), "scans": scans}
    current = current.model_copy(update={"evidence": evidence})
    if old is not None:
        current = current.model_copy(update={"first_seen": old.first_seen, "sequence": old.sequence})
    if old is not None and old.status is Status.OPEN and not old.held:
        # Alerted already: the streak goes on in the evidence, quietly.
        if at - old.last_seen >= heartbeat or _content_differs(old, current):
            return Write(current, None, owner)
        return None
    if alerts.due(str(current.evidence.get("reason", "")), since, scans, at):
        current = _next(current, old)
        if old is not None and old.sequence > 0:
            # Alerted in an earlier streak: what subscribers saw last is its resolution (a held finding
            # is OPEN in the table only).
            seen = old.model_copy(update={"status": Status.RESOLVED, "held": False})
            return Write(current, state_change(ChangeKind.REOPENED, current, seen, at), owner)
        return Write(current, state_change(ChangeKind.OPENED, current, None, at), owner)
    held = current.model_copy(update={"held": True})
    if old is None or old.status is Status.RESOLVED:
        return Write(held, None, owner, moved_at=at)
    if _content_differs(old, held) or at - old.last_seen >= heartbeat:
        return Write(held, None, owner)
    return None


def _quietly_resolved(old: Finding, at: datetime, source: str) -> Finding:
    """A held audit_incomplete finding readable again: it was never alerted, so its end is not either."""
    return old.model_copy(
        update={
            "status": Status.RESOLVED,
            "resolved_at": at,
            "evaluated_at": at,
            "source": source,
            "held": False,
        }
    )


def plan_deletion(stored: Mapping[str, Finding], *, source: str, evaluated_at: datetime) -> list[Write]:
    """The cluster is gone: every OPEN or SUPPRESSED finding resolves."""
    writes: list[Write] = []
    for old in sorted(stored.values(), key=lambda finding: finding.id):
        if old.status is Status.RESOLVED or old.evaluated_at > evaluated_at:
            continue
        if old.held:
            resolved = _quietly_resolved(old, evaluated_at, source)
            writes.append(Write(resolved, None, owner_check(old), moved_at=evaluated_at))
            continue
        resolved = old.model_copy(
            update={
                "status": Status.RESOLVED,
                "resolved_at": evaluated_at,
                "evaluated_at": evaluated_at,
                "source": source,
                "sequence": old.sequence + 1,
            }
        )
        change = state_change(ChangeKind.RESOLVED, resolved, old, evaluated_at, "the cluster was deleted")
        writes.append(Write(resolved, change, owner_check(old)))
    return writes


def plan_transient(
    finding: Finding, stored: Finding | None, *, suppressions: Sequence[Suppression] = ()
) -> Write | None:
    """The write for an event-born finding (spot notice or burst); None when this event was recorded already.

    The same suppressions as plan_evaluation apply: a finding an active suppression covers is stored
    SUPPRESSED (no alert); the first event after the suppression ended or was removed turns it UNSUPPRESSED
    (alerted). Transient findings are never re-evaluated, so their next event is their next evaluation.
    """
    if stored is not None and stored.source == finding.source:
        return None  # the same event delivered again (EventBridge and SQS deliver at least once)
    at = finding.evaluated_at
    suppression = match(suppressions, finding, at)
    if suppression is not None:
        current = finding.model_copy(update={"status": Status.SUPPRESSED})
        if stored is not None and stored.status is Status.SUPPRESSED:
            # Still accepted: the new event refreshes the record quietly, as a re-scan refreshes a finding.
            quiet = {"first_seen": stored.first_seen, "sequence": stored.sequence}
            return Write(current.model_copy(update=quiet), None, None)
        current = _next(current, stored)
        change = state_change(ChangeKind.SUPPRESSED, current, stored, at, suppression.describe())
        return Write(current, change, None)
    if stored is not None and stored.status is Status.SUPPRESSED:
        current = _next(finding.model_copy(update={"first_seen": stored.first_seen}), stored)
        reason = _unsuppressed_reason(suppressions, current, at)
        return Write(current, state_change(ChangeKind.UNSUPPRESSED, current, stored, at, reason), None)
    # A new event for an OPEN (or RESOLVED) transient finding opens it again, as a new occurrence.
    current = _next(finding, stored)
    return Write(current, state_change(ChangeKind.OPENED, current, None, at), None)
