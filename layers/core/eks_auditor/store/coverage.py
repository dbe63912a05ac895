"""The coverage record of an organization scan: which account-regions were audited, incomplete or skipped.

COVERAGE#<scan id> / COVERAGE   counts and one entry per account-region (kept 90 days: TTL)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from eks_auditor.organization import Coverage, CoverageStatus, RegionCoverage
from eks_auditor.store.schema import TTL_ATTRIBUTE

COVERAGE_RETENTION = timedelta(days=90)


def coverage_pk(scan_id: str) -> str:
    return f"COVERAGE#{scan_id}"


def put_coverage(client: Any, table: str, coverage: Coverage, *, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    counts = coverage.counts()
    entries = [
        {"account": e.account, "region": e.region, "status": e.status.value}
        | {"reason": e.reason, "clusters": e.clusters}
        for e in coverage.entries
    ]
    client.put_item(
        TableName=table,
        Item={
            "pk": {"S": coverage_pk(coverage.scan_id)},
            "sk": {"S": "COVERAGE"},
            "scan_id": {"S": coverage.scan_id},
            "recorded_at": {"S": now.isoformat()},
            **{status: {"N": str(count)} for status, count in counts.items()},
            "entries": {"S": json.dumps(entries, separators=(",", ":"))},
            TTL_ATTRIBUTE: {"N": str(int((now + COVERAGE_RETENTION).timestamp()))},
        },
    )


def get_coverage(client: Any, table: str, scan_id: str) -> Coverage | None:
    item = client.get_item(
        TableName=table, Key={"pk": {"S": coverage_pk(scan_id)}, "sk": {"S": "COVERAGE"}}, ConsistentRead=True
    ).get("Item")
    if item is None:
        return None
    entries = [
        RegionCoverage(e["account"], e["region"], CoverageStatus(e["status"]), e["reason"], e["clusters"])
        for e in json.loads(item["entries"]["S"])
    ]
    return Coverage(scan_id=scan_id, entries=entries)
