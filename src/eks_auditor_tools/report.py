"""The HTML report: one self-contained page (inline CSS, SVG and script; nothing fetched from anywhere).

Open findings by severity and cluster, a chart of them, each cluster's node-subnet IP headroom where the
ip_capacity_exhaustion_risk findings recorded it (subnets that pass are not stored, so a cluster without
such a finding shows none), the compliance posture (a control x cluster grid per framework,
posture_html.py), the open findings themselves with what to do about each, and what is
suppressed. The finding lists filter by severity, account, cluster and check; the filter lives in the URL
fragment (`report.html#severity=CRITICAL,HIGH&cluster=prod`) so a filtered view can be shared or opened
directly, and printing prints the rows the filter shows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from eks_auditor.compliance.posture import Posture
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status
from eks_auditor.remediation import fill

from eks_auditor_tools.posture_html import CSS as POSTURE_CSS
from eks_auditor_tools.posture_html import posture_section

IP_CHECK = "ip_capacity_exhaustion_risk"
SEVERITIES: tuple[Severity, ...] = tuple(sorted(Severity, key=lambda s: -s.rank))
COLORS = {
    Severity.CRITICAL: "#7f1d1d",
    Severity.HIGH: "#dc2626",
    Severity.MEDIUM: "#d97706",
    Severity.LOW: "#2563eb",
    Severity.INFO: "#6b7280",
}

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:1.5rem 2rem;color:#111827}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #e5e7eb}
h3{font-size:1rem;margin-bottom:.3rem}
.meta{color:#6b7280;font-size:.9rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
table.findings{width:100%}
th,td{border:1px solid #e5e7eb;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f9fafb}td.n{text-align:right;font-variant-numeric:tabular-nums}
.when,.sev{white-space:nowrap}
.sev{color:#fff;border-radius:.25rem;padding:0 .35rem;font-size:.8rem;font-weight:600}
.CRITICAL{background:#7f1d1d}.HIGH{background:#dc2626}.MEDIUM{background:#d97706}
.LOW{background:#2563eb}.INFO{background:#6b7280}
.low{color:#b91c1c;font-weight:600}code{font-size:.85rem;word-break:break-all}
tr.group th{background:#eef2ff;font-size:.95rem}
tr.finding td{border-bottom:none}tr.detail td{border-top:none;background:#fcfcfd}
.detail-grid{display:grid;gap:1rem;
grid-template-columns:minmax(14rem,1fr) minmax(20rem,2fr) minmax(14rem,1.2fr)}
.detail-grid h4{margin:0 0 .2rem;font-size:.8rem;text-transform:uppercase;color:#6b7280}
.remediation{white-space:pre-wrap}
pre.evidence{white-space:pre-wrap;word-break:break-all;font-size:.8rem;margin:.2rem 0;
max-height:24rem;overflow:auto}
#filters{display:flex;flex-wrap:wrap;gap:.5rem 1.2rem;align-items:center;padding:.6rem .8rem;
background:#f9fafb;border:1px solid #e5e7eb;border-radius:.4rem;position:sticky;top:0;z-index:1}
#filters label{white-space:nowrap}#filters select{max-width:22rem}
svg text{font-family:inherit;font-size:12px}
@media (max-width:60rem){.detail-grid{grid-template-columns:1fr}}
@media print{
body{margin:0;font-size:10pt}#filters button,#filters select,#filters input{display:none}
#filters{position:static;border:none;padding:0;background:none}
tr.finding,tr.detail{break-inside:avoid}pre.evidence{max-height:none;overflow:visible}
.sev,.CRITICAL,.HIGH,.MEDIUM,.LOW,.INFO{-webkit-print-color-adjust:exact;print-color-adjust:exact}
a{color:inherit;text-decoration:none}
}
""".strip()

# The filters: plain JS, no library. State lives in the URL fragment; rows are hidden with `hidden`.
_SCRIPT = """
(function () {
  var form = document.getElementById("filters");
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.finding"));
  var keys = ["account", "cluster", "check"];
  function state() {
    var text = location.hash.replace(/^#/, "") || location.search.replace(/^\\?/, "");
    var params = new URLSearchParams(text);
    var severity = (params.get("severity") || "").toUpperCase();
    var s = {severity: severity ? severity.split(",") : []};
    keys.forEach(function (k) { s[k] = params.get(k) || ""; });
    return s;
  }
  function show(s) {
    form.querySelectorAll("input[name=severity]").forEach(function (box) {
      box.checked = s.severity.indexOf(box.value) >= 0;
    });
    keys.forEach(function (k) { form.elements[k].value = s[k]; });
    var shown = 0;
    rows.forEach(function (row) {
      var ok = (!s.severity.length || s.severity.indexOf(row.dataset.severity) >= 0) &&
        keys.every(function (k) { return !s[k] || row.dataset[k] === s[k]; });
      row.hidden = !ok;
      var detail = row.nextElementSibling;
      if (detail && detail.classList.contains("detail")) { detail.hidden = !ok; }
      if (ok) { shown += 1; }
    });
    document.querySelectorAll("tbody.group").forEach(function (body) {
      var head = body.querySelector("tr.group");
      if (head) { head.hidden = !body.querySelector("tr.finding:not([hidden])"); }
    });
    var count = document.getElementById("shown");
    count.textContent = String(shown);
    count.dataset.count = String(shown);
  }
  function read() {
    var params = new URLSearchParams();
    var severity = [];
    form.querySelectorAll("input[name=severity]:checked").forEach(function (box) {
      severity.push(box.value);
    });
    if (severity.length) { params.set("severity", severity.join(",")); }
    keys.forEach(function (k) { if (form.elements[k].value) { params.set(k, form.elements[k].value); } });
    return params.toString();
  }
  form.addEventListener("change", function () { location.hash = read(); });
  form.addEventListener("reset", function (event) { event.preventDefault(); location.hash = ""; });
  window.addEventListener("hashchange", function () { show(state()); });
  // A printout shows every evidence block the filter shows, not only the expanded ones.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.dataset.wasOpen = d.open; d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = d.dataset.wasOpen === "true"; });
  });
  show(state());
})();
""".strip()


@dataclass(frozen=True)
class SubnetHeadroom:
    """A node subnet's IP headroom as recorded in an ip_capacity_exhaustion_risk finding's evidence."""

    cluster_key: str
    subnet_id: str
    severity: Severity
    status: Status
    cidr: str | None
    availability_zone: str | None
    free_ips: int | None
    usable_ips: int | None
    percent_free: float | None
    ips_needed_at_max: int | None
    nodes_that_still_fit: int | None
    observed_at: datetime


def cluster_key(finding: Finding) -> str:
    return f"{finding.cluster} ({finding.account}/{finding.region})"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def headroom(findings: Iterable[Finding]) -> list[SubnetHeadroom]:
    """What the unresolved IP-capacity findings say about each subnet; whatever evidence is there."""
    rows = []
    for finding in findings:
        if finding.check_id != IP_CHECK or finding.status is Status.RESOLVED:
            continue
        evidence: Mapping[str, Any] = finding.evidence
        rows.append(
            SubnetHeadroom(
                cluster_key=cluster_key(finding),
                subnet_id=_text(evidence.get("subnet_id")) or finding.resource,
                severity=finding.severity,
                status=finding.status,
                cidr=_text(evidence.get("cidr")),
                availability_zone=_text(evidence.get("availability_zone")),
                free_ips=_int(evidence.get("free_ips")),
                usable_ips=_int(evidence.get("usable_ips")),
                percent_free=_number(evidence.get("percent_free")),
                ips_needed_at_max=_int(evidence.get("ips_needed_at_max")),
                nodes_that_still_fit=_int(evidence.get("nodes_that_still_fit")),
                observed_at=finding.last_seen,
            )
        )
    return sorted(rows, key=lambda row: (row.cluster_key, row.subnet_id))


def _fmt(value: object) -> str:
    return "—" if value is None else escape(str(value))


def _time(value: datetime) -> str:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _badge(severity: Severity) -> str:
    return f'<span class="sev {severity.value}">{severity.value}</span>'


def _severity_chart(counts: Counter[Severity]) -> str:
    """Horizontal bars, one per severity."""
    width, label_w, bar_h, gap = 560, 90, 22, 8
    top = max(counts.values(), default=0) or 1
    height = len(SEVERITIES) * (bar_h + gap) + gap
    parts = [
        f'<svg id="chart-severity" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="Open findings by severity">',
        "<title>Open findings by severity</title>",
    ]
    for i, severity in enumerate(SEVERITIES):
        y = gap + i * (bar_h + gap)
        count = counts.get(severity, 0)
        bar = round((width - label_w - 50) * count / top)
        parts.append(f'<text x="0" y="{y + 15}">{severity.value}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{bar}" height="{bar_h}" fill="{COLORS[severity]}" '
            f'data-severity="{severity.value}" data-count="{count}"/>'
        )
        parts.append(f'<text x="{label_w + bar + 6}" y="{y + 15}">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _cluster_chart(matrix: Mapping[str, Counter[Severity]]) -> str:
    """One stacked bar per cluster, segments by severity."""
    if not matrix:
        return ""
    width, label_w, bar_h, gap = 760, 300, 20, 8
    top = max(sum(c.values()) for c in matrix.values()) or 1
    height = len(matrix) * (bar_h + gap) + gap + 24
    parts = [
        f'<svg id="chart-clusters" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="Open findings by cluster and severity">',
        "<title>Open findings by cluster and severity</title>",
    ]
    for i, (key, counts) in enumerate(matrix.items()):
        y = gap + i * (bar_h + gap)
        parts.append(f'<text x="0" y="{y + 14}">{escape(key)}</text>')
        x = label_w
        for severity in SEVERITIES:
            count = counts.get(severity, 0)
            if not count:
                continue
            w = round((width - label_w - 40) * count / top)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{w}" height="{bar_h}" fill="{COLORS[severity]}">'
                f"<title>{escape(key)}: {count} {severity.value}</title></rect>"
            )
            x += w
        parts.append(f'<text x="{x + 6}" y="{y + 14}">{sum(counts.values())}</text>')
    legend_y = height - 10
    x = label_w
    for severity in SEVERITIES:
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="10" height="10" fill="{COLORS[severity]}"/>')
        parts.append(f'<text x="{x + 14}" y="{legend_y}">{severity.value}</text>')
        x += 90
    parts.append("</svg>")
    return "".join(parts)


def _matrix_table(matrix: Mapping[str, Counter[Severity]], totals: Counter[Severity]) -> str:
    head = "".join(f"<th>{s.value}</th>" for s in SEVERITIES)
    rows = []
    for key, counts in matrix.items():
        cells = "".join(
            f'<td class="n" data-cluster="{escape(key)}" data-severity="{s.value}">{counts.get(s, 0)}</td>'
            for s in SEVERITIES
        )
        total = sum(counts.values())
        rows.append(
            f'<tr><th scope="row">{escape(key)}</th>{cells}'
            f'<td class="n" data-cluster="{escape(key)}" data-severity="TOTAL">{total}</td></tr>'
        )
    total_cells = "".join(
        f'<td class="n" data-cluster="ALL" data-severity="{s.value}">{totals.get(s, 0)}</td>'
        for s in SEVERITIES
    )
    rows.append(
        f'<tr><th scope="row">All clusters</th>{total_cells}'
        f'<td class="n" data-cluster="ALL" data-severity="TOTAL">{sum(totals.values())}</td></tr>'
    )
    return (
        '<table id="by-cluster"><thead><tr><th>Cluster (account/region)</th>'
        f"{head}<th>Total</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _headroom_section(keys: Sequence[str], rows: Sequence[SubnetHeadroom]) -> str:
    if not keys:
        return "<p>No clusters with open findings.</p>"
    by_cluster: dict[str, list[SubnetHeadroom]] = {}
    for row in rows:
        by_cluster.setdefault(row.cluster_key, []).append(row)
    out = [
        "<p>From the open <code>ip_capacity_exhaustion_risk</code> findings: subnets that cannot hold the "
        "node groups at their maximum size (CRITICAL) or are low on free IPs (HIGH). Subnets with enough "
        "headroom are not recorded as findings.</p>"
    ]
    for key in sorted(set(keys) | set(by_cluster)):
        out.append(f"<h3>{escape(key)}</h3>")
        subnets = by_cluster.get(key)
        if not subnets:
            out.append('<p class="meta">No node subnet at risk recorded.</p>')
            continue
        lines = []
        for row in subnets:
            fit = row.nodes_that_still_fit
            fit_cell = f'<span class="low">{fit}</span>' if fit is not None and fit < 5 else _fmt(fit)
            percent = None if row.percent_free is None else f"{row.percent_free:g}%"
            lines.append(
                f'<tr data-subnet="{escape(row.subnet_id)}">'
                f"<td><code>{escape(row.subnet_id)}</code></td><td>{_fmt(row.cidr)}</td>"
                f"<td>{_fmt(row.availability_zone)}</td>"
                f'<td class="n" data-field="free_ips">{_fmt(row.free_ips)}</td>'
                f'<td class="n">{_fmt(row.usable_ips)}</td><td class="n">{_fmt(percent)}</td>'
                f'<td class="n">{_fmt(row.ips_needed_at_max)}</td>'
                f'<td class="n" data-field="nodes_that_still_fit">{fit_cell}</td>'
                f"<td>{_badge(row.severity)}{' suppressed' if row.status is Status.SUPPRESSED else ''}</td>"
                f"<td>{_time(row.observed_at)}</td></tr>"
            )
        out.append(
            '<table class="headroom"><thead><tr><th>Subnet</th><th>CIDR</th><th>AZ</th><th>Free IPs</th>'
            "<th>Usable IPs</th><th>Free</th><th>IPs needed at max</th><th>More nodes that fit</th>"
            f"<th>Severity</th><th>Observed</th></tr></thead><tbody>{''.join(lines)}</tbody></table>"
        )
    return "".join(out)


def history_hint(finding: Finding) -> str:
    """Where a finding's history is: the CLI (the query API's GET /findings/{id} needs SigV4: no link)."""
    return f"eks-auditor findings show {finding.id}"


def _references(finding: Finding) -> str:
    if not finding.references:
        return ""
    links = "".join(f'<li><a href="{escape(url)}">{escape(url)}</a></li>' for url in finding.references)
    return f"<h4>References</h4><ul>{links}</ul>"


def _evidence(finding: Finding) -> str:
    if not finding.evidence:
        return '<p class="meta">No evidence recorded.</p>'
    text = json.dumps(finding.evidence, indent=2, sort_keys=True, default=str)
    return (
        f"<details><summary>{len(finding.evidence)} field(s)</summary>"
        f'<pre class="evidence">{escape(text)}</pre></details>'
    )


def _detail_row(finding: Finding, columns: int) -> str:
    return (
        f'<tr class="detail" data-detail-of="{escape(finding.id)}"><td colspan="{columns}">'
        '<div class="detail-grid">'
        f'<div><h4>What is wrong</h4><p class="description">{escape(finding.description)}</p>'
        f"<h4>Evidence</h4>{_evidence(finding)}</div>"
        f'<div><h4>What to do</h4><div class="remediation">{escape(fill(finding))}</div>'
        f"{_references(finding)}</div>"
        f'<div><h4>Finding</h4><p><code class="finding-id">{escape(finding.id)}</code></p>'
        f'<h4>History</h4><p><code class="history">{escape(history_hint(finding))}</code></p>'
        f'<p class="meta">source <code>{escape(finding.source)}</code></p></div>'
        "</div></td></tr>"
    )


_HEADERS = ("Severity", "Cluster", "Check", "Resource", "Title", "First seen", "Last seen")


def _finding_row(f: Finding) -> str:
    reference = (
        f'<a href="{escape(f.references[0])}">{escape(f.check_id)}</a>'
        if f.references
        else escape(f.check_id)
    )
    return (
        f'<tr class="finding" data-finding="{escape(f.id)}" data-severity="{f.severity.value}" '
        f'data-account="{escape(f.account)}" data-cluster="{escape(f.cluster)}" '
        f'data-check="{escape(f.check_id)}">'
        f"<td>{_badge(f.severity)}</td><td>{escape(cluster_key(f))}</td><td>{reference}</td>"
        f"<td><code>{escape(f.resource)}</code></td><td>{escape(f.title)}</td>"
        f'<td class="when">{_time(f.first_seen)}</td><td class="when">{_time(f.last_seen)}</td></tr>'
        f"{_detail_row(f, len(_HEADERS))}"
    )


def account_label(account: str, names: Mapping[str, str]) -> str:
    """ "name (id)" when Organizations named the account, else the id."""
    name = names.get(account)
    return f"{name} ({account})" if name else account


def _findings_table(findings: Sequence[Finding], table_id: str, names: Mapping[str, str]) -> str:
    """Each finding and, under it, what is wrong, the evidence and what to do; by account (its
    Organizations name first, then its id) when several."""
    if not findings:
        return "<p>None.</p>"
    accounts: dict[str, list[Finding]] = {}
    for finding in findings:
        accounts.setdefault(finding.account, []).append(finding)
    bodies = []
    for account in sorted(accounts, key=lambda a: (names.get(a, "").lower() or "\uffff", a)):
        rows = "".join(_finding_row(f) for f in accounts[account])
        label = escape(account_label(account, names))
        heading = (
            f'<tr class="group"><th colspan="{len(_HEADERS)}">Account {label} '
            f'<span class="meta">({len(accounts[account])} finding(s))</span></th></tr>'
            if len(accounts) > 1
            else ""
        )
        bodies.append(f'<tbody class="group" data-account="{escape(account)}">{heading}{rows}</tbody>')
    head = "".join(f"<th>{h}</th>" for h in _HEADERS)
    return f'<table id="{table_id}" class="findings"><thead><tr>{head}</tr></thead>{"".join(bodies)}</table>'


def _options(name: str, label: str, choices: Iterable[str], labels: Mapping[str, str] | None = None) -> str:
    options = "".join(
        f'<option value="{escape(c)}">{escape((labels or {}).get(c, c))}</option>'
        for c in sorted(set(choices))
    )
    return (
        f'<label>{label} <select name="{name}" id="filter-{name}"><option value="">all</option>'
        f"{options}</select></label>"
    )


def _filters(findings: Sequence[Finding], names: Mapping[str, str]) -> str:
    boxes = "".join(
        f'<label><input type="checkbox" name="severity" value="{s.value}"> {_badge(s)}</label>'
        for s in SEVERITIES
    )
    return (
        '<form id="filters" role="search" aria-label="Filter the findings">'
        f"<span>Severity:</span>{boxes}"
        f"{_options('account', 'Account', [f.account for f in findings], _labels(findings, names))}"
        f"{_options('cluster', 'Cluster', (f.cluster for f in findings))}"
        f"{_options('check', 'Check', (f.check_id for f in findings))}"
        '<button type="reset">Show all</button>'
        f'<span class="meta"><span id="shown" data-count="{len(findings)}">{len(findings)}</span> of '
        f"{len(findings)} finding(s) shown</span></form>"
    )


def _labels(findings: Sequence[Finding], names: Mapping[str, str]) -> dict[str, str]:
    return {f.account: account_label(f.account, names) for f in findings}


def _ordered(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity.rank, cluster_key(f), f.check_id, f.resource))


def render_report(
    findings: Iterable[Finding],
    *,
    generated_at: datetime,
    source: str = "",
    title: str = "eks-auditor report",
    postures: Sequence[Posture] = (),
    account_names: Mapping[str, str] | None = None,
) -> str:
    """The page for the given findings (OPEN and SUPPRESSED count; RESOLVED ones are ignored), with the
    compliance posture of each framework given.

    `account_names` (account id -> its Organizations name) labels the account groups and filter.
    """
    names = account_names or {}
    current = [f for f in findings if f.status is not Status.RESOLVED]
    open_findings = _ordered(f for f in current if f.status is Status.OPEN)
    suppressed = _ordered(f for f in current if f.status is Status.SUPPRESSED)
    totals: Counter[Severity] = Counter(f.severity for f in open_findings)
    matrix: dict[str, Counter[Severity]] = {}
    for finding in sorted(open_findings, key=cluster_key):
        matrix.setdefault(cluster_key(finding), Counter())[finding.severity] += 1
    keys = sorted({cluster_key(f) for f in current})
    summary = ", ".join(f"{totals.get(s, 0)} {s.value}" for s in SEVERITIES)
    origin = f" from <code>{escape(source)}</code>" if source else ""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}{POSTURE_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">Generated {_time(generated_at)}{origin}. '
        f'<span id="open-total" data-count="{len(open_findings)}">{len(open_findings)}</span> open findings '
        f"({summary}) in {len(matrix)} cluster(s); "
        f'<span id="suppressed-total" data-count="{len(suppressed)}">{len(suppressed)}</span> suppressed.</p>'
        "<h2>Open findings by severity</h2>"
        f"{_severity_chart(totals)}"
        "<h2>Open findings by cluster</h2>"
        f"{_cluster_chart(matrix)}{_matrix_table(matrix, totals)}"
        "<h2>Node subnet IP headroom</h2>"
        f"{_headroom_section(keys, headroom(current))}"
        "<h2>Compliance posture</h2>"
        f"{posture_section(postures)}"
        "<h2>Open findings</h2>"
        f"{_filters([*open_findings, *suppressed], names)}"
        f"{_findings_table(open_findings, 'open-findings', names)}"
        "<h2>Suppressed findings</h2>"
        '<p class="meta">Accepted risks: still evaluated, not alerted on. '
        "<code>eks-auditor suppress list</code> shows who accepted them, why and until when.</p>"
        f"{_findings_table(suppressed, 'suppressed-findings', names)}"
        f"<script>{_SCRIPT}</script>"
        "</body></html>\n"
    )
