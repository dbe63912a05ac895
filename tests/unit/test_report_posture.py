"""The report's compliance section: the control x cluster grid, parsed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from eks_auditor.compliance.frameworks import framework
from eks_auditor.compliance.posture import ClusterVerdicts, posture
from eks_auditor.compliance.verdict import CheckVerdict, Verdict

from eks_auditor_tools.report import render_report

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
ACCOUNT, REGION = "123456789012", "eu-west-1"


def cluster(name: str, **verdicts: Verdict) -> ClusterVerdicts:
    at = NOW - timedelta(hours=1)
    kept = {
        check: CheckVerdict(
            check_id=check,
            verdict=verdict,
            evaluated_at=at,
            failing=(f"arn:{name}",) if verdict is Verdict.FAIL else (),
        )
        for check, verdict in verdicts.items()
    }
    return ClusterVerdicts(account=ACCOUNT, region=REGION, cluster=name, verdicts=kept)


class Grid(HTMLParser):
    """framework -> control -> [cell texts of the row] of each `table.grid`."""

    def __init__(self) -> None:
        super().__init__()
        self.grids: dict[str, dict[str, list[str]]] = {}
        self.headers: dict[str, list[str]] = {}
        self._framework: str | None = None
        self._row: list[str] | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        values = dict(attrs)
        if tag == "table" and "grid" in (values.get("class") or ""):
            self._framework = values["data-framework"]
            self.grids[self._framework] = {}
        elif self._framework and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._text is not None and self._row is not None:
            self._row.append("".join(self._text))
            self._text = None
        elif tag == "tr" and self._row is not None and self._framework:
            if self._row[0] == "Control":
                self.headers[self._framework] = self._row
            else:
                self.grids[self._framework][self._row[0]] = self._row
            self._row = None
        elif tag == "table":
            self._framework = None


def test_the_report_shows_a_control_by_cluster_grid() -> None:
    fleet = [
        cluster(
            "alpha", endpoint_public_access_enabled=Verdict.PASS, secrets_encryption_disabled=Verdict.PASS
        ),
        cluster(
            "bravo",
            endpoint_public_access_enabled=Verdict.FAIL,
            secrets_encryption_disabled=Verdict.NOT_APPLICABLE,
        ),
        cluster("charlie", endpoint_public_access_enabled=Verdict.INCOMPLETE),
    ]
    result = posture(framework("fsbp"), fleet, [], now=NOW)
    grid = Grid()
    grid.feed(render_report([], generated_at=NOW, postures=[result]))

    assert grid.headers["fsbp"] == [
        "Control", "Title", "alpha", "bravo", "charlie", "PASS", "FAIL", "EXC", "INC", "N/A", "Pass rate"
    ]  # fmt: skip
    rows = grid.grids["fsbp"]
    assert list(rows) == ["EKS.1", "EKS.2", "EKS.3", "EKS.8", "EC2.13", "EC2.15"]
    assert rows["EKS.1"][2:] == ["PASS", "FAIL", "INC", "1", "1", "0", "1", "0", "50%"]
    # charlie never ran the secrets check: incomplete; bravo's is not applicable.
    assert rows["EKS.3"][2:] == ["PASS", "N/A", "INC", "1", "0", "0", "1", "1", "100%"]
    assert rows["EKS.8"][2:] == ["—", "—", "—", "0", "0", "0", "0", "0", "not assessed"]


def test_without_postures_the_section_says_it_was_not_read() -> None:
    assert '<h2>Compliance posture</h2><p class="meta">Not read for this report.</p>' in render_report(
        [], generated_at=NOW
    )
