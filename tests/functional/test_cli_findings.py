"""`eks-auditor findings`, `findings show`, `suppress` and `report` through the real entry point, under moto.

API calls are counted on boto3's default session (every client the CLI creates copies its event hooks):
the findings queries must never Scan.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3
import pytest
from eks_auditor.model.check import Severity
from eks_auditor.store import FindingStore
from eks_auditor.suppressions import Suppression
from moto import mock_aws
from recording import Operations
from table import ACCOUNT, REGION, T0, TABLE, create_table, later, make_evaluation, make_finding

from eks_auditor_tools.cli.main import main

ENDPOINT = "endpoint_public_unrestricted"
LOGGING = "control_plane_logging_disabled"
IP = "ip_capacity_exhaustion_risk"


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, Any], Operations]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        calls = Operations()
        session.events.register("before-call.*.*", calls)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
        client = session.client("dynamodb")
        create_table(client)
        store = FindingStore(TABLE, client=client)
        checks = (ENDPOINT, LOGGING, IP)
        ip = make_finding(
            IP,
            "subnet-0aaa",
            severity=Severity.CRITICAL,
            evidence={
                "subnet_id": "subnet-0aaa",
                "cidr": "10.0.1.0/26",
                "free_ips": 9,
                "nodes_that_still_fit": 0,
            },
        )
        high = [make_finding(ENDPOINT, f"arn-{i}") for i in range(3)]
        medium = make_finding(LOGGING, "arn-a", severity=Severity.MEDIUM)
        for change in store.apply_evaluation(make_evaluation([ip, *high, medium], checks_run=checks)):
            store.mark_notified(change)
        for change in store.apply_evaluation(
            make_evaluation([ip, *high], at=later(1), source="evt-42", checks_run=checks)
        ):
            store.mark_notified(change)
        monkeypatch.setenv("FINDINGS_TABLE", TABLE)
        calls.operations.clear()
        yield {"ip": ip, "high": high, "medium": medium}, calls


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_findings_severity_high_as_json(fleet: tuple[dict[str, Any], Operations], capsys: Any) -> None:
    found, calls = fleet
    code, out, err = run(capsys, "findings", "--severity", "high", "--output", "json")
    assert (code, err) == (0, "")
    items = json.loads(out)
    assert {item["id"] for item in items} == {found["ip"].id, *(f.id for f in found["high"])}
    assert {item["severity"] for item in items} == {"CRITICAL", "HIGH"}
    assert items[0]["first_seen"] == "2025-03-01T12:00:00Z"
    assert "Scan" not in calls.operations
    assert set(calls.operations) == {"Query"}


def test_pagination_prints_the_next_token_to_stderr(
    fleet: tuple[dict[str, Any], Operations], capsys: Any
) -> None:
    found, calls = fleet
    seen: list[str] = []
    args = ["findings", "--status", "ALL", "--limit", "2", "--output", "json", "--table", TABLE]
    token: str | None = None
    pages = 0
    while True:
        code, out, err = run(capsys, *args, *(["--next-token", token] if token else []))
        assert code == 0
        seen.extend(item["id"] for item in json.loads(out))
        pages += 1
        if not err:
            break
        assert err.startswith("more findings: --next-token ")
        token = err.split("--next-token ", 1)[1].strip()
    everything = {found["ip"].id, *(f.id for f in found["high"]), found["medium"].id}
    assert (len(seen), set(seen), pages) == (5, everything, 3)
    assert "Scan" not in calls.operations


def test_cluster_filter_defaults_account_and_region(
    fleet: tuple[dict[str, Any], Operations], capsys: Any
) -> None:
    found, calls = fleet
    code, out, _ = run(capsys, "findings", "--cluster", "prod-a", "--check", LOGGING, "--status", "RESOLVED")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID",
        "SEVERITY",
        "CLUSTER",
        "CHECK",
        "RESOURCE",
        "LAST",
        "SEEN",
    ]
    assert [line.split()[0] for line in lines[2:]] == [found["medium"].id]
    assert calls.operations == ["GetCallerIdentity", "Query"]  # the caller's account names the cluster


def test_csv_output(fleet: tuple[dict[str, Any], Operations], capsys: Any) -> None:
    found, _ = fleet
    code, out, _ = run(capsys, "findings", "--severity", "CRITICAL", "--output", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [(r["id"], r["severity"], r["cluster"], r["first_seen"]) for r in rows] == [
        (found["ip"].id, "CRITICAL", "prod-a", "2025-03-01T12:00:00Z")
    ]


def test_ocsf_output(fleet: tuple[dict[str, Any], Operations], capsys: Any) -> None:
    from ocsf_schema import validate

    found, _ = fleet
    code, out, _ = run(capsys, "findings", "--severity", "CRITICAL", "--output", "ocsf")
    assert code == 0
    [event] = json.loads(out)
    assert run(capsys, "--output", "ocsf", "findings", "--severity", "CRITICAL")[:2] == (0, out)
    assert validate(event) == []
    assert (event["finding_info"]["uid"], event["severity_id"], event["status"]) == (found["ip"].id, 5, "New")
    assert event["evidences"] == [{"data": dict(found["ip"].evidence)}]
    assert event["unmapped"]["compliance"] == {}

    medium = found["medium"]
    code, out, _ = run(capsys, "findings", "show", medium.id, "--output", "ocsf")
    [event] = json.loads(out)
    assert (event["finding_info"]["uid"], event["activity_name"], event["status"]) == (
        medium.id,
        "Close",
        "Resolved",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--next-token", "garbage"], "--next-token: invalid next_token"),
        (["--limit", "0"], "invalid query: limit: Input should be greater than or equal to 1"),
    ],
)
def test_bad_arguments_exit_2(fleet: Any, capsys: Any, argv: list[str], message: str) -> None:
    code, out, err = run(capsys, "findings", *argv)
    assert (code, out) == (2, "")
    assert err.startswith(message)


def test_show_prints_the_history(fleet: tuple[dict[str, Any], Operations], capsys: Any) -> None:
    found, calls = fleet
    medium = found["medium"]
    code, out, _ = run(capsys, "findings", "--table", TABLE, "show", medium.id)
    assert code == 0
    assert f"Finding {medium.id}  [MEDIUM] RESOLVED" in out
    assert "  first seen   2025-03-01T12:00:00Z" in out
    assert "  last seen    2025-03-01T12:00:00Z" in out
    assert "  resolved at  2025-03-01T13:00:00Z" in out
    history = out.split("History (oldest first):\n", 1)[1].splitlines()
    assert [line.split()[:5] for line in history if line.startswith("  20")] == [
        ["2025-03-01T12:00:00Z", "OPENED", "-", "->", "OPEN"],
        ["2025-03-01T13:00:00Z", "RESOLVED", "OPEN", "->", "RESOLVED"],
    ]
    assert "source scan-1" in history[0] and "source evt-42" in history[1]
    assert history[2].strip() == f"{LOGGING} passed for arn-a"
    assert "Scan" not in calls.operations

    code, out, _ = run(capsys, "findings", "show", medium.id, "--output", "json")
    detail = json.loads(out)
    assert [h["kind"] for h in detail["history"]] == ["OPENED", "RESOLVED"]

    code, out, err = run(capsys, "findings", "show", "0" * 32)
    assert (code, out, err) == (1, "", f"finding {'0' * 32} not found\n")


def test_suppress_add_list_remove(fleet: tuple[dict[str, Any], Operations], capsys: Any) -> None:
    code, out, err = run(
        capsys,
        "suppress", "add", "--check", ENDPOINT, "--cluster", "prod-*", "--resource", "arn-[12]",
        "--account", ACCOUNT, "--reason", "VPN pending", "--author", "alice", "--expires", "7d",
    )  # fmt: skip
    assert code == 0
    assert out.startswith("added suppression ")
    assert (
        "(check endpoint_public_unrestricted, cluster prod-*, account 123456789012, resource ~ arn-[12])"
        in out
    )
    assert "next evaluation" in err
    suppression_id = out.split()[2]

    code, out, _ = run(capsys, "suppress", "list", "--output", "json")
    listed = json.loads(out)
    assert [(s["id"], s["check_id"], s["author"], s["reason"]) for s in listed] == [
        (suppression_id, ENDPOINT, "alice", "VPN pending")
    ]

    code, out, _ = run(capsys, "suppress", "list")
    assert out.splitlines()[0].split() == [
        "ID", "CHECK", "CLUSTER", "RESOURCE", "ACCOUNT", "REGION", "EXPIRES", "AUTHOR", "REASON",
    ]  # fmt: skip
    assert out.splitlines()[2].startswith(suppression_id)

    code, out, _ = run(capsys, "suppress", "remove", suppression_id)
    assert code == 0
    code, out, err = run(capsys, "suppress", "remove", suppression_id)
    assert (code, err) == (1, f"no suppression {suppression_id}\n")
    code, out, _ = run(capsys, "suppress", "list", "--all", "--output", "json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--check", "no_such_check"], "unknown check id 'no_such_check'; known: "),
        (["--check", ENDPOINT, "--expires", "someday"], "invalid suppression: expiry 'someday' is neither"),
        (["--check", ENDPOINT, "--resource", "arn-("], "invalid suppression: 1 validation error"),
    ],
)
def test_suppress_add_rejects(fleet: Any, capsys: Any, argv: list[str], message: str) -> None:
    defaults = {"--reason": "r", "--author": "a", "--expires": "1d"}
    extra = [item for key, value in defaults.items() if key not in argv for item in (key, value)]
    code, _, err = run(capsys, "suppress", "add", *argv, *extra)
    assert code == 2
    assert err.startswith(message)


@pytest.mark.parametrize(
    "check_id", ["spot_interruption_burst", "spot_interruption_notice", "audit_incomplete"]
)
def test_suppress_add_accepts_checks_the_engine_does_not_run(fleet: Any, capsys: Any, check_id: str) -> None:
    # Event-born and engine-born findings are in the catalog, so they can be accepted like any other.
    code, out, err = run(
        capsys, "suppress", "add", "--check", check_id, "--reason", "r", "--author", "a", "--expires", "1d"
    )
    assert (code, err.startswith("unknown check id")) == (0, False)
    assert f"(check {check_id}" in out
    code, out, _ = run(capsys, "suppress", "list", "--output", "json")
    assert [s["check_id"] for s in json.loads(out)] == [check_id]


def test_expired_suppressions_are_listed_only_with_all(fleet: Any, capsys: Any) -> None:
    store = FindingStore(TABLE)
    store.put_suppression(
        Suppression(
            id="old",
            check_id=ENDPOINT,
            reason="r",
            author="a",
            created_at=T0,
            expires_at=T0 + timedelta(days=1),
        )
    )
    _, out, _ = run(capsys, "suppress", "list", "--output", "json")
    assert json.loads(out) == []
    _, out, _ = run(capsys, "suppress", "list", "--all")
    assert "2025-03-02T12:00Z (expired)" in out


def test_import_prowler_mutelist(fleet: Any, capsys: Any, tmp_path: Path) -> None:
    mutelist = tmp_path / "mutelist.yaml"
    mutelist.write_text(
        'Mutelist:\n  Accounts:\n    "123456789012":\n      Checks:\n'
        '        "eks_control_plane_logging_all_types_enabled":\n          Regions: ["us-east-1"]\n'
        '          Resources: ["prod-a"]\n        "ec2_instance_public_ip":\n          Regions: ["*"]\n'
    )
    args = ["suppress", "import-prowler", str(mutelist), "--author", "secops", "--expires", "30d"]
    code, out, err = run(capsys, *args, "--dry-run")
    assert code == 0 and out.startswith("would add suppression ")
    assert (
        err == "skipped: account 123456789012, check ec2_instance_public_ip: no eks-auditor check shares it\n"
    )
    code, out, _ = run(capsys, "suppress", "list", "--output", "json")
    assert json.loads(out) == []

    code, out, _ = run(capsys, *args)
    assert code == 0 and out.startswith("added suppression ")
    code, out, _ = run(capsys, "suppress", "list", "--output", "json")
    assert [(s["check_id"], s["account"], s["region"], s["resource"]) for s in json.loads(out)] == [
        (LOGGING, ACCOUNT, "us-east-1", ".*(?:prod-a).*")
    ]


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[tuple[str, str], int] = {}
        self._key: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "td" and "data-cluster" in a:
            self._key = (str(a["data-cluster"]), str(a["data-severity"]))

    def handle_data(self, data: str) -> None:
        if self._key is not None:
            self.counts[self._key] = int(data)
            self._key = None


def test_report_writes_the_page(
    fleet: tuple[dict[str, Any], Operations], capsys: Any, tmp_path: Path
) -> None:
    _, calls = fleet
    target = tmp_path / "report.html"
    code, out, _ = run(capsys, "report", "--html", str(target))
    assert (code, out) == (0, f"wrote {target}: 4 open, 0 suppressed finding(s)\n")
    parser = Cells()
    parser.feed(target.read_text())
    key = f"prod-a ({ACCOUNT}/{REGION})"
    assert {k: v for k, v in parser.counts.items() if k[0] == key} == {
        (key, "CRITICAL"): 1,
        (key, "HIGH"): 3,
        (key, "MEDIUM"): 0,
        (key, "LOW"): 0,
        (key, "INFO"): 0,
        (key, "TOTAL"): 4,
    }
    assert 'data-subnet="subnet-0aaa"' in target.read_text()
    # The posture of the findings' account and region, both frameworks, read by key (no Scan).
    page = target.read_text()
    assert 'data-framework="cis-eks-1.7"' in page and 'data-framework="fsbp"' in page
    assert "BatchGetItem" in calls.operations
    assert "Scan" not in calls.operations


def test_missing_table_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINDINGS_TABLE", raising=False)
    with pytest.raises(SystemExit, match="no findings table: pass --table TABLE or set FINDINGS_TABLE"):
        main(["findings"])


def test_findings_fail_on_gates_every_page_and_honours_a_suppressions_file(
    fleet: tuple[dict[str, Any], Operations], capsys: Any, tmp_path: Path
) -> None:
    # --limit 1 prints one row; the gate still sees every open CRITICAL and HIGH finding.
    code, out, err = run(capsys, "findings", "--limit", "1", "--output", "json", "--fail-on", "high")
    assert code == 3
    assert len(json.loads(out)) == 1
    assert "eks-auditor: 4 open finding(s) at or above HIGH (--fail-on): exit 3" in err
    assert run(capsys, "findings", "--check", LOGGING, "--fail-on", "HIGH")[0] == 0
    code, out, _ = run(
        capsys, "suppress", "add", "--check", IP, "--reason", "r", "--author", "a", "--expires", "7d"
    )
    assert code == 0
    # The exported suppressions (what `suppress list --output json` prints) are what --suppressions reads.
    exported = tmp_path / "accepted.json"
    exported.write_text(_last_json(capsys, "suppress", "list", "--output", "json"))
    assert run(capsys, "findings", "--fail-on", "CRITICAL")[0] == 3
    assert run(capsys, "findings", "--fail-on", "CRITICAL", "--suppressions", str(exported))[0] == 0


def _last_json(capsys: Any, *argv: str) -> str:
    code, out, _ = run(capsys, *argv)
    assert code == 0
    return out
