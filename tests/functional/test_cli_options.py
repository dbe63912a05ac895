"""The command line's shared behaviour, in process: global options in either position, --version, region
resolution as aws-cli does it, one-line errors (tracebacks only with -vv), 120-column tables, progress."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from eks_auditor.model.check import Severity
from table import make_finding

from eks_auditor_tools.cli import aws, findings
from eks_auditor_tools.cli.gate import gate
from eks_auditor_tools.cli.main import build_parser, main
from eks_auditor_tools.cli.output import findings_table, table
from eks_auditor_tools.cli.progress import Progress


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "--output", "json", "--region", "eu-west-1", "--profile", "audit", "scan"],
        ["scan", "-v", "--output", "json", "--region", "eu-west-1", "--profile", "audit"],
        ["-v", "--output", "json", "scan", "--region", "eu-west-1", "--profile", "audit"],
    ],
)
def test_global_options_before_or_after_the_subcommand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.verbose, args.output, args.region, args.profile) == (1, "json", ["eu-west-1"], "audit")


@pytest.mark.parametrize(
    "argv",
    [
        ["--region", "eu-west-1", "--output", "csv", "findings", "--table", "t", "show", "abc"],
        ["findings", "show", "abc", "--region", "eu-west-1", "--output", "csv", "--table", "t"],
        ["findings", "--region", "eu-west-1", "--table", "t", "show", "abc", "--output", "csv"],
    ],
)
def test_nested_subcommands_keep_options_given_at_any_level(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.region, args.output, args.table, args.finding_id) == (["eu-west-1"], "csv", "t", "abc")


def test_defaults_without_global_options() -> None:
    args = build_parser().parse_args(["suppress", "list"])
    assert (args.verbose, args.output, args.region, args.profile) == (0, "table", [], None)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("eks-auditor 0.1")


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args([*argv, "scan"])


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    config.write_text("[profile audit]\nregion = ap-south-1\n[default]\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    return config


@pytest.mark.parametrize(
    ("argv", "env", "region"),
    [
        (
            ["--region", "eu-north-1"],
            {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"},
            "eu-north-1",
        ),
        ([], {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-1"),
        ([], {"AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-2"),
        (["--profile", "audit"], {}, "ap-south-1"),
        ([], {"AWS_PROFILE": "audit"}, "ap-south-1"),
        (["--profile", "audit"], {"AWS_REGION": "eu-west-1"}, "eu-west-1"),
    ],
)
def test_region_resolution_follows_aws_cli(
    aws_config: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], region: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert aws.resolve_region(_args(*argv)) == region


def test_no_region_anywhere_is_a_usage_error(aws_config: Path) -> None:
    with pytest.raises(aws.CliError) as error:
        aws.resolve_region(_args())
    assert error.value.code == 2
    assert str(error.value) == aws.NO_REGION


def test_max_pods_uses_the_same_resolution(aws_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["max-pods", "m5.large"]) == 2
    assert capsys.readouterr().err == f"eks-auditor max-pods: {aws.NO_REGION}\n"


def test_unknown_profile_is_one_line(aws_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--profile", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eks-auditor: The config profile (nope) could not be found: check --profile")
    assert err.count("\n") == 1


class _DeniedStore:
    def query(self, query: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "User: x is not authorized"}}, "Query"
        )


def test_access_denied_is_one_line_and_minus_vv_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(findings, "open_store", lambda args: _DeniedStore())
    assert main(["findings", "--table", "t"]) == 1
    assert capsys.readouterr().err == (
        "eks-auditor: access denied to Query (AccessDeniedException: User: x is not authorized): "
        "grant the caller that permission or use another --profile\n"
    )
    with pytest.raises(aws.CliError) as error:
        main(["findings", "--table", "t", "-vv"])
    assert isinstance(error.value.__cause__, ClientError)


def test_tables_fit_120_columns_eliding_the_middle_of_free_text_and_keeping_ids() -> None:
    long_resource = (
        "arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0123456789abcdef0/version/" + "9" * 30
    )
    finding = make_finding("endpoint_nodes_blocked_by_cidrs", long_resource, severity=Severity.CRITICAL)
    finding = finding.model_copy(update={"title": "T" * 150})
    lines = findings_table([finding]).splitlines()
    assert max(map(len, lines)) <= 120
    cells = lines[2].split()
    assert cells[:4] == ["CRITICAL", "OPEN", "prod-a", "endpoint_nodes_blocked_by_cidrs"]
    assert cells[4].startswith("arn:aws:ec2:") and "…" in cells[4] and cells[4].endswith("999")
    ids = table([("a" * 60, "x" * 200)], ("ID", "TEXT"), elide=("TEXT",))
    assert ids.splitlines()[2].startswith("a" * 60 + "  ")
    assert len(ids.splitlines()[2]) == 120


def test_gate_counts_open_unsuppressed_findings_at_or_above_the_threshold() -> None:
    from eks_auditor.model.finding import Status

    medium = make_finding("control_plane_logging_disabled", "arn-a", severity=Severity.MEDIUM)
    incomplete = make_finding("audit_incomplete", "arn-b", severity=Severity.INFO)
    suppressed = make_finding("endpoint_public_unrestricted", "arn-c").model_copy(
        update={"status": Status.SUPPRESSED}
    )
    assert gate([medium, incomplete, suppressed], None, []) == 0
    assert gate([medium, incomplete, suppressed], Severity.HIGH, []) == 0
    assert gate([medium, incomplete], Severity.MEDIUM, []) == 3
    assert gate([incomplete], Severity.LOW, []) == 0
    assert gate([incomplete], Severity.INFO, []) == 3
    assert gate([incomplete], Severity.LOW, [], fallback=1) == 1


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal() -> None:
    quiet = io.StringIO()
    progress = Progress("scan", quiet, after=0)
    progress.step("us-east-1/a")
    progress.done()
    assert quiet.getvalue() == ""
    tty = _Tty()
    progress = Progress("scan", tty, after=0)
    progress.step("us-east-1/a")
    progress.done()
    assert "scan: 1 us-east-1/a" in tty.getvalue()
    assert tty.getvalue().endswith("done in 0s\n")


def test_a_long_status_shows_at_once_on_a_terminal_and_clears() -> None:
    quiet = io.StringIO()
    progress = Progress("replay", quiet)
    progress.status("starting the embedded account")
    progress.clear()
    assert quiet.getvalue() == ""
    tty = _Tty()
    progress = Progress("replay", tty)
    progress.status("starting the embedded account")
    assert tty.getvalue() == "\r\033[Kreplay: starting the embedded account"
    progress.clear()
    assert tty.getvalue().endswith("\r\033[K")
    progress.done()  # nothing more once cleared
    assert tty.getvalue().count("replay:") == 1
