"""`eks-auditor checks`: the catalog as people and machines read it, through the real entry point."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from eks_auditor.checks.registry import CATALOG
from eks_auditor.collect.permissions import REQUIRED_PERMISSIONS
from eks_auditor.model.part import Part

from eks_auditor_tools.cli.main import main


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_lists_every_check_with_its_events_and_permissions(capsys: Any) -> None:
    code, out, err = run(capsys, "checks", "--output", "json")
    assert (code, err) == (0, "")
    records = {record["id"]: record for record in json.loads(out)}
    assert list(records) == list(CATALOG)
    assert len(records) >= 19
    assert records["oidc_provider_missing"] == {
        "id": "oidc_provider_missing",
        "kind": "snapshot",
        "severity": "MEDIUM",
        "severity_rule": "MEDIUM",
        "title": "The cluster's OIDC issuer has no IAM OIDC provider (IRSA cannot work)",
        "description": CATALOG["oidc_provider_missing"].spec.description,
        "parts": ["cluster", "iam_oidc_providers"],
        "events": [
            {
                "source": "aws.iam",
                "detail_type": "AWS API Call via CloudTrail",
                "event_name": "CreateOpenIDConnectProvider",
            },
            {
                "source": "aws.iam",
                "detail_type": "AWS API Call via CloudTrail",
                "event_name": "DeleteOpenIDConnectProvider",
            },
        ],
        "schedule_only": {
            "cluster": "the OIDC issuer is fixed when the cluster is created (CreateCluster runs every check)"
        },
        "permissions": ["eks:ListClusters", "eks:DescribeCluster", "iam:ListOpenIDConnectProviders"],
        "references": list(CATALOG["oidc_provider_missing"].spec.references),
        "controls": [],  # evidences no control of either framework
    }
    assert records["endpoint_public_access_enabled"]["controls"] == [
        "cis-eks-1.7:5.4.2 (full)",
        "fsbp:EKS.1 (full)",
    ]
    assert set(records["version_end_of_standard_support"]["schedule_only"]) == {"version_support"}
    assert records["endpoint_public_unrestricted"]["schedule_only"] == {}
    burst = records["spot_interruption_burst"]
    assert (burst["kind"], burst["severity"], burst["permissions"]) == (
        "event",
        "HIGH",
        ["ec2:DescribeInstances"],
    )
    assert burst["events"] == [{"source": "aws.ec2", "detail_type": "EC2 Spot Instance Interruption Warning"}]
    assert records["vpc_endpoint_missing"]["severity_rule"] == "by service"
    assert (records["audit_incomplete"]["kind"], records["audit_incomplete"]["events"]) == ("engine", [])
    # Account-region checks: the auditor's own pipeline, evaluated by the schedule only.
    pipeline = {check_id: record for check_id, record in records.items() if check_id.startswith("pipeline_")}
    assert set(pipeline) == {
        "pipeline_trail_missing",
        "pipeline_rule_broken",
        "pipeline_backlog",
        "pipeline_silent",
    }
    for record in pipeline.values():
        assert (record["kind"], record["events"], record["schedule_only"]) == ("account_region", [], {})
    assert records["pipeline_rule_broken"]["parts"] == ["rules"]
    assert "events:DescribeRule" in records["pipeline_rule_broken"]["permissions"]


def test_table_is_one_line_per_check_within_120_columns(capsys: Any) -> None:
    code, out, _ = run(capsys, "checks")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "SEVERITY", "EVENTS", "TITLE"]
    rows = lines[2 : 2 + len(CATALOG)]
    assert [row.split()[0] for row in rows] == list(CATALOG)
    assert max(len(line) for line in lines) <= 120
    secrets = next(row for row in rows if row.startswith("secrets_encryption_disabled "))
    assert secrets.split()[1:3] == ["MEDIUM", str(len(CATALOG["secrets_encryption_disabled"].spec.events))]
    # Severity levels alone in the table; the rule that picks each one is in `checks ID`.
    backlog = next(row for row in rows if row.startswith("pipeline_backlog "))
    assert "HIGH / MEDIUM" in backlog and "dead-letter" not in backlog
    assert "pipeline_silent (kind account_region, cluster '-') run" in " ".join(lines)


def test_one_check_whole_names_its_events_permissions_and_description(capsys: Any) -> None:
    code, out, err = run(capsys, "checks", "secrets_encryption_disabled")
    assert (code, err) == (0, "")
    spec = CATALOG["secrets_encryption_disabled"].spec
    assert out.splitlines()[0] == f"secrets_encryption_disabled: {spec.title}"
    assert "  aws.eks AssociateEncryptionConfig" in out.splitlines()
    assert all(f"  {action}" in out.splitlines() for action in REQUIRED_PERMISSIONS[Part.CLUSTER])
    assert " ".join(spec.description.split()) in " ".join(out.split())
    code, out, _ = run(capsys, "checks", "spot_interruption_burst")
    assert "  aws.ec2 EC2 Spot Instance Interruption Warning" in out.splitlines()
    # One check as JSON is the same record as in the list.
    _, listed, _ = run(capsys, "checks", "--output", "json")
    _, one, _ = run(capsys, "checks", "oidc_provider_missing", "--output", "json")
    assert json.loads(one) == [r for r in json.loads(listed) if r["id"] == "oidc_provider_missing"]


def test_an_unknown_check_id_is_a_usage_error(capsys: Any) -> None:
    code, out, err = run(capsys, "checks", "no_such_check")
    assert (code, out) == (2, "")
    assert err.strip() == "eks-auditor: unknown check id 'no_such_check' (`eks-auditor checks` lists them)"


def test_ocsf_is_refused_by_commands_that_print_no_findings(capsys: Any) -> None:
    for argv in (("checks", "--output", "ocsf"), ("--output", "ocsf", "checks")):
        with pytest.raises(SystemExit) as raised:
            main(list(argv))
        assert raised.value.code == 2
        assert "--output ocsf is for findings, findings show, scan" in capsys.readouterr().err


def test_csv_one_row_per_check_same_values_as_json(capsys: Any) -> None:
    _, out, _ = run(capsys, "checks", "--output", "json")
    records = json.loads(out)
    for argv in (("checks", "--output", "csv"), ("--output", "csv", "checks")):
        code, text, err = run(capsys, *argv)
        assert (code, err) == (0, "")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [row["id"] for row in rows] == list(CATALOG)
        assert list(rows[0]) == [
            "id", "kind", "severity", "severity_rule", "title", "description", "parts", "events",
            "schedule_only", "permissions", "references", "controls",
        ]  # fmt: skip
        oidc = next(row for row in rows if row["id"] == "oidc_provider_missing")
        expected = next(record for record in records if record["id"] == "oidc_provider_missing")
        assert oidc["permissions"].split(" ; ") == expected["permissions"]
        assert oidc["parts"] == "cluster ; iam_oidc_providers"
        assert oidc["events"].split(" ; ") == [
            "aws.iam AWS API Call via CloudTrail CreateOpenIDConnectProvider",
            "aws.iam AWS API Call via CloudTrail DeleteOpenIDConnectProvider",
        ]
        assert oidc["title"] == expected["title"]


def test_unknown_output_is_a_usage_error(capsys: Any) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["checks", "--output", "xml"])
    assert raised.value.code == 2
