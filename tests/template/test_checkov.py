"""The template security scan: checkov (its own venv, `make checkov`) passes every check on template.yaml,
or the check is suppressed in the resource's Metadata with a written reason."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
pytestmark = pytest.mark.skipif(
    not CHECKOV.exists(), reason="checkov is not installed: `make checkov` creates .venv-checkov"
)


@pytest.fixture(scope="module")
def scan() -> dict[str, Any]:
    # --skip-download: checkov otherwise fetches guidelines and policies from the network.
    result = subprocess.run(
        [
            str(CHECKOV),
            "-f",
            str(REPO / "template.yaml"),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
    )
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_parses_the_template(scan: dict[str, Any]) -> None:
    assert scan["summary"]["parsing_errors"] == 0
    assert scan["summary"]["resource_count"] > 40


def test_no_failed_check(scan: dict[str, Any]) -> None:
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in scan["results"]["failed_checks"]]
    assert failed == []


def test_every_suppression_says_why(scan: dict[str, Any]) -> None:
    skipped = scan["results"]["skipped_checks"]
    unexplained = [
        f"{c['check_id']} {c['resource']}"
        for c in skipped
        if len(c["check_result"].get("suppress_comment", "").strip()) < 20
    ]
    assert unexplained == []
