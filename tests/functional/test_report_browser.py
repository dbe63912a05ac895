"""The HTML report in a real browser: headless Chromium renders it and runs its filter script.

Skips where /usr/bin/chromium is absent (Debian: `apt-get install chromium`). The screenshot is kept
under pytest's tmp dir as a test artifact; its path is printed (`pytest -s` shows it).
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status
from finding_builder import T0, build_finding

from eks_auditor_tools.report import COLORS, render_report

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
)

PROD, DEV = "111111111111", "222222222222"


def finding(account: str, cluster: str, check_id: str, severity: Severity, **fields: Any) -> Finding:
    resource = f"arn:aws:eks:eu-west-1:{account}:cluster/{cluster}"
    defaults: dict[str, Any] = {
        "title": f"{check_id} on {cluster}",
        "description": "What is wrong, in a sentence long enough to wrap in a narrow column of the page.",
        "evidence": {"endpoint_public_access": True, "public_access_cidrs": ["0.0.0.0/0"]},
        "remediation": "aws eks update-cluster-config --name <cluster> --resources-vpc-config x=true",
    }
    return build_finding(
        account=account,
        region="eu-west-1",
        cluster=cluster,
        check_id=check_id,
        resource=resource,
        severity=severity,
        seen_for=timedelta(days=2),
        **{**defaults, **fields},
    )


FLEET = [
    finding(PROD, "prod-a", "endpoint_nodes_blocked_by_cidrs", Severity.CRITICAL),
    finding(PROD, "prod-a", "endpoint_public_unrestricted", Severity.HIGH),
    finding(PROD, "prod-b", "control_plane_logging_disabled", Severity.MEDIUM),
    finding(DEV, "dev-c", "endpoint_nodes_blocked_by_cidrs", Severity.CRITICAL),
    finding(DEV, "dev-c", "secrets_encryption_disabled", Severity.MEDIUM),
    finding(DEV, "dev-c", "oidc_provider_missing", Severity.LOW, status=Status.SUPPRESSED),
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",  # tests run as root in CI
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",  # no shared profile lock between parallel tests
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(FLEET, generated_at=T0, source="findings"), encoding="utf-8")
    return path


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows of an 8-bit RGB/RGBA PNG, unfiltered (PNG spec, section 9)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, color, interlace) in {(8, 2, 0), (8, 6, 0)}, "Chromium writes 8-bit RGB(A), not interlaced"
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = previous[x]
            c = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(v for i, v in enumerate(line) if i % 4 != 3))
        previous = line
    return width, height, rows


def test_screenshot_renders_the_report(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,900", page.as_uri())
    print(f"report screenshot: {shot}")
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1400, 900)
    pixels = [row[i : i + 3] for row in rows[::4] for i in range(0, len(row), 12)]
    colours = set(pixels)
    assert len(colours) > 20, "a blank or single-colour page"
    white = sum(1 for p in pixels if p == b"\xff\xff\xff") / len(pixels)
    assert 0.3 < white < 0.99, white
    # The severity chart's CRITICAL bar is drawn near the top of the page in its colour.
    critical = bytes.fromhex(COLORS[Severity.CRITICAL].lstrip("#"))
    assert critical in colours
    # The page uses the window: a heading's rule (#e5e7eb) runs across nearly all 1400 pixels (the old
    # 72rem max-width stopped it at 1152).
    rule = bytes.fromhex("e5e7eb")
    longest = max(sum(1 for i in range(0, len(row), 3) if row[i : i + 3] == rule) for row in rows)
    assert longest > 1250, longest


class Rows(HTMLParser):
    """The finding rows and group headings of a DOM dump, with whether each is hidden."""

    def __init__(self) -> None:
        super().__init__()
        self.findings: dict[str, bool] = {}
        self.groups: dict[str, bool] = {}
        self.shown: str | None = None
        self._account: str | None = None
        self._in_shown = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "tbody" and "group" in classes:
            self._account = a.get("data-account")
        if tag == "tr" and "finding" in classes:
            self.findings[str(a["data-finding"])] = "hidden" in a
        if tag == "tr" and "group" in classes:
            self.groups[f"{self._account}"] = "hidden" in a
        if tag == "span" and a.get("id") == "shown":
            self._in_shown = True

    def handle_data(self, data: str) -> None:
        if self._in_shown:
            self.shown = data
            self._in_shown = False


def dom(tmp_path: Path, url: str) -> Rows:
    result = chromium(tmp_path, "--dump-dom", url)
    rows = Rows()
    rows.feed(result.stdout)
    return rows


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        # The fragment the filter form writes, and a query string a link may carry instead.
        ("#severity=CRITICAL", {f.id for f in FLEET if f.severity is Severity.CRITICAL}),
        (
            f"?severity=MEDIUM,LOW&account={DEV}",
            {f.id for f in FLEET if f.account == DEV and f.severity in {Severity.MEDIUM, Severity.LOW}},
        ),
    ],
)
def test_filters_run_in_the_browser(page: Path, tmp_path: Path, suffix: str, expected: set[str]) -> None:
    rows = dom(tmp_path, page.as_uri() + suffix)
    assert set(rows.findings) == {f.id for f in FLEET}
    visible = {fid for fid, hidden in rows.findings.items() if not hidden}
    assert visible == expected
    assert rows.shown == str(len(expected))
    if suffix.startswith("?"):
        # Grouped by account (two accounts): the other account's heading hides with its rows.
        assert rows.groups == {PROD: True, DEV: False}
