"""Kubernetes version support: the check, and the packaged EKS release calendar it falls back on.

Resource: the cluster ARN. The evaluation date is `snapshot.collected_at` (UTC), never the clock, so the
check stays pure. A version reaches end of standard support at the start of its end date (UTC+0), when
extended-support billing begins: on that day and after -> HIGH; within 90 days before it -> MEDIUM.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import yaml

from eks_auditor.checks.base import *
from eks_auditor.model.snapshot import KubernetesVersion, VersionSupport

WARNING_DAYS = 90
# us-east-1 list prices per cluster-hour (AWS containers blog, "extended support ... pricing", 2024).
STANDARD_SUPPORT_USD_PER_HOUR = "0.10"
EXTENDED_SUPPORT_USD_PER_HOUR = "0.60"

_VERSIONS_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html"
_UPDATE_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html"
_PRICING_BLOG = (
    "https://aws.amazon.com/blogs/containers/amazon-eks-extended-support-for-kubernetes-versions-pricing/"
)

END_OF_STANDARD_SUPPORT = CheckSpec(
    id="version_end_of_standard_support",
    title="Kubernetes version at or near the end of EKS standard support",
    severity=Severity.HIGH,
    severity_rule="HIGH / MEDIUM",
    description=(
        "The cluster's Kubernetes version has reached the end of EKS standard support (HIGH) or reaches it "
        "within 90 days (MEDIUM). In extended support the control plane costs "
        f"${EXTENDED_SUPPORT_USD_PER_HOUR} instead of ${STANDARD_SUPPORT_USD_PER_HOUR} per cluster-hour, and "
        "at the end of extended support EKS upgrades the control plane on its own schedule."
    ),
    remediation=(
        "Upgrade one minor version at a time after checking deprecated APIs (EKS > cluster > Upgrade "
        "insights): aws eks update-cluster-version --name <cluster> --kubernetes-version <next minor>, then "
        "upgrade add-ons and node groups (aws eks update-nodegroup-version --cluster-name <cluster> "
        "--nodegroup-name <group>)."
    ),
    references=(_VERSIONS_DOC, _UPDATE_DOC, _PRICING_BLOG),
    requires=(Part.CLUSTER, Part.VERSION_SUPPORT),
    events=events.CLUSTER_VERSION,
    schedule_only={
        Part.VERSION_SUPPORT: (
            "a version reaches the end of standard support by the passage of time (the EKS release "
            "calendar), not through an API call"
        )
    },
)


def _as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def evaluation_date(collected_at: datetime) -> date:
    """The UTC calendar day of the snapshot (EKS dates are UTC+0)."""
    return collected_at.astimezone(UTC).date() if collected_at.tzinfo else collected_at.date()


def check_end_of_standard_support(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = END_OF_STANDARD_SUPPORT
    cluster = collected(snapshot.cluster, Part.CLUSTER)
    support = collected(snapshot.version_support, Part.VERSION_SUPPORT)
    version = cluster.parsed_version
    if version is None:
        return [could_not_evaluate(spec, snapshot.arn, f"cluster version unknown ({cluster.version!r})")]
    support_version = KubernetesVersion.parse(support.version)
    if support_version != version:
        return [
            could_not_evaluate(
                spec, snapshot.arn, f"support dates are for {support.version}, cluster runs {version}"
            )
        ]
    end = support.end_of_standard_support
    if end is None:
        return [could_not_evaluate(spec, snapshot.arn, f"no end of standard support date for {version}")]
    today = evaluation_date(snapshot.collected_at)
    days_left = (end - today).days
    evidence: dict[str, Any] = {
        "version": str(version),
        "end_of_standard_support": end.isoformat(),
        "end_of_extended_support": (
            support.end_of_extended_support.isoformat() if support.end_of_extended_support else None
        ),
        "evaluated_on": today.isoformat(),
        "days_until_end_of_standard_support": days_left,
        "source": support.source,
    }
    if days_left <= 0:
        past_extended = (
            support.end_of_extended_support is not None and support.end_of_extended_support <= today
        )
        return [
            fail(
                spec,
                snapshot.arn,
                evidence={**evidence, "past_end_of_extended_support": past_extended},
                severity=Severity.HIGH,
                title=f"Kubernetes {version} is past the end of EKS standard support",
            )
        ]
    if days_left <= WARNING_DAYS:
        return [
            fail(
                spec,
                snapshot.arn,
                evidence=evidence,
                severity=Severity.MEDIUM,
                title=f"Kubernetes {version} leaves EKS standard support in {days_left} days",
            )
        ]
    return [passed(spec, snapshot.arn, evidence=evidence)]


def load_calendar() -> dict[str, Any]:
    """The packaged release calendar (eks_auditor/data/eks_versions.yaml)."""
    text = importlib.resources.files("eks_auditor").joinpath("data/eks_versions.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("versions"), dict):
        raise ValueError("eks_versions.yaml: expected a mapping with a 'versions' mapping")
    return data


def support_from_calendar(version: KubernetesVersion, calendar: Mapping[str, Any]) -> VersionSupport | None:
    """Support dates for `version`; None when the calendar does not know it (e.g. newer than its rows).

    A version older than every row gets the oldest row's dates as an upper bound (versions leave support
    in order), so a 1.9 cluster is still reported as past support rather than unknown.
    """
    rows: dict[KubernetesVersion, Mapping[str, Any]] = {}
    for key, row in (calendar.get("versions") or {}).items():
        parsed = KubernetesVersion.parse(str(key))
        if parsed is not None and isinstance(row, Mapping):
            rows[parsed] = row
    if not rows:
        return None
    read_on = calendar.get("read_on", "unknown")
    read = f"{calendar.get('source_url', 'EKS release calendar')} (read {read_on})"
    row = rows.get(version)
    if row is not None:
        source = f"{row['source_url']} (read {read_on})" if row.get("source_url") else read
    else:
        oldest = min(rows, key=KubernetesVersion.as_tuple)
        if not version < oldest:
            return None
        row = rows[oldest]
        source = f"upper bound from {oldest}: {read}"
    return VersionSupport(
        version=str(version),
        end_of_standard_support=_as_date(row.get("end_of_standard_support")),
        end_of_extended_support=_as_date(row.get("end_of_extended_support")),
        source=source,
    )


CHECKS: list[Check] = [Check(spec=END_OF_STANDARD_SUPPORT, run=check_end_of_standard_support)]
