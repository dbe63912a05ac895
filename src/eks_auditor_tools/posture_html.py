"""The report's compliance section: per framework, a control x cluster grid a person can scan.

Rows are the controls some check evidences (the others are counted under the grid), columns the clusters,
each cell the control's verdict there; the last columns are the counts and the pass rate. A failing cell
names the failing check and resource in its tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from eks_auditor.compliance.posture import Cell, ControlPosture, ControlVerdict, Posture

SHORT = {
    ControlVerdict.PASS: "PASS",
    ControlVerdict.FAIL: "FAIL",
    ControlVerdict.EXCEPTION: "EXC",
    ControlVerdict.INCOMPLETE: "INC",
    ControlVerdict.NOT_APPLICABLE: "N/A",
    ControlVerdict.NOT_ASSESSED: "—",
}
CSS = (
    ".grid td.v{text-align:center;font-size:.8rem;font-weight:600;white-space:nowrap}"
    ".v.PASS{background:#dcfce7;color:#166534}.v.FAIL{background:#fee2e2;color:#991b1b}"
    ".v.EXCEPTION{background:#fef3c7;color:#92400e}.v.INCOMPLETE{background:#e5e7eb;color:#374151}"
    ".v.NOT_APPLICABLE{color:#6b7280}.v.NOT_ASSESSED{color:#9ca3af}"
    ".scroll{overflow-x:auto}"
)


def _cell(cell: Cell) -> str:
    tip = cell.verdict.value
    if cell.failing_since is not None:
        tip += f" since {cell.failing_since:%Y-%m-%d %H:%M} UTC"
    if cell.failing:
        tip += ": " + "; ".join(cell.failing)
    if cell.evaluated_at is not None:
        tip += f" (evaluated {cell.evaluated_at:%Y-%m-%d %H:%M} UTC)"
    return f'<td class="v {cell.verdict.value}" title="{escape(tip)}">{SHORT[cell.verdict]}</td>'


def _rate(row: ControlPosture) -> str:
    if not row.assessed:
        return "not assessed"
    return "-" if row.pass_rate is None else f"{row.pass_rate:.0%}"


def _row(row: ControlPosture) -> str:
    checks = ", ".join(
        [*(f"{c} (full)" for c in row.full_checks), *(f"{c} (partial)" for c in row.partial_checks)]
    )
    return (
        "<tr>"
        f'<th><a href="{escape(row.url)}">{escape(row.control)}</a></th>'
        f'<td title="{escape(checks)}">{escape(row.title)}</td>'
        + "".join(_cell(cell) for cell in row.cells)
        + f'<td class="n">{row.passing}</td><td class="n">{row.failing}</td>'
        f'<td class="n">{row.exceptions}</td><td class="n">{row.incomplete}</td>'
        f'<td class="n">{row.not_applicable}</td><td class="n">{_rate(row)}</td>'
        "</tr>"
    )


def framework_grid(result: Posture) -> str:
    shown = [row for row in result.controls if row.full_checks or row.partial_checks]
    hidden = len(result.controls) - len(shown)
    names = [label.rsplit("/", 1)[-1] for label in result.clusters]
    header = (
        "<tr><th>Control</th><th>Title</th>"
        + "".join(
            f'<th title="{escape(label)}">{escape(name)}</th>'
            for label, name in zip(result.clusters, names, strict=True)
        )
        + "<th>PASS</th><th>FAIL</th><th>EXC</th><th>INC</th><th>N/A</th><th>Pass rate</th></tr>"
    )
    note = f" {hidden} more control(s) no check evidences are not assessed." if hidden else ""
    return (
        f'<h3 id="posture-{escape(result.framework)}">{escape(result.name)} {escape(result.version)}</h3>'
        f'<div class="scroll"><table class="grid" data-framework="{escape(result.framework)}">'
        f"{header}{''.join(_row(row) for row in shown)}</table></div>"
        '<p class="meta">Pass rate = PASS / (PASS + FAIL + EXC); EXC: every failure suppressed; INC: a '
        f"check incomplete, stale or never run; —: no check tests the control's exact condition.{note}</p>"
    )


def posture_section(postures: Sequence[Posture]) -> str:
    if not postures:
        return '<p class="meta">Not read for this report.</p>'
    if not any(p.clusters for p in postures):
        return '<p class="meta">No audited cluster in the scopes read.</p>'
    return "".join(framework_grid(p) for p in postures)
