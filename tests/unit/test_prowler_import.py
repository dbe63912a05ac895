"""Prowler mutelist import: shared EKS checks translate exactly; what cannot be expressed is skipped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from eks_auditor_tools.prowler import MutelistError, import_mutelist

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(days=30)

MUTELIST = """
Mutelist:
  Accounts:
    "123456789012":
      Checks:
        "eks_control_plane_logging_all_types_enabled":
          Regions: ["eu-west-1", "us-east-1"]
          Resources: ["sandbox"]
          Description: "sandbox clusters keep costs down"
        "s3_bucket_object_versioning":
          Regions: ["*"]
          Resources: ["*"]
        "eks_cluster_kms_*":
          Regions: ["*"]
          Resources: ["*"]
          Tags: ["env=dev"]
    "*":
      Checks:
        "eks_endpoints_not_publicly_accessible":
          Regions: ["*"]
          Resources: ["*"]
          Exceptions:
            Accounts: ["210987654321"]
        "eks_control_plane_endpoint_access_restricted":
          Regions: ["*"]
          Resources: ["legacy-.*"]
"""


def test_shared_checks_become_suppressions() -> None:
    result = import_mutelist(MUTELIST, author="secops", created_at=T0, expires_at=EXPIRES)
    got = [(s.check_id, s.account, s.region, s.resource, s.cluster, s.reason) for s in result.suppressions]
    assert got == [
        (
            "control_plane_logging_disabled",
            "123456789012",
            "eu-west-1",
            ".*(?:sandbox).*",
            "*",
            "imported from Prowler mutelist (eks_control_plane_logging_all_types_enabled): "
            "sandbox clusters keep costs down",
        ),
        (
            "control_plane_logging_disabled",
            "123456789012",
            "us-east-1",
            ".*(?:sandbox).*",
            "*",
            "imported from Prowler mutelist (eks_control_plane_logging_all_types_enabled): "
            "sandbox clusters keep costs down",
        ),
        (
            "endpoint_public_unrestricted",
            None,
            None,
            ".*(?:legacy-.*).*",
            "*",
            "imported from Prowler mutelist (eks_control_plane_endpoint_access_restricted)",
        ),
    ]
    assert all((s.author, s.created_at, s.expires_at) == ("secops", T0, EXPIRES) for s in result.suppressions)
    assert result.skipped == [
        "account 123456789012, check s3_bucket_object_versioning: no eks-auditor check shares it",
        "account 123456789012, check eks_cluster_kms_*: Tags cannot be expressed as a suppression",
        "account *, check eks_endpoints_not_publicly_accessible: "
        "Exceptions cannot be expressed as a suppression",
    ]


def test_resource_pattern_matches_like_prowler_on_the_cluster_arn() -> None:
    result = import_mutelist(MUTELIST, author="secops", created_at=T0, expires_at=EXPIRES)
    regex = result.suppressions[0].resource
    assert regex is not None
    assert re.fullmatch(regex, "arn:aws:eks:eu-west-1:123456789012:cluster/sandbox-1")
    assert not re.fullmatch(regex, "arn:aws:eks:eu-west-1:123456789012:cluster/prod-1")


def test_wildcard_check_expands_to_every_shared_check_once() -> None:
    text = 'Allowlist:\n  Accounts:\n    "*":\n      Checks:\n        "*":\n          Regions: ["*"]\n'
    result = import_mutelist(text, author="a", created_at=T0, expires_at=EXPIRES)
    assert sorted(s.check_id for s in result.suppressions) == [
        "control_plane_logging_disabled",
        "endpoint_private_access_disabled",
        "endpoint_public_unrestricted",
        "secrets_encryption_disabled",
        "version_end_of_standard_support",
    ]
    assert {(s.account, s.region, s.resource) for s in result.suppressions} == {(None, None, None)}


@pytest.mark.parametrize("text", ["just: text", "- a\n- b", "Mutelist:\n  Accounts: []", ": : :"])
def test_not_a_mutelist(text: str) -> None:
    with pytest.raises(MutelistError):
        import_mutelist(text, author="a", created_at=T0, expires_at=EXPIRES)


# Prowler's PR #5195 (October 2024) renamed two EKS checks; both spellings import to the same suppression.
@pytest.mark.parametrize(
    ("prowler_check", "ours"),
    [
        ("eks_cluster_not_publicly_accessible", "endpoint_public_unrestricted"),
        ("eks_control_plane_endpoint_access_restricted", "endpoint_public_unrestricted"),
        ("eks_cluster_private_nodes_enabled", "endpoint_private_access_disabled"),
        ("eks_endpoints_not_publicly_accessible", "endpoint_private_access_disabled"),
        ("eks_cluster_kms_cmk_encryption_in_secrets_enabled", "secrets_encryption_disabled"),
        ("eks_control_plane_logging_all_types_enabled", "control_plane_logging_disabled"),
        ("eks_cluster_uses_a_supported_version", "version_end_of_standard_support"),
    ],
)
def test_current_and_renamed_prowler_names_import(prowler_check: str, ours: str) -> None:
    text = f'Mutelist:\n  Accounts:\n    "*":\n      Checks:\n        "{prowler_check}":\n'
    text += '          Regions: ["*"]\n'
    result = import_mutelist(text, author="a", created_at=T0, expires_at=EXPIRES)
    assert [(s.check_id, s.reason) for s in result.suppressions] == [
        (ours, f"imported from Prowler mutelist ({prowler_check})")
    ]
    assert result.skipped == []


def test_old_and_new_name_in_one_file_give_one_suppression() -> None:
    text = (
        'Mutelist:\n  Accounts:\n    "*":\n      Checks:\n'
        '        "eks_cluster_not_publicly_accessible":\n          Regions: ["*"]\n'
        '        "eks_control_plane_endpoint_access_restricted":\n          Regions: ["*"]\n'
    )
    result = import_mutelist(text, author="a", created_at=T0, expires_at=EXPIRES)
    assert [s.check_id for s in result.suppressions] == ["endpoint_public_unrestricted"]
