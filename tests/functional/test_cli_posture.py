"""`eks-auditor posture` through the real entry point, under moto: a fleet with a passing, a failing, a
waived (suppressed) and an incomplete cluster; the table fits 120 columns and nothing Scans."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from eks_auditor.store import FindingStore
from eks_auditor.suppressions import Suppression
from moto import mock_aws
from recording import Operations
from table import ACCOUNT, REGION, TABLE, create_table, make_evaluation, make_finding, make_incomplete

from eks_auditor_tools.cli.main import main
from eks_auditor_tools.cli.posture import failing_names

PUBLIC, UNRESTRICTED, PRIVATE_OFF, SECRETS = (
    "endpoint_public_access_enabled",
    "endpoint_public_unrestricted",
    "endpoint_private_access_disabled",
    "secrets_encryption_disabled",
)
CHECKS = (PUBLIC, UNRESTRICTED, PRIVATE_OFF, SECRETS)


def arn(cluster: str) -> str:
    return f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{cluster}"


def audit(store: FindingStore, cluster: str, at: datetime, **verdicts: str) -> None:
    """One evaluation of CHECKS on `cluster`: each check FAIL, PASS, NA or ERROR on the cluster ARN."""
    failing, passing, not_applicable, errored = [], [], [], []
    for check in CHECKS:
        verdict = verdicts.get(check, "PASS")
        if verdict == "FAIL":
            failing.append(make_finding(check, arn(cluster), cluster=cluster))
        elif verdict == "ERROR":
            failing.append(make_incomplete(check, arn(cluster)).model_copy(update={"cluster": cluster}))
            errored.append(check)
        else:
            passing.append((check, arn(cluster)))
            if verdict == "NA":
                not_applicable.append((check, arn(cluster)))
    store.apply_evaluation(
        make_evaluation(
            failing,
            at=at,
            checks_run=CHECKS,
            passing=passing,
            not_applicable=not_applicable,
            errored=errored,
            cluster=cluster,
        )
    )


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[Operations]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
        client = session.client("dynamodb")
        create_table(client)
        store = FindingStore(TABLE, client=client)
        at = datetime.now(UTC) - timedelta(hours=1)
        audit(store, "alpha", at)
        audit(store, "bravo", at, **{PUBLIC: "FAIL", UNRESTRICTED: "FAIL", SECRETS: "FAIL"})
        audit(store, "charlie", at, **{PUBLIC: "FAIL", SECRETS: "NA"})
        audit(store, "delta", at, **{PUBLIC: "ERROR", UNRESTRICTED: "ERROR"})
        store.put_suppression(
            Suppression(
                check_id=PUBLIC,
                cluster="charlie",
                reason="CI runners reach the API from the internet",
                author="sec-team",
                created_at=at,
                expires_at=at + timedelta(days=90),
            )
        )
        calls = Operations()
        session.events.register("before-call.*.*", calls)
        monkeypatch.setenv("FINDINGS_TABLE", TABLE)
        monkeypatch.setenv("AWS_REGION", REGION)
        yield calls


def test_posture_table(fleet: Operations, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["posture", "--framework", "cis-eks"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "CIS Amazon EKS Benchmark 1.7.0 (cis-eks-1.7): 4 cluster(s)"
    rows = {line.split()[0]: line.split() for line in lines[3:] if line[:1].isdigit()}
    # control: PASS FAIL EXC INC N/A RATE FAILING CLUSTERS
    assert rows["5.4.2"][-7:] == ["1", "1", "1", "1", "0", "33%", "bravo"]
    assert rows["5.4.1"][-7:] == ["2", "1", "0", "1", "0", "67%", "bravo"]
    assert rows["5.3.1"][-7:] == ["2", "1", "0", "0", "1", "67%", "bravo"]
    assert rows["2.1.1"][-7:] == ["0", "0", "0", "0", "0", "—", "-"]  # only a partial check: not assessed
    assert lines[-1].endswith("not assessed (--all lists them)")
    assert lines[-2].startswith("RATE —: not assessed")
    assert max(len(line) for line in lines) <= 120
    assert "Scan" not in fleet.operations
    assert set(fleet.operations) == {"GetCallerIdentity", "Query", "BatchGetItem"}


def test_failing_clusters_are_listed_whole_then_counted() -> None:
    assert failing_names([]) == "-"
    assert failing_names(["analytics", "batch"]) == "analytics, batch"
    names = [f"cluster-{i:02d}" for i in range(9)]
    assert failing_names(names) == "cluster-00, cluster-01 +7"  # a third would make 37 > 36 columns
    assert failing_names(["a-very-long-cluster-name-that-exceeds-the-width-alone", "b"]) == (
        "a-very-long-cluster-name-that-exceeds-the-width-alone +1"
    )


def test_posture_json_and_csv(fleet: Operations, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["posture", "--framework", "fsbp", "--account", ACCOUNT, "--output", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    eks1 = next(row for row in body["controls"] if row["control"] == "EKS.1")
    assert {cell["cluster"].rsplit("/", 1)[1]: cell["verdict"] for cell in eks1["cells"]} == {
        "alpha": "PASS",
        "bravo": "FAIL",
        "charlie": "EXCEPTION",
        "delta": "INCOMPLETE",
    }
    assert "GetCallerIdentity" not in fleet.operations  # --account given

    assert main(["posture", "--output", "csv", "--cluster", "bravo", "--cluster", "delta"]) == 0
    rows = {row["control"]: row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert (rows["5.4.1"]["failing"], rows["5.4.1"]["incomplete"], rows["5.4.1"]["pass_rate"]) == (
        "1",
        "1",
        "0.0",
    )
    assert rows["5.4.1"]["failing_clusters"] == f"{ACCOUNT}/{REGION}/bravo"
    assert (rows["4.1.1"]["assessed"], rows["4.1.1"]["pass_rate"]) == ("false", "")


def test_no_audited_cluster_is_exit_1(fleet: Operations, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["posture", "--account", "210987654321", "--output", "json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["clusters"] == []
    assert captured.err == (
        f"eks-auditor: no audited cluster in 210987654321/{REGION}: run a scan with --table first\n"
    )
