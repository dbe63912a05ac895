"""Test helpers for the findings store: the moto table (exactly TABLE_DEFINITION), call counting, builders."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from eks_auditor.model.check import Severity
from eks_auditor.model.evaluation import Evaluation
from eks_auditor.model.finding import Finding, Status, finding_id
from eks_auditor.store import TABLE_DEFINITION, TTL_ATTRIBUTE

TABLE = "eks-auditor-findings"
ACCOUNT = "123456789012"
REGION = "us-east-1"
CLUSTER = "prod-a"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def create_table(client: Any, name: str = TABLE) -> str:
    """The findings table with exactly the key schema and GSIs the store (and template.yaml) declare."""
    client.create_table(TableName=name, **TABLE_DEFINITION)
    client.get_waiter("table_exists").wait(TableName=name)
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
    return name


class CallCounter:
    """Counts the API operations a botocore client makes (botocore's before-call event)."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self._events = client.meta.events
        self._events.register("before-call.*.*", self._count)

    def detach(self) -> None:
        self._events.unregister("before-call.*.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def reset(self) -> None:
        self.calls.clear()

    def __getitem__(self, operation: str) -> int:
        return self.calls[operation]

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def make_finding(
    check_id: str = "endpoint_public_unrestricted",
    resource: str = "arn:aws:eks:us-east-1:123456789012:cluster/prod-a",
    *,
    severity: Severity = Severity.HIGH,
    at: datetime = T0,
    source: str = "scan-1",
    cluster: str = CLUSTER,
    evidence: Mapping[str, Any] | None = None,
    expires_at: datetime | None = None,
) -> Finding:
    return Finding(
        id=finding_id(ACCOUNT, REGION, cluster, check_id, resource),
        check_id=check_id,
        severity=severity,
        status=Status.OPEN,
        account=ACCOUNT,
        region=REGION,
        cluster=cluster,
        cluster_arn=f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{cluster}",
        resource=resource,
        title=f"{check_id} fails",
        description=f"{check_id} fails on {resource}.",
        evidence=dict(evidence) if evidence is not None else {"publicAccessCidrs": ["0.0.0.0/0"]},
        remediation="Restrict publicAccessCidrs.\nOr turn the public endpoint off.",
        references=("https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html",),
        first_seen=at,
        last_seen=at,
        source=source,
        evaluated_at=at,
        expires_at=expires_at,
    )


def make_incomplete(check_id: str, resource: str, *, at: datetime = T0, source: str = "scan-1") -> Finding:
    """An audit_incomplete finding as the engine builds it."""
    wrapped = f"{check_id}:{resource}"
    return make_finding(
        "audit_incomplete",
        wrapped,
        severity=Severity.INFO,
        at=at,
        source=source,
        evidence={"check_id": check_id, "resource": resource, "reason": "AccessDenied"},
    ).model_copy(
        update={
            "title": f"{check_id} could not be evaluated",
            "description": "AccessDenied",
            "remediation": "Grant the auditor role the missing permission.",
            "references": (),
        }
    )


def make_evaluation(
    failing: Iterable[Finding] = (),
    *,
    at: datetime = T0,
    source: str = "scan-1",
    checks_run: Iterable[str] = ("endpoint_public_unrestricted", "control_plane_logging_disabled"),
    passing: Iterable[tuple[str, str]] = (),
    errored: Iterable[str] = (),
    cluster: str = CLUSTER,
    not_applicable: Iterable[tuple[str, str]] = (),
) -> Evaluation:
    """An evaluation whose failing findings are re-stamped with its time and source, as the engine does."""
    stamped = tuple(
        finding.model_copy(update={"first_seen": at, "last_seen": at, "evaluated_at": at, "source": source})
        for finding in failing
    )
    return Evaluation(
        account=ACCOUNT,
        region=REGION,
        cluster=cluster,
        cluster_arn=f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{cluster}",
        source=source,
        evaluated_at=at,
        checks_run=tuple(checks_run),
        failing=stamped,
        passing=tuple(passing),
        errored_checks=tuple(errored),
        not_applicable=tuple(not_applicable),
    )


def later(hours: float = 0, minutes: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes)
