"""One Finding builder for tests that render findings (OCSF, the HTML report): every field a finding
needs, with the id derived from its key; each test passes what it is about and overrides the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status, finding_id

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ENDPOINT_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html"


def build_finding(
    *,
    account: str,
    region: str,
    cluster: str,
    check_id: str,
    resource: str,
    severity: Severity = Severity.HIGH,
    status: Status = Status.OPEN,
    seen_for: timedelta = timedelta(hours=1),
    **fields: Any,
) -> Finding:
    """A finding first seen at T0 and last evaluated `seen_for` later; `fields` override any field."""
    base: dict[str, Any] = {
        "id": finding_id(account, region, cluster, check_id, resource),
        "check_id": check_id,
        "severity": severity,
        "status": status,
        "account": account,
        "region": region,
        "cluster": cluster,
        "cluster_arn": f"arn:aws:eks:{region}:{account}:cluster/{cluster}",
        "resource": resource,
        "title": f"{check_id} on {resource}",
        "description": "d",
        "remediation": "r",
        "references": (ENDPOINT_DOC,),
        "first_seen": T0,
        "last_seen": T0 + seen_for,
        "source": "scan-1",
        "evaluated_at": T0 + seen_for,
    }
    base.update(fields)
    return Finding.model_validate(base)
