"""`eks-auditor` as a user runs it: a subprocess against a moto server on 127.0.0.1 (AWS_ENDPOINT_URL).

One server and one demo fleet per test session; each case asserts the exit code and that stderr is
one line with what to do, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from eks_auditor_tools.demo.fleet import build_fleet

REGION = "us-east-1"
ANALYTICS_CRITICAL = ["--cluster", "analytics", "--check", "endpoint_nodes_blocked_by_cidrs"]


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", url)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        build_fleet(boto3.Session(region_name=REGION), REGION)
    yield url
    server.stop()


def environment(endpoint: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        PYTHONIOENCODING="utf-8",
    )
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eks_auditor_tools.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("eks-auditor:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_aws_region_is_honoured_over_aws_default_region(endpoint: str) -> None:
    # The fleet is in us-east-1: AWS_REGION=eu-west-1 must scan eu-west-1 (nothing), not us-east-1.
    moved = cli(
        environment(endpoint, AWS_REGION="eu-west-1", AWS_DEFAULT_REGION=REGION), "scan", "--output", "json"
    )
    assert (moved.returncode, json.loads(moved.stdout)) == (0, []), moved.stderr
    here = cli(
        environment(endpoint, AWS_DEFAULT_REGION=REGION), "scan", "--output", "json", *ANALYTICS_CRITICAL
    )
    assert here.returncode == 0, here.stderr
    assert [(f["cluster"], f["region"]) for f in json.loads(here.stdout)] == [("analytics", REGION)]


def test_no_region_is_a_usage_error_not_us_east_1(endpoint: str) -> None:
    result = cli(environment(endpoint), "scan")
    assert (result.returncode, result.stdout) == (2, "")
    assert one_line(result.stderr).startswith(
        "eks-auditor: no AWS region: pass --region REGION, set AWS_REGION"
    )


def test_fail_on_exit_codes_and_suppressions_file(endpoint: str, tmp_path: Path) -> None:
    env = environment(endpoint, AWS_REGION=REGION)
    gated = cli(env, "scan", *ANALYTICS_CRITICAL, "--fail-on", "critical")
    assert gated.returncode == 3, gated.stderr
    assert one_line(gated.stderr) == "eks-auditor: 1 open finding(s) at or above CRITICAL (--fail-on): exit 3"
    accepted = tmp_path / "suppressions.json"
    accepted.write_text(
        json.dumps(
            [
                {
                    "check_id": "endpoint_nodes_blocked_by_cidrs",
                    "cluster": "analytics",
                    "reason": "accepted until the VPC move",
                    "author": "sec@example.com",
                    "created_at": "2025-01-01T00:00:00Z",
                    "expires_at": "2999-01-01T00:00:00Z",
                }
            ]
        )
    )
    suppressed = cli(env, "scan", *ANALYTICS_CRITICAL, "--fail-on", "LOW", "--suppressions", str(accepted))
    assert (suppressed.returncode, suppressed.stderr) == (0, "")
    # audit_incomplete is INFO: it gates only --fail-on INFO (no Kubernetes API is served here).
    incomplete = ["--cluster", "payments", "--check", "cluster_admin_broad"]
    assert cli(env, "scan", *incomplete, "-v", "--fail-on", "INFO").returncode == 3


def test_bad_suppressions_file_is_a_usage_error_before_scanning(endpoint: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a list"}')
    result = cli(
        environment(endpoint, AWS_REGION=REGION), "scan", "--fail-on", "HIGH", "--suppressions", str(bad)
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert "write it with `eks-auditor suppress list --output json`" in one_line(result.stderr)


@pytest.mark.parametrize(
    ("extra", "argv", "code", "message"),
    [
        (
            {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
            ["findings", "--table", "t"],
            2,
            "eks-auditor: no AWS credentials: run `aws configure`",
        ),
        (
            {},
            ["findings", "--table", "missing"],
            2,
            "eks-auditor: findings table 'missing' not found in us-east-1",
        ),
        (
            {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
            ["suppress", "list", "--table", "t"],
            1,
            "eks-auditor: cannot reach http://127.0.0.1:9/: check the network",
        ),
    ],
)
def test_one_line_errors(
    endpoint: str, extra: dict[str, str], argv: list[str], code: int, message: str
) -> None:
    result = cli(environment(endpoint, AWS_REGION=REGION, **extra), *argv)
    assert result.returncode == code, result.stderr
    assert one_line(result.stderr).startswith(message)


def test_non_utf8_stdout_does_not_crash(endpoint: str) -> None:
    result = cli(
        environment(endpoint, AWS_REGION=REGION, PYTHONIOENCODING="ascii"), "scan", "--cluster", "analytics"
    )
    assert result.returncode == 0, result.stderr
    assert "?" in result.stdout  # the elision mark, replaced
    assert max(len(line) for line in result.stdout.splitlines()) <= 120


def test_after_the_demo_the_local_endpoint_serves_findings_and_suppress(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eks_auditor.model.check import Severity
    from eks_auditor.store import FindingStore
    from table import create_table, make_evaluation, make_finding

    from eks_auditor_tools.cli import local

    # What `make demo` leaves: the state file of a running endpoint and the findings copied into it.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    FindingStore(create_table(dynamodb, "demo-source"), client=dynamodb).apply_evaluation(
        make_evaluation([make_finding("endpoint_public_unrestricted", "arn-1", severity=Severity.HIGH)])
    )
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    local.state_file().parent.mkdir(parents=True)
    local.state_file().write_text(json.dumps({"endpoint": endpoint, "pid": sleeper.pid}))
    assert local.keep(dynamodb, source_table="demo-source") == endpoint

    env = environment(None, XDG_STATE_HOME=str(tmp_path))
    exports = cli(env, "local", "env")
    assert exports.returncode == 0, exports.stderr
    for line in exports.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    listed = cli(env, "findings", "--output", "json", "--fail-on", "HIGH")
    assert listed.returncode == 3, listed.stderr
    assert [f["check_id"] for f in json.loads(listed.stdout)] == ["endpoint_public_unrestricted"]
    stopped = cli(env, "local", "stop")
    assert stopped.stdout == f"stopped the local endpoint at {endpoint}\n"
    assert sleeper.wait(timeout=10) == -15
    assert not local.state_file().exists()
