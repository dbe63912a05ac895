"""remediation.fill: the checks' own remediation texts with the finding's values in their placeholders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from eks_auditor.checks.registry import CATALOG
from eks_auditor.model.finding import Finding, finding_from_spec
from eks_auditor.remediation import fill

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT, REGION = "123456789012", "eu-west-1"
ARN = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/prod-a"


def finding(check_id: str, evidence: dict[str, Any], **overrides: Any) -> Finding:
    return finding_from_spec(
        CATALOG[check_id].spec,
        account=ACCOUNT,
        region=REGION,
        cluster="prod-a",
        cluster_arn=ARN,
        resource=ARN,
        evidence=evidence,
        source="scan-1",
        evaluated_at=T0,
        **overrides,
    )


@pytest.mark.parametrize(
    ("check_id", "evidence", "filled", "kept"),
    [
        (
            "endpoint_public_unrestricted",
            {"public_access_cidrs": ["0.0.0.0/0"]},
            ["update-cluster-config --name prod-a "],
            ["<office-cidr>", "<nat-eip>"],  # nothing in the finding says which networks need access
        ),
        (
            "secrets_encryption_disabled",
            {},
            ["--cluster-name prod-a --encryption-config", f'"arn:aws:kms:{REGION}:{ACCOUNT}:key/<key-id>"'],
            ["<key-id>"],
        ),
        (
            "vpc_endpoint_private_dns_disabled",
            {"service": f"com.amazonaws.{REGION}.ecr.api", "vpc_endpoint_ids": ["vpce-0abc"]},
            ["--vpc-endpoint-id vpce-0abc"],
            [],
        ),
        (
            "vpc_endpoint_missing",
            {"service": f"com.amazonaws.{REGION}.ecr.dkr", "isolated_subnets": ["subnet-1", "subnet-2"]},
            [f"--service-name com.amazonaws.{REGION}.ecr.dkr "],
            ["<vpc>"],  # the evidence does not name the VPC
        ),
        (
            "cluster_admin_broad",
            {"principal": f"arn:aws:iam::{ACCOUNT}:role/Admin", "source": "access entry"},
            [f"--cluster-name prod-a --principal-arn arn:aws:iam::{ACCOUNT}:role/Admin --policy-arn"],
            [],
        ),
        (
            "nodes_public_subnet",
            # The failing subnet, not every subnet of the group.
            {
                "nodegroup": "ng-1",
                "subnet_ids": ["subnet-pub", "subnet-priv"],
                "public_subnets": [{"subnet_id": "subnet-pub", "map_public_ip_on_launch": True}],
            },
            ["--subnet-id subnet-pub "],
            [],
        ),
        (
            "nodegroup_ssh_open",
            {"nodegroup": "ng-1", "ec2_ssh_key": "ops", "source_security_groups": []},
            ["--cluster-name prod-a --nodegroup-name <new>", "ec2SshKey=ops,", "--nodegroup-name ng-1."],
            ["<new>", "<bastion-sg>"],
        ),
    ],
)
def test_fill_uses_the_findings_values(
    check_id: str, evidence: dict[str, Any], filled: list[str], kept: list[str]
) -> None:
    text = fill(finding(check_id, evidence))
    for part in filled:
        assert part in text
    for placeholder in ("<cluster>", "<region>", "<account>", "<arn>", "<subnet>", "<vpce-id>", "<service>"):
        assert placeholder not in text
    for placeholder in kept:
        assert placeholder in text


def test_several_candidates_keep_the_placeholder() -> None:
    f = finding(
        "vpc_endpoint_private_dns_disabled",
        {"service": f"com.amazonaws.{REGION}.ec2", "vpc_endpoint_ids": ["vpce-1", "vpce-2"]},
    )
    assert "--vpc-endpoint-id <vpce-id>" in fill(f)


def test_text_without_placeholders_is_unchanged() -> None:
    f = finding("oidc_provider_missing", {}, remediation="Nothing to fill <in here>.")
    assert fill(f) == "Nothing to fill <in here>."
