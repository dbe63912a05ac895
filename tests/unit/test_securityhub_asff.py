"""ASFF mapping: exact fields, Security Hub's length limits, and botocore's own request validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import botocore.session
import pytest
from botocore.validate import ParamValidator
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status, finding_id
from eks_auditor.securityhub import asff_id, product_arn, to_asff

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
CLUSTER_ARN = f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/prod-a"
DOC = "https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html"


def finding(**fields: object) -> Finding:
    base: dict[str, object] = {
        "id": finding_id(ACCOUNT, "eu-west-1", "prod-a", "endpoint_public_unrestricted", CLUSTER_ARN),
        "check_id": "endpoint_public_unrestricted",
        "severity": Severity.HIGH,
        "status": Status.OPEN,
        "account": ACCOUNT,
        "region": "eu-west-1",
        "cluster": "prod-a",
        "cluster_arn": CLUSTER_ARN,
        "resource": CLUSTER_ARN,
        "title": "Public endpoint open to the internet",
        "description": "publicAccessCidrs holds 0.0.0.0/0.",
        "evidence": {"open_cidrs": ["0.0.0.0/0"]},
        "remediation": "Restrict publicAccessCidrs.",
        "references": (DOC, "https://docs.aws.amazon.com/securityhub/latest/userguide/eks-controls.html"),
        "first_seen": T0,
        "last_seen": T0 + timedelta(hours=2),
        "source": "scan-7",
        "evaluated_at": T0 + timedelta(hours=2),
    }
    base.update(fields)
    return Finding.model_validate(base)


def change(
    kind: ChangeKind = ChangeKind.OPENED, previous: Status | None = None, **fields: object
) -> StateChange:
    return StateChange(
        change_id="chg-1",
        kind=kind,
        finding=finding(**fields),
        previous_status=previous,
        changed_at=T0 + timedelta(hours=2, milliseconds=123),
    )


def validate(asff: dict[str, object]) -> None:
    """Raise if botocore would reject the BatchImportFindings request (types, required members, enums)."""
    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.operation_model("BatchImportFindings").input_shape
    report = ParamValidator().validate({"Findings": [asff]}, shape)
    assert not report.has_errors(), report.generate_report()


def test_opened_finding_maps_to_an_active_failed_new_asff_finding() -> None:
    asff = to_asff(change())
    validate(asff)
    expected_id = f"eks-auditor/{ACCOUNT}/eu-west-1/{finding().id}"
    assert asff == {
        "SchemaVersion": "2018-10-08",
        "Id": expected_id,
        "ProductArn": f"arn:aws:securityhub:eu-west-1:{ACCOUNT}:product/{ACCOUNT}/default",
        "GeneratorId": "eks-auditor/endpoint_public_unrestricted",
        "AwsAccountId": ACCOUNT,
        "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        "CreatedAt": "2025-03-01T12:00:00.000Z",
        "UpdatedAt": "2025-03-01T14:00:00.123Z",
        "FirstObservedAt": "2025-03-01T12:00:00.000Z",
        "LastObservedAt": "2025-03-01T14:00:00.000Z",
        "Severity": {"Label": "HIGH", "Original": "HIGH"},
        "FindingProviderFields": {
            "Severity": {"Label": "HIGH", "Original": "HIGH"},
            "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        },
        "Title": "[prod-a] Public endpoint open to the internet",
        "Description": (
            "publicAccessCidrs holds 0.0.0.0/0.\n"
            f"Resource: {CLUSTER_ARN}\n"
            'Evidence: {"open_cidrs":["0.0.0.0/0"]}'
        ),
        "Remediation": {"Recommendation": {"Text": "Restrict publicAccessCidrs.", "Url": DOC}},
        "SourceUrl": DOC,
        "ProductFields": {
            "ProviderName": "eks-auditor",
            "eks-auditor/FindingId": finding().id,
            "eks-auditor/CheckId": "endpoint_public_unrestricted",
            "eks-auditor/Status": "OPEN",
            "eks-auditor/Change": "OPENED",
            "eks-auditor/ChangeId": "chg-1",
            "eks-auditor/Source": "scan-7",
        },
        "Resources": [
            {
                "Type": "AwsEksCluster",
                "Id": CLUSTER_ARN,
                "Partition": "aws",
                "Region": "eu-west-1",
                "Details": {"AwsEksCluster": {"Arn": CLUSTER_ARN, "Name": "prod-a"}},
            }
        ],
        # endpoint_public_unrestricted: fully CIS EKS 5.4.1, partially 5.4.2 and FSBP EKS.1.
        "Compliance": {
            "Status": "FAILED",
            "RelatedRequirements": ["cis-eks-1.7:5.4.1", "cis-eks-1.7:5.4.2", "fsbp:EKS.1"],
        },
        "RecordState": "ACTIVE",
        "Workflow": {"Status": "NEW"},
    }


def test_every_change_of_a_finding_keeps_its_id() -> None:
    opened = to_asff(change())
    resolved = to_asff(change(ChangeKind.RESOLVED, Status.OPEN, status=Status.RESOLVED, resolved_at=T0))
    assert opened["Id"] == resolved["Id"] == asff_id(finding())


def test_resolved_is_passed_and_archived() -> None:
    asff = to_asff(change(ChangeKind.RESOLVED, Status.OPEN, status=Status.RESOLVED, resolved_at=T0))
    validate(asff)
    assert (asff["Compliance"]["Status"], asff["RecordState"], asff["Workflow"]) == (
        "PASSED",
        "ARCHIVED",
        {"Status": "RESOLVED"},
    )


def test_suppressed_stays_active_and_failed_with_workflow_suppressed() -> None:
    asff = to_asff(change(ChangeKind.SUPPRESSED, Status.OPEN, status=Status.SUPPRESSED))
    assert (asff["Compliance"]["Status"], asff["RecordState"], asff["Workflow"]) == (
        "FAILED",
        "ACTIVE",
        {"Status": "SUPPRESSED"},
    )


def test_audit_incomplete_is_not_available_and_info_is_informational() -> None:
    asff = to_asff(change(check_id="audit_incomplete", severity=Severity.INFO))
    assert asff["Compliance"] == {"Status": "NOT_AVAILABLE"}
    assert asff["Severity"] == {"Label": "INFORMATIONAL", "Original": "INFO"}


def test_audit_incomplete_names_the_controls_of_the_check_that_could_not_run() -> None:
    asff = to_asff(
        change(
            check_id="audit_incomplete",
            severity=Severity.INFO,
            evidence={"check_id": "secrets_encryption_disabled", "reason": "AccessDenied"},
        )
    )
    validate(asff)
    assert asff["Compliance"] == {
        "Status": "NOT_AVAILABLE",
        "RelatedRequirements": ["cis-eks-1.7:5.3.1", "fsbp:EKS.3"],
    }


def test_a_check_without_controls_has_no_related_requirements() -> None:
    asff = to_asff(change(check_id="vpc_endpoint_missing"))
    assert asff["Compliance"] == {"Status": "FAILED"}


def test_long_texts_are_cut_to_security_hub_limits() -> None:
    asff = to_asff(change(title="T" * 400, description="D" * 2000, remediation="R" * 900))
    validate(asff)
    assert len(asff["Title"]) == 256 and asff["Title"].endswith("…")
    assert len(asff["Description"]) == 1024 and asff["Description"].endswith("…")
    assert len(asff["Remediation"]["Recommendation"]["Text"]) == 512


def test_sub_resource_is_listed_beside_the_cluster_and_partition_follows_the_arn() -> None:
    arn = "arn:aws-cn:eks:cn-north-1:123456789012:cluster/prod-cn"
    asff = to_asff(change(cluster_arn=arn, region="cn-north-1", resource="subnet-0abc", references=()))
    validate(asff)
    assert [(r["Type"], r["Id"], r["Partition"]) for r in asff["Resources"]] == [
        ("AwsEksCluster", arn, "aws-cn"),
        ("Other", "subnet-0abc", "aws-cn"),
    ]
    assert asff["ProductArn"] == "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default"
    assert "Url" not in asff["Remediation"]["Recommendation"]
    assert "SourceUrl" not in asff


@pytest.mark.parametrize("severity", list(Severity))
def test_every_severity_validates(severity: Severity) -> None:
    validate(to_asff(change(severity=severity)))
    assert product_arn(finding()).endswith(f"product/{ACCOUNT}/default")
