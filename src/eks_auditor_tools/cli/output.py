"""Render findings for people (table) and machines (json, csv, ocsf)."""

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


# `scan` and `findings` also write OCSF (the global --output choices plus this one).
FINDING_OUTPUTS = ("table", "json", "csv", "ocsf")


def add_finding_output_argument(parser: Any) -> None:
    """--output for the commands that print findings; SUPPRESS keeps a global --output given before them."""
    import argparse

    parser.add_argument(
        "--output",
        choices=FINDING_OUTPUTS,
        default=argparse.SUPPRESS,
        help="output format (ocsf: OCSF 1.1.0 Detection Finding events, a JSON array)",
    )


def finding_record(finding: Finding, fields: Sequence[str] | None = None) -> dict[str, Any]:
    if not fields:
        return finding.model_dump(mode="json")
    # Only the fields asked for are serialized (evidence and history can be large), in the order asked.
    data = finding.model_dump(mode="json", include=set(fields))
    return {name: data[name] for name in fields}


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


WIDTH = 120  # a table fits a 120-column terminal: long free text loses its middle, ids stay whole
_MIN_ELIDED = 12


def table(
    rows: Sequence[Sequence[Any]],
    headers: Sequence[str],
    *,
    elide: Sequence[str] = (),
    width: int = WIDTH,
) -> str:
    """Columns named in `elide` (free text, never ids) shrink, widest first, until the table fits."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    shrinkable = [i for i, h in enumerate(headers) if h in elide]
    while shrinkable and sum(widths) + 2 * (len(widths) - 1) > width:
        widest = max(shrinkable, key=lambda i: widths[i])
        if widths[widest] <= max(_MIN_ELIDED, len(headers[widest])):
            break
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        # Down to the next widest at most, so that the free-text columns share the shrinking.
        runner_up = max((widths[i] for i in shrinkable if i != widest), default=0)
        # Tied with another: one character at a time, so that they end within one of each other.
        tied = runner_up >= widths[widest]
        target = widths[widest] - 1 if tied else max(widths[widest] - excess, runner_up)
        widths[widest] = max(_MIN_ELIDED, len(headers[widest]), target)
    for row in cells[1:]:
        for i in shrinkable:
            row[i] = elide_middle(row[i], widths[i])
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def elide_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def render_findings(findings: Sequence[Finding], output: str) -> str:
    """`scan` and `replay` output: the promised JSON fields, CSV, OCSF, or a table sorted worst first."""
    if output == "json":
        return to_json(findings)
    if output == "ocsf":
        from eks_auditor_tools.ocsf import to_ocsf

        return to_ocsf(findings)
    if output == "csv":
        return to_csv(findings).rstrip("\n")
    return findings_table(findings)


def findings_table(findings: Sequence[Finding]) -> str:
    if not findings:
        return "(no findings)"
    rows = [
        (f.severity.value, f.status.value, f.cluster, f.check_id, f.resource, f.title)
        for f in sorted(findings, key=lambda f: (-f.severity.rank, f.cluster, f.check_id, f.resource))
    ]
    return table(
        rows, ("SEVERITY", "STATUS", "CLUSTER", "CHECK", "RESOURCE", "TITLE"), elide=("RESOURCE", "TITLE")
    )


def finding_list_table(findings: Sequence[Finding]) -> str:
    """Query results in their order (newest change first), with the id `findings show` takes whole.

    STATUS only when the page mixes statuses, and the last-seen date alone: 120 columns hold a
    32-character id; `findings show ID` has the rest.
    """
    if not findings:
        return "(no findings)"
    mixed = len({f.status for f in findings}) > 1
    headers = ("ID", "SEVERITY", *(("STATUS",) if mixed else ()), "CLUSTER", "CHECK", "RESOURCE", "LAST SEEN")
    rows = [
        (
            f.id,
            f.severity.value,
            *((f.status.value,) if mixed else ()),
            f.cluster,
            f.check_id,
            f.resource,
            f.last_seen.strftime("%Y-%m-%d"),
        )
        for f in findings
    ]
    return table(rows, headers, elide=("RESOURCE", "CLUSTER"))
