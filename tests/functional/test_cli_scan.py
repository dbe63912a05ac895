"""`eks-auditor scan` and `eks-auditor replay` through cli.main.main, stdout captured.

scan runs against the demo fleet in moto through the standard AWS environment (no Kubernetes API is
served here, so the checks that read it are audit_incomplete). replay --embedded starts its own
embedded account, so it runs outside the scan tests' moto context (a class-scoped fixture).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from accounts import moto_account
from eks_auditor.model.finding import Status, finding_id
from eks_auditor.store import FindingStore
from table import create_table

from eks_auditor_tools.cli.main import main
from eks_auditor_tools.demo.fleet import ACCOUNT, Fleet, build_fleet

REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[2]
FIELDS = [
    "id",
    "check_id",
    "severity",
    "status",
    "account",
    "region",
    "cluster",
    "resource",
    "title",
    "evidence",
    "remediation",
]


@pytest.fixture(scope="class")
def fleet() -> Iterator[Fleet]:
    with moto_account() as session:
        yield build_fleet(session, REGION)


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["scan", *args])
    out, err = capsys.readouterr()
    return code, out, err


class TestScan:
    def test_json_lists_every_cluster_finding_with_exactly_the_promised_fields(
        self, fleet: Fleet, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = scan(capsys, "--output", "json")
        assert code == 0
        findings: list[dict[str, Any]] = json.loads(out)
        assert findings
        for finding in findings:
            assert list(finding) == FIELDS
            assert (finding["account"], finding["region"], finding["status"]) == (ACCOUNT, REGION, "OPEN")
            assert finding["id"] == finding_id(
                ACCOUNT, REGION, finding["cluster"], finding["check_id"], finding["resource"]
            )
            assert isinstance(finding["evidence"], dict)
            assert finding["title"] and finding["remediation"]
        assert {f["cluster"] for f in findings} == set(fleet.clusters)
        by_check = {(f["cluster"], f["check_id"]): f for f in findings}
        exposed = by_check[("prod-web", "endpoint_public_unrestricted")]
        assert (exposed["severity"], exposed["resource"]) == ("HIGH", fleet.clusters["prod-web"])
        assert by_check[("analytics", "endpoint_nodes_blocked_by_cidrs")]["severity"] == "CRITICAL"
        assert ("platform", "endpoint_public_unrestricted") not in by_check
        # No Kubernetes API here, and moto answers 404 to Pod Identity / add-on reads (whether the isolated
        # cluster needs eks-auth): unknown, reported as such, never a pass.
        assert {f["evidence"]["check_id"] for f in findings if f["check_id"] == "audit_incomplete"} == {
            "autoscaler_dynamic_instance_list",
            "cluster_admin_broad",
            "vpc_endpoint_missing",
        }

    def test_cluster_and_check_filters(self, fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = scan(
            capsys, "--cluster", "prod-web", "--check", "endpoint_public_unrestricted", "--output", "json"
        )
        assert code == 0
        [finding] = json.loads(out)
        assert (finding["cluster"], finding["check_id"]) == ("prod-web", "endpoint_public_unrestricted")
        assert finding["evidence"] == {
            "public_access": True,
            "public_access_cidrs": ["0.0.0.0/0"],
            "open_cidrs": ["0.0.0.0/0"],
        }

    def test_ocsf_output_is_one_detection_finding_per_finding(
        self, fleet: Fleet, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from ocsf_schema import validate

        _, out, _ = scan(capsys, "--cluster", "prod-web", "--output", "json")
        expected = {f["id"]: f for f in json.loads(out)}
        code, out, _ = scan(capsys, "--cluster", "prod-web", "--output", "ocsf")
        assert code == 0
        events = json.loads(out)
        # A global option before the subcommand means the same, ocsf included.
        code = main(["--output", "ocsf", "scan", "--cluster", "prod-web"])
        before = json.loads(capsys.readouterr().out)
        uids = [e["finding_info"]["uid"] for e in events]
        assert (code, [e["finding_info"]["uid"] for e in before]) == (0, uids)
        assert all(e["class_uid"] == 2004 for e in before)
        assert {e["finding_info"]["uid"] for e in events} == set(expected)
        assert [problem for e in events for problem in validate(e)] == []
        exposed = next(e for e in events if e["unmapped"]["check_id"] == "endpoint_public_unrestricted")
        assert (exposed["severity_id"], exposed["status_id"]) == (4, 1)
        assert exposed["resources"] == [
            {
                "uid": fleet.clusters["prod-web"],
                "name": "prod-web",
                "type": "eks:cluster",
                "region": REGION,
                "cloud_partition": "aws",
            }
        ]
        assert exposed["cloud"]["account"]["uid"] == ACCOUNT
        assert "--name prod-web " in exposed["remediation"]["desc"]
        assert exposed["evidences"] == [{"data": expected[exposed["finding_info"]["uid"]]["evidence"]}]

    def test_table_output(self, fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = scan(capsys, "--cluster", "prod-web", "--check", "endpoint_public_unrestricted")
        assert code == 0
        lines = out.splitlines()
        assert lines[0].split() == ["SEVERITY", "STATUS", "CLUSTER", "CHECK", "RESOURCE", "TITLE"]
        assert lines[2].split()[:4] == ["HIGH", "OPEN", "prod-web", "endpoint_public_unrestricted"]
        assert len(lines) == 3

    def test_unknown_cluster_exits_non_zero_with_a_message(
        self, fleet: Fleet, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, err = scan(capsys, "--cluster", "nope", "--output", "json")
        assert code == 1
        assert "cluster nope not found in us-east-1" in err
        assert json.loads(out) == []

    def test_one_missing_cluster_does_not_stop_the_others(
        self, fleet: Fleet, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, err = scan(
            capsys, "--cluster", "nope", "--cluster", "prod-web", "--check", "endpoint_public_unrestricted",
            "--output", "json",
        )  # fmt: skip
        assert code == 1
        assert "cluster nope not found" in err
        assert [f["cluster"] for f in json.loads(out)] == ["prod-web"]

    def test_region_without_clusters_prints_an_empty_list(
        self, fleet: Fleet, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert scan(capsys, "--region", "eu-west-1", "--output", "json")[:2] == (0, "[]\n")

    def test_table_option_records_findings(self, fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        table = create_table(dynamodb, "cli-scan-findings")
        code, out, _ = scan(
            capsys, "--cluster", "analytics", "--check", "endpoint_private_access_disabled",
            "--table", table, "--output", "json",
        )  # fmt: skip
        assert code == 0
        [printed] = json.loads(out)
        stored = FindingStore(table, client=dynamodb).get(printed["id"])
        assert stored is not None
        assert (stored.check_id, stored.status, stored.cluster) == (
            "endpoint_private_access_disabled",
            Status.OPEN,
            "analytics",
        )

    def test_topic_needs_a_table(self, fleet: Fleet) -> None:
        with pytest.raises(SystemExit, match="--topic needs --table"):
            main(["scan", "--topic", "arn:aws:sns:us-east-1:123456789012:t"])

    def test_unknown_check_id_is_an_error_not_a_clean_result(self, fleet: Fleet) -> None:
        with pytest.raises(SystemExit, match=r"unknown check id\(s\) endpoint_public_unrestrcted; known: "):
            main(
                ["scan", "--check", "endpoint_public_unrestricted", "--check", "endpoint_public_unrestrcted"]
            )

    def test_kube_endpoint_needs_name_and_url(self, fleet: Fleet) -> None:
        with pytest.raises(SystemExit, match="--kube-endpoint expects NAME=VALUE, got 'https://x'"):
            main(["scan", "--kube-endpoint", "https://x"])


def test_replay_embedded_prints_the_spot_notice_with_its_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", str(REPO / "events" / "spot-interruption-warning.json"), "--embedded"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "rules ['SpotRule'] -> ['SpotQueue']" in err
    table, *notes = out.strip().splitlines()[2:]
    assert table.split()[:4] == ["MEDIUM", "OPEN", "batch", "spot_interruption_notice"]
    [note] = notes
    assert re.fullmatch(
        r"spot_interruption_notice arn:aws:ec2:us-east-1:123456789012:instance/(i-[0-9a-f]{17}): "
        r"Spot interruption: \1 in batch/spot-workers terminates at (?:\d{4}-\d\d-\d\dT)?\d\d:\d\d:\d\dZ "
        r"\(deadline \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)",
        note,
    ), note
