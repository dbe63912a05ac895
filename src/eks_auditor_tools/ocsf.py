"""Findings as OCSF 1.1.0 Detection Finding events (class_uid 2004), for `--output ocsf`.

Plain dicts, not the py-ocsf-models package Prowler uses: its current release models OCSF 1.5.0 (and
writes 1.5-only attributes such as `evidences[].verdict_id`), and it needs pydantic>=2.12 and an exact
email-validator pin, above what this project asks for. tests/unit/test_ocsf.py checks every event
against the attributes and requirements of the OCSF 1.1.0 schema.

Mapping: `finding_info.uid` is the finding id (stable across evaluations), the check is the analytic
(a rule), the cluster and the failing resource are the `resources`, the filled-in remediation is
`remediation.desc`, the evidence is `evidences[0].data`. What OCSF 1.1.0 has no attribute for (the check id,
cluster, source, and control mappings under `unmapped.compliance`, as Prowler writes them) is in `unmapped`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from eks_auditor.compliance.frameworks import requirements_by_framework
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status
from eks_auditor.remediation import fill

OCSF_VERSION = "1.1.0"
CLASS_UID = 2004  # Detection Finding
CATEGORY_UID = 2  # Findings

# severity_id (base event): 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical
SEVERITY_IDS: dict[Severity, tuple[int, str]] = {
    Severity.INFO: (1, "Informational"),
    Severity.LOW: (2, "Low"),
    Severity.MEDIUM: (3, "Medium"),
    Severity.HIGH: (4, "High"),
    Severity.CRITICAL: (5, "Critical"),
}
# status_id (finding): 1 New, 2 In Progress, 3 Suppressed, 4 Resolved
STATUS_IDS: dict[Status, tuple[int, str]] = {
    Status.OPEN: (1, "New"),
    Status.SUPPRESSED: (3, "Suppressed"),
    Status.RESOLVED: (4, "Resolved"),
}
# activity_id (finding): 1 Create, 2 Update, 3 Close
ACTIVITIES = {1: "Create", 2: "Update", 3: "Close"}

Compliance = Callable[[Finding], dict[str, list[str]]]


def compliance(finding: Finding) -> dict[str, list[str]]:
    """The controls the finding's check evidences, by framework: `unmapped.compliance`, as Prowler writes it
    (e.g. {"cis-eks-1.7": ["5.4.2"], "fsbp": ["EKS.1"]}; eks_auditor/data/frameworks holds the mapping)."""
    return requirements_by_framework(finding.check_id, finding.evidence)


def _ms(value: datetime) -> int:
    """OCSF timestamp_t: milliseconds since the epoch."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return int(value.timestamp() * 1000)


def _product_version() -> str:
    try:
        return version("eks-auditor")
    except PackageNotFoundError:
        return "unknown"


def _partition(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[1] if len(parts) > 5 and parts[0] == "arn" else None


def _resource_type(arn: str) -> str | None:
    """`eks:nodegroup` for arn:aws:eks:r:a:nodegroup/..., None for ids that are not ARNs."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    kind = parts[5].split("/", 1)[0]
    return f"{parts[2]}:{kind}" if kind != parts[5] else parts[2]


def _resources(finding: Finding) -> list[dict[str, Any]]:
    cluster: dict[str, Any] = {
        "uid": finding.cluster_arn,
        "name": finding.cluster,
        "type": "eks:cluster",
        "region": finding.region,
    }
    if partition := _partition(finding.cluster_arn):
        cluster["cloud_partition"] = partition
    if finding.resource == finding.cluster_arn:
        return [cluster]
    resource: dict[str, Any] = {"uid": finding.resource, "region": finding.region}
    if kind := _resource_type(finding.resource):
        resource["type"] = kind
    if partition := _partition(finding.resource):
        resource["cloud_partition"] = partition
    return [resource, cluster]


def _activity(finding: Finding) -> int:
    if finding.status is Status.RESOLVED:
        return 3
    return 1 if finding.first_seen == finding.last_seen else 2


def detection_finding(
    finding: Finding, *, controls: Compliance = compliance, product_version: str | None = None
) -> dict[str, Any]:
    """One OCSF 1.1.0 Detection Finding event for `finding`."""
    activity = _activity(finding)
    severity_id, severity = SEVERITY_IDS[finding.severity]
    status_id, status = STATUS_IDS[finding.status]
    event: dict[str, Any] = {
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "eks-auditor",
                "vendor_name": "eks-auditor",
                "version": product_version or _product_version(),
            },
            "profiles": ["cloud"],
            "event_code": finding.check_id,
            "uid": f"{finding.id}-{_ms(finding.evaluated_at)}",
        },
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "activity_id": activity,
        "activity_name": ACTIVITIES[activity],
        "type_uid": CLASS_UID * 100 + activity,
        "type_name": f"Detection Finding: {ACTIVITIES[activity]}",
        "time": _ms(finding.evaluated_at),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "status_code": "PASS" if finding.status is Status.RESOLVED else "FAIL",
        "message": finding.title,
        "finding_info": {
            "uid": finding.id,
            "title": finding.title,
            "desc": finding.description,
            "created_time": _ms(finding.first_seen),
            "first_seen_time": _ms(finding.first_seen),
            "last_seen_time": _ms(finding.last_seen),
            "modified_time": _ms(finding.evaluated_at),
            "types": [finding.check_id],
            "analytic": {"uid": finding.check_id, "name": finding.check_id, "type_id": 1, "type": "Rule"},
        },
        "resources": _resources(finding),
        "cloud": {
            "provider": "AWS",
            "region": finding.region,
            "account": {"uid": finding.account, "type_id": 10, "type": "AWS Account"},
        },
        "remediation": {"desc": fill(finding), "references": list(finding.references)},
        "unmapped": {
            "check_id": finding.check_id,
            "cluster": finding.cluster,
            "cluster_arn": finding.cluster_arn,
            "source": finding.source,
            "resolved_at": None if finding.resolved_at is None else finding.resolved_at.isoformat(),
            "compliance": controls(finding),
        },
    }
    if finding.evidence:
        # json round trip: evidence values a check stored as tuples or datetimes become plain JSON.
        event["evidences"] = [{"data": json.loads(json.dumps(dict(finding.evidence), default=str))}]
    return event


def to_ocsf(findings: Iterable[Finding], *, controls: Compliance = compliance) -> str:
    """A JSON array of Detection Finding events, as Prowler's json-ocsf output writes them."""
    product = _product_version()
    events = [detection_finding(f, controls=controls, product_version=product) for f in findings]
    return json.dumps(events, indent=2)
