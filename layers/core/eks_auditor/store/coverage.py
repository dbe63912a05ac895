"""The coverage record of an organization scan: which account-regions were audited, incomplete or skipped.

COVERAGE#<scan id> / COVERAGE   one entry per account-region (kept 90 days: TTL), a map keyed
                                "<account>/<region>" of {status, reason, clusters}

The schedule writes the record with every planned account-region `pending` and the skipped ones; each
worker that lists an account-region then replaces its own entry (audited or incomplete) with one
UpdateItem, so the record is complete once every listing message has been handled. An entry still
`pending` after the scan means its listing message never completed (it is in the audit DLQ).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eks_auditor.organization import Coverage, CoverageStatus, RegionCoverage
from eks_auditor.store.schema import TTL_ATTRIBUTE

COVERAGE_RETENTION = timedelta(days=90)


def coverage_pk(scan_id: str) -> str:
    return f"COVERAGE#{scan_id}"


def _key(scan_id: str) -> dict[str, Any]:
    return {"pk": {"S": coverage_pk(scan_id)}, "sk": {"S": "COVERAGE"}}


def _entry(entry: RegionCoverage) -> dict[str, Any]:
    return {
        "M": {
            "status": {"S": entry.status.value},
            "reason": {"S": entry.reason},
            "clusters": {"N": str(entry.clusters)},
        }
    }


def put_coverage(client: Any, table: str, coverage: Coverage, *, now: datetime | None = None) -> None:
    """The schedule's record: every entry it knows (planned ones `pending`, skipped ones with a reason)."""
    now = now or datetime.now(UTC)
    client.put_item(
        TableName=table,
        Item={
            **_key(coverage.scan_id),
            "scan_id": {"S": coverage.scan_id},
            "recorded_at": {"S": now.isoformat()},
            "entries": {"M": {f"{e.account}/{e.region}": _entry(e) for e in coverage.entries}},
            TTL_ATTRIBUTE: {"N": str(int((now + COVERAGE_RETENTION).timestamp()))},
        },
    )


def record_coverage_entry(client: Any, table: str, scan_id: str, entry: RegionCoverage) -> None:
    """A worker's listing outcome for one account-region, replacing its `pending` entry.

    The record must exist (the schedule writes it before sending any listing message): a listing whose
    record is missing fails its message (ConditionalCheckFailed), and SQS retries it.
    """
    client.update_item(
        TableName=table,
        Key=_key(scan_id),
        UpdateExpression="SET entries.#target = :entry",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames={"#target": f"{entry.account}/{entry.region}"},
        ExpressionAttributeValues={":entry": _entry(entry)},
    )


def get_coverage(client: Any, table: str, scan_id: str) -> Coverage | None:
    item = client.get_item(TableName=table, Key=_key(scan_id), ConsistentRead=True).get("Item")
    if item is None:
        return None
    entries = []
    for target, value in sorted(item["entries"]["M"].items()):
        account, region = target.split("/", 1)
        fields = value["M"]
        entries.append(
            RegionCoverage(
                account,
                region,
                CoverageStatus(fields["status"]["S"]),
                fields["reason"]["S"],
                int(fields["clusters"]["N"]),
            )
        )
    return Coverage(scan_id=scan_id, entries=entries)
