"""`--output ocsf`: every event is an OCSF 1.1.0 Detection Finding (the schema's tables: ocsf_schema.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status
from finding_builder import T0, build_finding
from ocsf_schema import validate

from eks_auditor_tools.ocsf import detection_finding, to_ocsf

ACCOUNT, REGION = "123456789012", "eu-west-1"
ARN = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/prod-a"


def finding(check_id: str, resource: str, **fields: Any) -> Finding:
    defaults: dict[str, Any] = {
        "title": "Public endpoint open to the internet",
        "description": "publicAccessCidrs holds 0.0.0.0/0.",
        "evidence": {"public_access_cidrs": ["0.0.0.0/0"]},
        "remediation": "aws eks update-cluster-config --name <cluster> --resources-vpc-config x",
    }
    return build_finding(
        account=ACCOUNT,
        region=REGION,
        cluster="prod-a",
        check_id=check_id,
        resource=resource,
        **{**defaults, **fields},
    )


NODEGROUP = f"arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/prod-a/ng-1/abcd"
CASES = [
    finding("endpoint_public_unrestricted", ARN),
    finding("nodegroup_ssh_open", NODEGROUP, severity=Severity.CRITICAL, first_seen=T0 + timedelta(hours=1)),
    finding("vpc_endpoint_missing", f"{ARN}/vpc-endpoint/ecr.api", severity=Severity.MEDIUM, evidence={}),
    finding("ip_capacity_exhaustion_risk", "subnet-0aaa", severity=Severity.LOW, status=Status.SUPPRESSED),
    finding("audit_incomplete", "x:y", severity=Severity.INFO, status=Status.RESOLVED, resolved_at=T0),
]


@pytest.mark.parametrize("case", CASES, ids=[c.check_id for c in CASES])
def test_every_event_is_an_ocsf_1_1_0_detection_finding(case: Finding) -> None:
    assert validate(detection_finding(case)) == []


def test_the_validator_rejects_what_1_1_0_does_not_have() -> None:
    event = detection_finding(CASES[0])
    del event["finding_info"]["title"]
    event["evidences"][0]["verdict_id"] = 0  # OCSF 1.5
    event["severity"] = "High-ish"
    assert validate(event) == [
        "finding_info.title: required",
        "evidences[0].verdict_id: not an OCSF 1.1.0 attribute",
        "severity: 'High-ish' is not the caption of severity_id 4",
    ]


def test_mapping_of_one_finding() -> None:
    event = detection_finding(CASES[1], product_version="9.9.9")
    ms = int((T0 + timedelta(hours=1)).timestamp() * 1000)
    assert event == {
        "metadata": {
            "version": "1.1.0",
            "product": {"name": "eks-auditor", "vendor_name": "eks-auditor", "version": "9.9.9"},
            "profiles": ["cloud"],
            "event_code": "nodegroup_ssh_open",
            "uid": f"{CASES[1].id}-{ms}",
        },
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "time": ms,
        "severity_id": 5,
        "severity": "Critical",
        "status_id": 1,
        "status": "New",
        "status_code": "FAIL",
        "message": "Public endpoint open to the internet",
        "finding_info": {
            "uid": CASES[1].id,
            "title": "Public endpoint open to the internet",
            "desc": "publicAccessCidrs holds 0.0.0.0/0.",
            "created_time": ms,
            "first_seen_time": ms,
            "last_seen_time": ms,
            "modified_time": ms,
            "types": ["nodegroup_ssh_open"],
            "analytic": {
                "uid": "nodegroup_ssh_open",
                "name": "nodegroup_ssh_open",
                "type_id": 1,
                "type": "Rule",
            },
        },
        "resources": [
            {"uid": NODEGROUP, "region": REGION, "type": "eks:nodegroup", "cloud_partition": "aws"},
            {"uid": ARN, "name": "prod-a", "type": "eks:cluster", "region": REGION, "cloud_partition": "aws"},
        ],
        "cloud": {
            "provider": "AWS",
            "region": REGION,
            "account": {"uid": ACCOUNT, "type_id": 10, "type": "AWS Account"},
        },
        # The placeholder is filled from the finding.
        "remediation": {
            "desc": "aws eks update-cluster-config --name prod-a --resources-vpc-config x",
            "references": ["https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html"],
        },
        "unmapped": {
            "check_id": "nodegroup_ssh_open",
            "cluster": "prod-a",
            "cluster_arn": ARN,
            "source": "scan-1",
            "resolved_at": None,
            # nodegroup_ssh_open evidences FSBP EC2.13 (partially) and no CIS EKS control.
            "compliance": {"fsbp": ["EC2.13"]},
        },
        "evidences": [{"data": {"public_access_cidrs": ["0.0.0.0/0"]}}],
    }


@pytest.mark.parametrize(
    ("case", "activity", "status"),
    [(CASES[0], 2, (1, "New")), (CASES[3], 2, (3, "Suppressed")), (CASES[4], 3, (4, "Resolved"))],
)
def test_activity_and_status_follow_the_lifecycle(
    case: Finding, activity: int, status: tuple[int, str]
) -> None:
    event = detection_finding(case)
    assert (event["activity_id"], event["type_uid"]) == (activity, 200400 + activity)
    assert (event["status_id"], event["status"]) == status
    assert [r["uid"] for r in event["resources"]][-1] == ARN


def test_unmapped_compliance_carries_the_catalog_mapping() -> None:
    events = json.loads(
        to_ocsf([finding(c, ARN) for c in ("endpoint_public_access_enabled", "pipeline_silent")])
    )
    assert [e["unmapped"]["compliance"] for e in events] == [
        {"cis-eks-1.7": ["5.4.2"], "fsbp": ["EKS.1"]},
        {},
    ]
    assert [validate(e) for e in events] == [[], []]


def test_compliance_hook_fills_unmapped_compliance_as_prowler_does() -> None:
    def controls(f: Finding) -> dict[str, list[str]]:
        return {"CIS-EKS-1.5": ["5.4.2"]} if f.check_id == "endpoint_public_unrestricted" else {}

    events = json.loads(to_ocsf(CASES[:2], controls=controls))
    assert [e["unmapped"]["compliance"] for e in events] == [{"CIS-EKS-1.5": ["5.4.2"]}, {}]
    assert [validate(e) for e in events] == [[], []]
