"""The Makefile picks Python 3.12+ and says so in one line when there is none; `make clean` keeps .venv."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("python", ["/bin/false", "", "/nonexistent/python3"])
def test_no_python_312_is_one_clear_line(python: str) -> None:
    result = make("python", f"PYTHON={python}")
    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == (
        "eks-auditor needs Python 3.12 or newer: install python3.12 (or pass PYTHON=/path/to/python3.12)"
    )


def test_clean_says_it_keeps_the_venv() -> None:
    result = make("-n", "clean")
    assert result.returncode == 0
    assert 'echo "kept .venv (make distclean removes it too)"' in result.stdout
    assert "rm -rf .venv" not in result.stdout
