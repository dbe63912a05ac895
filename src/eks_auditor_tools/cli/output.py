"""Render findings for people (table) and machines (json, csv)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from eks_auditor.model.finding import Finding

# The fields `scan --output json` promises (DESIGN.md, issue #2).
SCAN_FIELDS = (
    "id",
    "check_id",
    "severity",
    "status",
    "account",
    "region",
    "cluster",
    "resource",
    "title",
    "evidence",
    "remediation",
)


def finding_record(finding: Finding, fields: Sequence[str] | None = None) -> dict[str, Any]:
    data = finding.model_dump(mode="json")
    return {name: data[name] for name in fields} if fields else data


def to_json(findings: Iterable[Finding], fields: Sequence[str] | None = SCAN_FIELDS) -> str:
    return json.dumps([finding_record(f, fields) for f in findings], indent=2, sort_keys=False)


def to_csv(findings: Iterable[Finding]) -> str:
    buffer = io.StringIO()
    columns = (*SCAN_FIELDS[:9], "first_seen", "last_seen", "resolved_at")
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for finding in findings:
        writer.writerow(finding_record(finding, None))
    return buffer.getvalue()


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def findings_table(findings: Sequence[Finding]) -> str:
    if not findings:
        return "(no findings)"
    rows = [
        (f.severity.value, f.status.value, f.cluster, f.check_id, _short(f.resource), _short(f.title, 60))
        for f in sorted(findings, key=lambda f: (-f.severity.rank, f.cluster, f.check_id, f.resource))
    ]
    return table(rows, ("SEVERITY", "STATUS", "CLUSTER", "CHECK", "RESOURCE", "TITLE"))


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def finding_list_table(findings: Sequence[Finding]) -> str:
    """Query results in their order (newest change first), with the id `findings show` takes."""
    if not findings:
        return "(no findings)"
    rows = [
        (
            f.id,
            f.severity.value,
            f.status.value,
            f.cluster,
            f.check_id,
            _short(f.resource, 40),
            f.first_seen.strftime("%Y-%m-%d %H:%M"),
            f.last_seen.strftime("%Y-%m-%d %H:%M"),
        )
        for f in findings
    ]
    return table(
        rows, ("ID", "SEVERITY", "STATUS", "CLUSTER", "CHECK", "RESOURCE", "FIRST SEEN", "LAST SEEN")
    )
