"""Posture: a verdict per cluster x control of one framework, and per control the pass rate across clusters.

Cluster x control, from the control's full checks only (frameworks.py says why):
  FAIL            a full check fails on a resource no active suppression covers
  EXCEPTION       a full check fails and every failure is suppressed (shown, not hidden)
  INCOMPLETE      no failure, and a full check is INCOMPLETE, stale, or was never evaluated on the cluster
  NOT_APPLICABLE  every full check is NOT_APPLICABLE
  PASS            otherwise: every full check passes (or is not applicable)
A control without a full check is NOT_ASSESSED on every cluster. Pass rate = PASS / (PASS + FAIL +
EXCEPTION); INCOMPLETE and NOT_APPLICABLE are counted beside it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import Field, computed_field

from eks_auditor.compliance.frameworks import Control, Framework
from eks_auditor.compliance.verdict import CheckVerdict, Verdict
from eks_auditor.model.frozen import FrozenModel
from eks_auditor.suppressions import Suppression

# A verdict older than this is stale: the full scan (ScanSchedule, every 6 hours by default) renews every
# verdict; 48 hours without one is several missed scans, not a slow one.
STALE_AFTER = timedelta(hours=48)


class ControlVerdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    EXCEPTION = "EXCEPTION"
    INCOMPLETE = "INCOMPLETE"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    NOT_ASSESSED = "NOT_ASSESSED"


class ClusterVerdicts(FrozenModel):
    """The latest check verdicts the AUDIT record of one cluster keeps."""

    account: str
    region: str
    cluster: str
    verdicts: Mapping[str, CheckVerdict] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.account}/{self.region}/{self.cluster}"


class Cell(FrozenModel):
    cluster: str  # account/region/cluster
    verdict: ControlVerdict
    # When the verdict was decided: the oldest evaluation among the full checks (None: never evaluated).
    evaluated_at: datetime | None = None
    failing: tuple[str, ...] = ()  # check:resource of the unsuppressed failures
    # FAIL and EXCEPTION: since when the control has been failing (its earliest failing full check).
    failing_since: datetime | None = None


class ControlPosture(FrozenModel):
    control: str
    title: str
    url: str
    full_checks: tuple[str, ...]
    partial_checks: tuple[str, ...]
    cells: tuple[Cell, ...]

    def _count(self, verdict: ControlVerdict) -> int:
        return sum(1 for cell in self.cells if cell.verdict is verdict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def assessed(self) -> bool:
        return bool(self.full_checks)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passing(self) -> int:
        return self._count(ControlVerdict.PASS)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failing(self) -> int:
        return self._count(ControlVerdict.FAIL)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exceptions(self) -> int:
        return self._count(ControlVerdict.EXCEPTION)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def incomplete(self) -> int:
        return self._count(ControlVerdict.INCOMPLETE)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def not_applicable(self) -> int:
        return self._count(ControlVerdict.NOT_APPLICABLE)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pass_rate(self) -> float | None:
        """PASS / (PASS + FAIL + EXCEPTION); None when no cluster has one of those verdicts."""
        decided = self.passing + self.failing + self.exceptions
        return round(self.passing / decided, 4) if decided else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failing_clusters(self) -> list[str]:
        return [cell.cluster for cell in self.cells if cell.verdict is ControlVerdict.FAIL]


class Posture(FrozenModel):
    framework: str
    name: str
    version: str
    evaluated_at: datetime
    clusters: tuple[str, ...]
    controls: tuple[ControlPosture, ...]


def control_verdict(
    control: Control,
    cluster: ClusterVerdicts,
    suppressions: Sequence[Suppression],
    *,
    now: datetime,
    stale_after: timedelta = STALE_AFTER,
) -> Cell:
    """The verdict of one control on one cluster (see the module docstring)."""
    if not control.assessed:
        return Cell(cluster=cluster.label, verdict=ControlVerdict.NOT_ASSESSED)
    found = [cluster.verdicts.get(check) for check in control.full_checks]
    verdicts = [v for v in found if v is not None]
    at = min((v.evaluated_at for v in verdicts), default=None) if len(verdicts) == len(found) else None
    failures = [
        (v.check_id, resource) for v in verdicts if v.verdict is Verdict.FAIL for resource in v.failing
    ]
    open_failures = [
        f"{check}:{resource}"
        for check, resource in failures
        if not any(
            s.active(now) and s.covers(check, cluster.account, cluster.region, cluster.cluster, resource)
            for s in suppressions
        )
    ]
    # Failures beyond those kept on the record are never assumed suppressed.
    unkept = any(v.more_failing for v in verdicts if v.verdict is Verdict.FAIL)
    if open_failures or unkept:
        verdict = ControlVerdict.FAIL
    elif any(v.verdict is Verdict.FAIL for v in verdicts):
        verdict = ControlVerdict.EXCEPTION
    elif len(verdicts) < len(found) or any(
        v.verdict is Verdict.INCOMPLETE or now - v.evaluated_at > stale_after for v in verdicts
    ):
        verdict = ControlVerdict.INCOMPLETE
    elif all(v.verdict is Verdict.NOT_APPLICABLE for v in verdicts):
        verdict = ControlVerdict.NOT_APPLICABLE
    else:
        verdict = ControlVerdict.PASS
    since = None
    if verdict in (ControlVerdict.FAIL, ControlVerdict.EXCEPTION):
        starts = [v.failing_since or v.evaluated_at for v in verdicts if v.verdict is Verdict.FAIL]
        since = min(starts)
    return Cell(
        cluster=cluster.label,
        verdict=verdict,
        evaluated_at=at,
        failing=tuple(open_failures),
        failing_since=since,
    )


def posture(
    framework: Framework,
    clusters: Iterable[ClusterVerdicts],
    suppressions: Sequence[Suppression],
    *,
    now: datetime,
    stale_after: timedelta = STALE_AFTER,
) -> Posture:
    """Every control of `framework` on every cluster given."""
    ordered = sorted(clusters, key=lambda c: (c.account, c.region, c.cluster))
    rows = tuple(
        ControlPosture(
            control=control.id,
            title=control.title,
            url=control.url,
            full_checks=control.full_checks,
            partial_checks=tuple(check for check in control.checks if check not in control.full_checks),
            cells=tuple(
                control_verdict(control, cluster, suppressions, now=now, stale_after=stale_after)
                for cluster in ordered
            ),
        )
        for control in framework.controls
    )
    return Posture(
        framework=framework.id,
        name=framework.name,
        version=framework.version,
        evaluated_at=now,
        clusters=tuple(cluster.label for cluster in ordered),
        controls=rows,
    )


class VerdictSource(Protocol):
    """What the posture reads: the findings store (eks_auditor.store.FindingStore)."""

    def cluster_verdicts(self, account: str, region: str) -> list[ClusterVerdicts]: ...
    def suppressions(self) -> list[Suppression]: ...


def read_posture(
    source: VerdictSource,
    framework: Framework,
    scopes: Iterable[tuple[str, str]],
    *,
    now: datetime,
    clusters: Collection[str] = (),
    stale_after: timedelta = STALE_AFTER,
) -> Posture:
    """The posture of the clusters audited in each (account, region) scope (all, or those named)."""
    fleet = [
        verdicts
        for account, region in dict.fromkeys(scopes)
        for verdicts in source.cluster_verdicts(account, region)
        if not clusters or verdicts.cluster in clusters
    ]
    return posture(framework, fleet, source.suppressions(), now=now, stale_after=stale_after)
