"""The HTML report, parsed with html.parser: counts, chart, headroom, and no external fetches."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status
from finding_builder import T0, build_finding

from eks_auditor_tools.report import headroom, render_report

ACCOUNT = "123456789012"
REGION = "eu-west-1"
A = f"prod-a ({ACCOUNT}/{REGION})"
B = f"prod-b ({ACCOUNT}/{REGION})"
C = f"dev-c ({ACCOUNT}/{REGION})"


def finding(
    cluster: str,
    check_id: str,
    resource: str,
    severity: Severity,
    status: Status = Status.OPEN,
    account: str = ACCOUNT,
    **fields: Any,
) -> Finding:
    fields.setdefault("references", ("https://docs.aws.amazon.com/eks/latest/userguide/",))
    return build_finding(
        account=account,
        region=REGION,
        cluster=cluster,
        check_id=check_id,
        resource=resource,
        severity=severity,
        status=status,
        **fields,
    )


IP_EVIDENCE = {
    "subnet_id": "subnet-0aaa",
    "cidr": "10.0.1.0/26",
    "availability_zone": "eu-west-1a",
    "free_ips": 12,
    "usable_ips": 59,
    "percent_free": 20.3,
    "ips_needed_at_max": 58,
    "nodes_that_still_fit": 1,
}


def fleet() -> list[Finding]:
    return [
        finding(
            "prod-a", "ip_capacity_exhaustion_risk", "subnet-0aaa", Severity.CRITICAL, evidence=IP_EVIDENCE
        ),
        finding("prod-a", "endpoint_nodes_blocked_by_cidrs", "arn-a", Severity.CRITICAL),
        finding("prod-a", "endpoint_public_unrestricted", "arn-a", Severity.HIGH, title="<script>x</script>"),
        finding("prod-b", "control_plane_logging_disabled", "arn-b", Severity.MEDIUM),
        finding("prod-b", "ip_prefix_delegation_recommended", "ng-1", Severity.LOW),
        finding("prod-b", "audit_incomplete", "x:y", Severity.INFO),
        # Evidence without numbers (an older shape): the subnet still shows, the figures as unknown.
        finding("prod-b", "ip_capacity_exhaustion_risk", "subnet-0bbb", Severity.HIGH, Status.SUPPRESSED),
        finding("dev-c", "nodes_public_subnet", "ng-2", Severity.MEDIUM, Status.SUPPRESSED),
        finding("prod-a", "secrets_encryption_disabled", "arn-a", Severity.MEDIUM, Status.RESOLVED),
    ]


class Page(HTMLParser):
    """Collects the data-* cells, SVG bars, headroom rows and every tag and attribute seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: dict[tuple[str, str], int] = {}
        self.bars: dict[str, int] = {}
        self.rows: dict[str, list[str]] = {}
        self.ids: dict[str, str] = {}
        self._cell: tuple[str, str] | None = None
        self._row: str | None = None
        self._table: str | None = None
        self._id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self._table = a.get("id")
        if tag == "td" and "data-cluster" in a:
            self._cell = (str(a["data-cluster"]), str(a["data-severity"]))
        if tag == "rect" and "data-severity" in a:
            self.bars[str(a["data-severity"])] = int(str(a["data-count"]))
        if tag == "tr" and ("data-finding" in a or "data-subnet" in a):
            self._row = f"{self._table or 'headroom'}:{a.get('data-finding') or a.get('data-subnet')}"
            self.rows[self._row] = []
        if tag == "span" and a.get("id"):
            self._id = a["id"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        if tag == "tr":
            self._row = None
        if tag == "span":
            self._id = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self.cells[self._cell] = int(data)
        if self._row is not None and data.strip():
            self.rows[self._row].append(data.strip())
        if self._id is not None:
            self.ids[self._id] = data


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def test_counts_by_cluster_and_severity() -> None:
    page = parse(render_report(fleet(), generated_at=T0, source="eks-auditor-findings"))
    assert page.cells == {
        (A, "CRITICAL"): 2, (A, "HIGH"): 1, (A, "MEDIUM"): 0, (A, "LOW"): 0, (A, "INFO"): 0, (A, "TOTAL"): 3,
        (B, "CRITICAL"): 0, (B, "HIGH"): 0, (B, "MEDIUM"): 1, (B, "LOW"): 1, (B, "INFO"): 1, (B, "TOTAL"): 3,
        ("ALL", "CRITICAL"): 2, ("ALL", "HIGH"): 1, ("ALL", "MEDIUM"): 1, ("ALL", "LOW"): 1,
        ("ALL", "INFO"): 1, ("ALL", "TOTAL"): 6,
    }  # fmt: skip
    assert page.bars == {"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "INFO": 1}
    assert page.ids == {"open-total": "6", "suppressed-total": "2", "shown": "8"}


def test_open_and_suppressed_lists_exclude_resolved() -> None:
    page = parse(render_report(fleet(), generated_at=T0))
    open_rows = [key for key in page.rows if key.startswith("open-findings:")]
    suppressed_rows = [key for key in page.rows if key.startswith("suppressed-findings:")]
    assert len(open_rows) == 6
    assert len(suppressed_rows) == 2
    resolved = fleet()[-1]
    assert not any(resolved.id in key for key in page.rows)
    # Most severe first.
    first = page.rows[open_rows[0]]
    assert first[0] == "CRITICAL"


def test_headroom_per_cluster_from_ip_findings() -> None:
    html = render_report(fleet(), generated_at=T0)
    page = parse(html)
    assert page.rows["headroom:subnet-0aaa"] == [
        "subnet-0aaa", "10.0.1.0/26", "eu-west-1a", "12", "59", "20.3%", "58", "1", "CRITICAL",
        "2025-03-01 13:00 UTC",
    ]  # fmt: skip
    assert page.rows["headroom:subnet-0bbb"] == [
        "subnet-0bbb", "—", "—", "—", "—", "—", "—", "—", "HIGH", "suppressed", "2025-03-01 13:00 UTC",
    ]  # fmt: skip
    # A cluster with findings but no IP-capacity finding says so.
    section = html.split("Node subnet IP headroom")[1].split("<h2>")[0]
    assert f'<h3>{C}</h3><p class="meta">No node subnet at risk recorded.</p>' in section
    assert [row.subnet_id for row in headroom(fleet())] == ["subnet-0aaa", "subnet-0bbb"]


def test_self_contained_and_escaped() -> None:
    html = render_report(fleet(), generated_at=T0)
    page = parse(html)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"link", "img", "iframe", "object", "embed", "image", "use"}
    # One inline script (the filters): nothing loaded, nothing fetched.
    assert [attrs for tag, attrs in page.tags if tag == "script"] == [{}]
    assert not re.search(r"fetch\(|XMLHttpRequest|import\(|https?://(?!docs\.aws)", html.split("<script>")[1])
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        assert not any(name.startswith("on") for name in attrs), tag
        if "href" in attrs:
            assert tag == "a", tag  # links to the AWS docs a reader may follow; nothing loads by itself
    assert not re.search(r"url\(|@import", html)
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert {"style", "svg"} <= tags


def test_empty_table_still_renders() -> None:
    page = parse(render_report([], generated_at=T0))
    assert page.ids == {"open-total": "0", "suppressed-total": "0", "shown": "0"}
    assert page.cells[("ALL", "TOTAL")] == 0
    assert page.bars == {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0, "INFO": 0}


def _detail(html: str, fid: str) -> str:
    return html.split(f'data-detail-of="{fid}"', 1)[1].split("</tr>", 1)[0]


def test_each_finding_says_what_is_wrong_and_what_to_do() -> None:
    exposed = finding(
        "prod-a",
        "endpoint_public_unrestricted",
        "arn-a",
        Severity.HIGH,
        description="Anyone on the internet reaches the <API server>.",
        evidence={"public_access_cidrs": ["0.0.0.0/0"], "endpoint_public_access": True},
        remediation="aws eks update-cluster-config --name <cluster> --resources-vpc-config x=true",
    )
    html = render_report([exposed], generated_at=T0)
    detail = _detail(html, exposed.id)
    assert "Anyone on the internet reaches the &lt;API server&gt;." in detail
    assert "aws eks update-cluster-config --name prod-a --resources-vpc-config x=true" in detail
    assert "&lt;cluster&gt;" not in detail
    assert "&quot;public_access_cidrs&quot;: [\n    &quot;0.0.0.0/0&quot;\n  ]" in detail
    assert f'<code class="finding-id">{exposed.id}</code>' in detail
    assert f'<code class="history">eks-auditor findings show {exposed.id}</code>' in detail
    assert '<a href="https://docs.aws.amazon.com/eks/latest/userguide/">' in detail
    # The summary row carries what the filters match on; dates never wrap.
    row = html.split(f'data-finding="{exposed.id}"', 1)[1].split("</tr>", 1)[0]
    assert f'data-account="{ACCOUNT}" data-cluster="prod-a" data-check="endpoint_public_unrestricted"' in row
    assert row.count('<td class="when">') == 2


def test_layout_uses_the_window_and_prints() -> None:
    html = render_report(fleet(), generated_at=T0)
    css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "max-width:72rem" not in css and "table.findings{width:100%}" in css
    assert ".when,.sev{white-space:nowrap}" in css
    print_rules = css.split("@media print{", 1)[1]
    assert "#filters button" in print_rules and "break-inside:avoid" in print_rules


def test_filters_offer_every_value_present() -> None:
    page = parse(render_report(fleet(), generated_at=T0))
    options: dict[str, list[str]] = {}
    select = None
    for tag, attrs in page.tags:
        if tag == "select":
            select = attrs["name"]
            options[str(select)] = []
        elif tag == "option" and select is not None:
            options[str(select)].append(str(attrs["value"]))
    assert options == {
        "account": ["", ACCOUNT],
        "cluster": ["", "dev-c", "prod-a", "prod-b"],
        "check": [
            "", "audit_incomplete", "control_plane_logging_disabled", "endpoint_nodes_blocked_by_cidrs",
            "endpoint_public_unrestricted", "ip_capacity_exhaustion_risk", "ip_prefix_delegation_recommended",
            "nodes_public_subnet",
        ],
    }  # fmt: skip
    boxes = [attrs["value"] for tag, attrs in page.tags if tag == "input" and attrs.get("name") == "severity"]
    assert boxes == ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
    assert page.ids["shown"] == "8"


def test_grouped_by_account_only_when_several() -> None:
    other = finding("prod-z", "oidc_provider_missing", "arn-z", Severity.LOW, account="210987654321")
    single = render_report(fleet(), generated_at=T0)
    assert '<tr class="group">' not in single
    several = render_report([*fleet(), other], generated_at=T0)
    table = several.split('id="open-findings"', 1)[1].split("</table>", 1)[0]
    bodies = re.findall(
        r'<tbody class="group" data-account="(\d+)"><tr class="group"><th colspan="7">Account (\d+)', table
    )
    assert bodies == [("123456789012", "123456789012"), ("210987654321", "210987654321")]
    assert table.split('data-account="210987654321">', 1)[1].count('<tr class="finding"') == 1


def test_account_groups_carry_the_organizations_names() -> None:
    other = finding("prod-z", "oidc_provider_missing", "arn-z", Severity.LOW, account="210987654321")
    nameless = finding("prod-y", "oidc_provider_missing", "arn-y", Severity.LOW, account="333333333333")
    names = {ACCOUNT: "zeta-payments", "210987654321": "alpha-data"}
    page = render_report([*fleet(), other, nameless], generated_at=T0, account_names=names)
    table = page.split('id="open-findings"', 1)[1].split("</table>", 1)[0]
    headings = re.findall(r'<tr class="group"><th colspan="7">Account ([^<]+) <span', table)
    # Grouped by name (then id); an account Organizations did not name keeps its id, last.
    assert headings == ["alpha-data (210987654321)", f"zeta-payments ({ACCOUNT})", "333333333333"]
    # The filter keeps the id as its value (rows carry data-account="<id>") and shows the name.
    options = re.findall(r'<option value="(\d+)">([^<]+)</option>', page.split('name="account"', 1)[1])
    assert options == [
        ("123456789012", f"zeta-payments ({ACCOUNT})"),
        ("210987654321", "alpha-data (210987654321)"),
        ("333333333333", "333333333333"),
    ]
