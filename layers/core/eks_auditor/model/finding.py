"""A finding as stored and published: one per (account, region, cluster, check, resource)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict, Unpack

from pydantic import Field

from eks_auditor.model.check import CheckSpec, Severity
from eks_auditor.model.frozen import FrozenModel


class Status(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
    SUPPRESSED = "SUPPRESSED"


class ChangeKind(StrEnum):
    OPENED = "OPENED"
    SEVERITY_CHANGED = "SEVERITY_CHANGED"
    RESOLVED = "RESOLVED"
    REOPENED = "REOPENED"
    SUPPRESSED = "SUPPRESSED"
    UNSUPPRESSED = "UNSUPPRESSED"


def finding_id(account: str, region: str, cluster: str, check_id: str, resource: str) -> str:
    """Deterministic: the same problem seen by an event and by the schedule is the same finding."""
    key = "\x1f".join((account, region, cluster, check_id, resource))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class ClusterScope(TypedDict):
    """The cluster a finding (or an evaluation) belongs to; an account-region's own findings: cluster "-"."""

    account: str
    region: str
    cluster: str
    cluster_arn: str


class Finding(FrozenModel):
    id: str
    check_id: str
    severity: Severity
    status: Status
    account: str
    region: str
    cluster: str
    cluster_arn: str
    resource: str
    title: str
    description: str
    evidence: Mapping[str, Any] = Field(default_factory=dict)
    remediation: str
    references: tuple[str, ...] = ()
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    source: str  # the event id or scan id of the evaluation that last changed it
    evaluated_at: datetime
    expires_at: datetime | None = None  # transient findings (spot notices) carry a TTL
    # One more on each state change of this finding: a change with a lower sequence than the stored (or the
    # last published) one is older than what subscribers should see last, and is never published.
    sequence: int = 0
    # An audit_incomplete finding recorded OPEN but not alerted yet: its part has not stayed unreadable long
    # enough (store.lifecycle.IncompleteAlerts). Never a pass; its opening is published once it is due.
    held: bool = False


def finding_from_spec(
    spec: CheckSpec,
    *,
    resource: str,
    evidence: Mapping[str, Any],
    source: str,
    evaluated_at: datetime,
    seen_at: datetime | None = None,
    severity: Severity | None = None,
    title: str | None = None,
    description: str | None = None,
    remediation: str | None = None,
    expires_at: datetime | None = None,
    **scope: Unpack[ClusterScope],
) -> Finding:
    """An OPEN finding of `spec` in `scope`; the text and severity given override the spec's, `seen_at` the
    time."""
    seen = seen_at or evaluated_at
    return Finding(
        id=finding_id(scope["account"], scope["region"], scope["cluster"], spec.id, resource),
        check_id=spec.id,
        severity=severity or spec.severity,
        status=Status.OPEN,
        **scope,
        resource=resource,
        title=title or spec.title,
        description=description or spec.description,
        evidence=dict(evidence),
        remediation=remediation or spec.remediation,
        references=spec.references,
        first_seen=seen,
        last_seen=seen,
        source=source,
        evaluated_at=evaluated_at,
        expires_at=expires_at,
    )


class StateChange(FrozenModel):
    """One state change of a finding: what gets published, exactly once per change."""

    change_id: str  # deterministic: finding id + evaluated_at + kind, so a retry names the same change
    kind: ChangeKind
    finding: Finding
    previous_status: Status | None = None
    previous_severity: Severity | None = None
    changed_at: datetime
    reason: str | None = None  # in words, when the kind alone does not say (e.g. "the cluster was deleted")
    # Set by the store: an OPENED change from the first evaluation of its check on this cluster (the first
    # scan), what a new deployment finds already there rather than what just broke.
    baseline: bool = False
