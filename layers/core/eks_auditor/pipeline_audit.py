"""Audits the auditor's own event pipeline for one account-region: collect -> pipeline checks -> store.

Findings are stored under the pseudo-cluster "-" through the same store API and published through the
same Auditor.publish as cluster findings, so they alert like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from eks_auditor.audit import (
    Auditor,
    AuditResult,
    evaluate_each,
    report_incomplete,
    to_evaluation,
    utcnow,
)
from eks_auditor.checks.registry import REGION_CHECKS
from eks_auditor.model.check import Check, Outcome
from eks_auditor.model.part import Part
from eks_auditor.model.pipeline import ACCOUNT_REGION, PipelineSnapshot

if TYPE_CHECKING:
    from eks_auditor.collect.pipeline import PipelineCollector


class ScanRecorder(Protocol):
    def record_scan(self, account: str, region: str, *, at: datetime) -> bool: ...


def select_region_checks(check_ids: Iterable[str] | None = None, *, central: bool = True) -> list[Check]:
    """The account-region checks asked for; a member account-region (`central` False) has no queues of
    the auditor, so the queue checks run for the central account only."""
    checks = list(REGION_CHECKS.values())
    if not central:
        checks = [check for check in checks if Part.QUEUES not in check.spec.requires]
    if check_ids is None:
        return checks
    wanted = set(check_ids)
    return [check for check in checks if check.spec.id in wanted]


def evaluate_region(snapshot: PipelineSnapshot, checks: Sequence[Check]) -> list[Outcome]:
    """Run each check on an account-region's pipeline snapshot (see evaluate_each)."""
    return evaluate_each(snapshot, checks, lambda check: check.evaluate_region(snapshot))


class PipelineAuditor:
    """Evaluates the pipeline checks of one account-region; stores and publishes through `auditor`."""

    def __init__(
        self,
        collector: PipelineCollector,
        auditor: Auditor,
        *,
        scans: ScanRecorder | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.collector = collector
        self.auditor = auditor
        self.scans = scans
        self.clock = clock

    def audit(
        self,
        account: str,
        region: str,
        *,
        source: str,
        check_ids: Iterable[str] | None = None,
        scheduled: bool = False,
    ) -> AuditResult:
        """Audit the pipeline of `account` in `region`; a scheduled run becomes the next "previous scan"."""
        checks = select_region_checks(check_ids, central=not self.collector.member)
        parts = frozenset(part for check in checks for part in check.spec.requires) or frozenset(
            {Part.TRAILS}
        )
        now = self.clock()
        snapshot = self.collector.collect(account, region, parts, now=now)
        outcomes = evaluate_region(snapshot, checks)
        evaluation = to_evaluation(snapshot, checks, outcomes, source=source, evaluated_at=now)
        result = AuditResult(region=region, cluster=ACCOUNT_REGION, outcomes=outcomes, evaluation=evaluation)
        report_incomplete(outcomes, f"the pipeline of {account}/{region}", self.auditor.metrics)
        store = self.auditor.store
        if store is not None:
            result.changes = store.apply_evaluation(evaluation)
            self.auditor.publish(result.changes, counted_at=now)
        if scheduled and self.scans is not None:
            self.scans.record_scan(account, region, at=now)
        return result
