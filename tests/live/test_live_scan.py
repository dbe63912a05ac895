"""Opt-in: a read-only scan of a real AWS account. Skipped unless EKS_AUDITOR_LIVE=1.

Runs `eks-auditor scan --output json` with the caller's own credentials and region (AWS_PROFILE,
AWS_REGION); it writes nothing (no --table). Useful before a release to catch API shapes moto and
the recorded responses do not cover.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("EKS_AUDITOR_LIVE") != "1",
        reason="talks to a real AWS account; set EKS_AUDITOR_LIVE=1 (and AWS_PROFILE/AWS_REGION) to run",
    ),
]

FIELDS = {"id", "check_id", "severity", "status", "account", "region", "cluster", "resource", "title"}


def test_read_only_scan_of_the_callers_account() -> None:
    # The conftest leaves the real AWS environment alone for tests marked live.
    done = subprocess.run(
        [sys.executable, "-m", "eks_auditor_tools.cli.main", "scan", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout)
    assert isinstance(findings, list)
    for finding in findings:
        assert set(finding) >= FIELDS
