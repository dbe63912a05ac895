"""The engine: collect -> check -> store -> notify, for one cluster at a time.

One error boundary per cluster: a failure auditing one cluster is recorded (as audit_incomplete or a
raised AuditFailed for the caller's batch item) and never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from eks_auditor.checks.incomplete import AUDIT_INCOMPLETE
from eks_auditor.checks.registry import CHECKS, select
from eks_auditor.collect.errors import ClusterUnavailable
from eks_auditor.errors import denied
from eks_auditor.metrics import MetricSink, NullSink
from eks_auditor.model.check import Check, CheckSpec, Outcome, Result, could_not_evaluate
from eks_auditor.model.evaluation import Evaluation
from eks_auditor.model.finding import ClusterScope, Finding, StateChange, finding_from_spec
from eks_auditor.model.part import Part
from eks_auditor.model.pipeline import PipelineSnapshot
from eks_auditor.model.snapshot import ClusterSnapshot
from eks_auditor.publish import Publisher

if TYPE_CHECKING:
    from eks_auditor.notify import Notifier
    from eks_auditor.securityhub import SecurityHubExporter
    from eks_auditor.store import FindingStore

logger = logging.getLogger(__name__)


class SnapshotSource(Protocol):
    def collect(
        self, region: str, cluster_name: str, parts: frozenset[str] | None = None
    ) -> ClusterSnapshot: ...


class Subject(Protocol):
    """What an evaluation is about: a ClusterSnapshot, or a PipelineSnapshot (cluster "-")."""

    @property
    def account(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def arn(self) -> str: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


def required_parts(checks: Iterable[Check]) -> frozenset[Part]:
    """The snapshot parts the given checks read; the collector fetches only these."""
    parts = {Part.CLUSTER}
    for check in checks:
        parts.update(check.spec.parts)
    return frozenset(parts)


def missing_parts(snapshot: ClusterSnapshot | PipelineSnapshot, spec: CheckSpec) -> list[Part]:
    """The required parts that were not collected (empty: run the check).

    This is the only "was it collected?" gate: checks read their `requires` parts as present. Which of
    the `requires_any` parts a check needs depends on the data (cluster_admin_broad reads aws-auth or
    access entries by the cluster's authentication mode), so the check decides that one itself.
    """
    return [part for part in spec.requires if getattr(snapshot, part, None) is None]


def evaluate(snapshot: ClusterSnapshot, checks: Sequence[Check]) -> list[Outcome]:
    """Run each check on a cluster snapshot (see evaluate_each)."""
    return evaluate_each(snapshot, checks, lambda check: check.evaluate(snapshot))


def evaluate_each(
    snapshot: ClusterSnapshot | PipelineSnapshot,
    checks: Sequence[Check],
    run: Callable[[Check], list[Outcome]],
) -> list[Outcome]:
    """Run each check in its own error boundary; a missing snapshot part is ERROR, never PASS."""
    outcomes: list[Outcome] = []
    for check in checks:
        missing = missing_parts(snapshot, check.spec)
        if missing:
            outcomes.append(could_not_evaluate(check.spec, snapshot.arn, _missing_reason(snapshot, missing)))
            continue
        try:
            outcomes.extend(run(check))
        except Exception as exc:  # one check's bug must not hide the others' results
            logger.exception("check %s raised on %s", check.spec.id, snapshot.arn)
            outcomes.append(
                could_not_evaluate(check.spec, snapshot.arn, f"check raised {type(exc).__name__}: {exc}")
            )
    return outcomes


def _missing_reason(snapshot: ClusterSnapshot | PipelineSnapshot, missing: Sequence[Part]) -> str:
    if isinstance(snapshot, ClusterSnapshot) and snapshot.cluster is None and Part.CLUSTER in snapshot.gaps:
        # Nothing else is collected without DescribeCluster: its failure is every check's reason.
        return f"could not collect cluster: {snapshot.gaps[Part.CLUSTER]}"
    reasons = "; ".join(f"{part}: {snapshot.gaps.get(part, 'not collected')}" for part in missing)
    return f"could not collect {reasons}"


def to_evaluation(
    snapshot: Subject,
    checks: Sequence[Check],
    outcomes: Sequence[Outcome],
    *,
    source: str,
    evaluated_at: datetime,
) -> Evaluation:
    specs = {check.spec.id: check.spec for check in checks}
    failing: list[Finding] = []
    passing: list[tuple[str, str]] = []
    not_applicable: list[tuple[str, str]] = []
    errored: dict[str, None] = {}
    for outcome in outcomes:
        if outcome.result is Result.FAIL:
            failing.append(_finding(snapshot, specs[outcome.check_id], outcome, source, evaluated_at))
        elif outcome.result is Result.ERROR:
            errored[outcome.check_id] = None
            failing.append(_incomplete(snapshot, outcome, source, evaluated_at))
        else:
            passing.append((outcome.check_id, outcome.resource))
            if outcome.result is Result.NOT_APPLICABLE:
                not_applicable.append((outcome.check_id, outcome.resource))
    return Evaluation(
        **_scope(snapshot),
        source=source,
        evaluated_at=evaluated_at,
        checks_run=tuple(specs),
        failing=tuple(failing),
        passing=tuple(passing),
        errored_checks=tuple(errored),
        not_applicable=tuple(not_applicable),
    )


def _scope(snapshot: Subject) -> ClusterScope:
    """The cluster an evaluation and its findings belong to."""
    return ClusterScope(
        account=snapshot.account, region=snapshot.region, cluster=snapshot.name, cluster_arn=snapshot.arn
    )


def _finding(
    snapshot: Subject, spec: CheckSpec, outcome: Outcome, source: str, evaluated_at: datetime
) -> Finding:
    return finding_from_spec(
        spec,
        **_scope(snapshot),
        resource=outcome.resource,
        evidence=outcome.evidence,
        source=source,
        evaluated_at=evaluated_at,
        severity=outcome.severity,
        title=outcome.title,
        description=outcome.description,
        remediation=outcome.remediation,
    )


def _incomplete(snapshot: Subject, outcome: Outcome, source: str, evaluated_at: datetime) -> Finding:
    reason = outcome.reason or "unknown reason"
    return finding_from_spec(
        AUDIT_INCOMPLETE,
        **_scope(snapshot),
        resource=f"{outcome.check_id}:{outcome.resource}",
        evidence={"check_id": outcome.check_id, "resource": outcome.resource, "reason": reason},
        source=source,
        evaluated_at=evaluated_at,
        title=f"{outcome.check_id} could not be evaluated",
        description=f"{AUDIT_INCOMPLETE.description} Reason: {reason}",
    )


@dataclass
class AuditResult:
    region: str
    cluster: str
    outcomes: list[Outcome] = field(default_factory=list)
    evaluation: Evaluation | None = None
    changes: list[StateChange] = field(default_factory=list)
    deleted: bool = False
    snapshot: ClusterSnapshot | None = None

    @property
    def failing(self) -> tuple[Finding, ...]:
        return self.evaluation.failing if self.evaluation else ()


class Auditor:
    """Audits clusters; stores and publishes when given a store and a notifier (the CLI may omit both)."""

    def __init__(
        self,
        collector: SnapshotSource,
        *,
        store: FindingStore | None = None,
        notifier: Notifier | None = None,
        metrics: MetricSink | None = None,
        clock: Callable[[], datetime] = utcnow,
        security_hub: SecurityHubExporter | None = None,
        publisher: Publisher | None = None,
        collector_for: Callable[[str], SnapshotSource] | None = None,
    ) -> None:
        self.collector = collector
        # Organization mode: the collector of the audited account (its own session and per-scan caches).
        self.collector_for = collector_for
        self.store = store
        self.metrics: MetricSink = metrics or NullSink()
        self.clock = clock
        self.publisher = publisher or Publisher(
            store, notifier, security_hub=security_hub, metrics=self.metrics
        )

    def audit(
        self,
        region: str,
        cluster: str,
        *,
        check_ids: Iterable[str] | None = None,
        source: str,
        account: str | None = None,
    ) -> AuditResult:
        """Audit one cluster. Raises ClusterNotFound for a cluster that does not exist.

        When DescribeCluster itself fails (AccessDenied, unreachable) and the account is known, every
        requested check is recorded as could-not-evaluate: never a pass, and the scan goes on.
        """
        checks = _known(check_ids)
        try:
            collector = self.collector_for(account) if self.collector_for and account else self.collector
            snapshot = collector.collect(region, cluster, required_parts(checks))
        except ClusterUnavailable as exc:
            if account is None:
                raise
            snapshot = ClusterSnapshot(
                account=account,
                region=region,
                name=cluster,
                arn=f"arn:aws:eks:{region}:{account}:cluster/{cluster}",
                collected_at=self.clock(),
                gaps={Part.CLUSTER: exc.reason},
            )
        evaluated_at = snapshot.collected_at
        outcomes = evaluate(snapshot, checks)
        evaluation = to_evaluation(snapshot, checks, outcomes, source=source, evaluated_at=evaluated_at)
        result = AuditResult(
            region=region, cluster=cluster, outcomes=outcomes, evaluation=evaluation, snapshot=snapshot
        )
        self.metrics.count("ClustersAudited")
        report_incomplete(outcomes, f"{region}/{cluster}", self.metrics)
        if self.store is not None:
            result.changes = self.store.apply_evaluation(evaluation)
            self.publish(result.changes, counted_at=evaluated_at)
        return result

    def resolve_deleted(self, account: str, region: str, cluster: str, *, source: str) -> AuditResult:
        result = AuditResult(region=region, cluster=cluster, deleted=True)
        if self.store is not None:
            result.changes = self.store.resolve_cluster(
                account, region, cluster, source=source, evaluated_at=self.clock()
            )
            self.publish(result.changes)
        return result

    def publish(self, changes: Sequence[StateChange], *, counted_at: datetime | None = None) -> None:
        """Publish through the one publisher (eks_auditor.publish), metrics counted once per change."""
        self.publisher.publish(changes, counted_at=counted_at)


def report_incomplete(outcomes: Sequence[Outcome], where: str, metrics: MetricSink) -> None:
    """Checks that could not run: `ChecksIncomplete`, and a WARNING line (a throttle or timeout passes);
    those refused (AccessDenied, 403: the auditor's role or RBAC lacks a grant) are also `ChecksDenied` and
    an ERROR line, as their audit_incomplete findings alert at once (store.lifecycle.IncompleteAlerts)."""
    errors = [o for o in outcomes if o.result is Result.ERROR]
    if not errors:
        return
    metrics.count("ChecksIncomplete", len(errors))
    refused = [o for o in errors if denied(o.reason or "")]
    if refused:
        metrics.count("ChecksDenied", len(refused))
        logger.error(
            "audit of %s denied for %d check(s): %s",
            where,
            len(refused),
            "; ".join(f"{o.check_id}: {o.reason}" for o in refused),
        )
    others = [o for o in errors if o not in refused]
    if others:
        logger.warning(
            "audit of %s incomplete for %d check(s): %s",
            where,
            len(others),
            "; ".join(f"{o.check_id}: {o.reason}" for o in others),
        )


def _known(check_ids: Iterable[str] | None) -> list[Check]:
    if check_ids is None:
        return select()
    wanted = set(check_ids)
    return [check for check in CHECKS.values() if check.spec.id in wanted]
