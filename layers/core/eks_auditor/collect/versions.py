"""Support dates of a cluster's Kubernetes version: eks:DescribeClusterVersions, else the release calendar."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from eks_auditor.model.snapshot import KubernetesVersion, VersionSupport

if TYPE_CHECKING:
    from mypy_boto3_eks import EKSClient

SOURCE_API = "eks:DescribeClusterVersions"

# version -> support dates, or None when the calendar has no row for it.
CalendarLookup = Callable[[KubernetesVersion], VersionSupport | None]


def describe_cluster_versions(eks: EKSClient) -> dict[tuple[int, int], VersionSupport]:
    """Every version EKS reports for the region, keyed by (major, minor); one paginated call."""
    table: dict[tuple[int, int], VersionSupport] = {}
    # Without includeAll, versions past extended support are left out: exactly the ones that matter most.
    for page in eks.get_paginator("describe_cluster_versions").paginate(includeAll=True):
        for item in page.get("clusterVersions", []):
            support = normalize_version(item)
            parsed = KubernetesVersion.parse(support.version) if support else None
            if support and parsed:
                table[parsed.as_tuple()] = support
    return table


def normalize_version(raw: Mapping[str, Any]) -> VersionSupport | None:
    version = raw.get("clusterVersion")
    if not version:
        return None
    return VersionSupport(
        version=str(version),
        end_of_standard_support=utc_date(raw.get("endOfStandardSupportDate")),
        end_of_extended_support=utc_date(raw.get("endOfExtendedSupportDate")),
        source=SOURCE_API,
    )


def utc_date(value: datetime | str | None) -> date | None:
    """The UTC calendar date of an API timestamp.

    The API answers in a local offset (2026-12-01T18:00:00-06:00) for what the EKS calendar, in UTC,
    calls 2026-12-02: taking the local date would move every deadline a day early.
    """
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def calendar_lookup() -> CalendarLookup:
    """The bundled EKS release calendar (eks_auditor.checks.version), loaded once per call."""
    from eks_auditor.checks.version import load_calendar, support_from_calendar

    calendar = load_calendar()

    def lookup(version: KubernetesVersion) -> VersionSupport | None:
        return support_from_calendar(version, calendar)

    return lookup
