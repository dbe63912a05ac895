"""cluster_admin_broad: aws-auth and access entries, each alone or together, exact outcomes."""

from __future__ import annotations

import pytest
from eks_auditor.checks.access import broad_reason
from eks_auditor.model.check import Result, Severity
from eks_auditor.model.kubernetes import AccessEntry, AccessPolicyAssociation, AwsAuthMapping, KubernetesState
from eks_auditor.model.snapshot import ClusterSnapshot
from snapshots import ACCOUNT, BASE, by_resource, only, run, with_cluster

CHECK = "cluster_admin_broad"

CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eksctl-prod-nodegroup-NodeInstanceRole-1XLS7754U3ZPA"
BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/eks-break-glass"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
SSO_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_AdministratorAccess_0123456789abcdef"
SSO_ADMIN_PATH = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
    "AWSReservedSSO_AdministratorAccess_abc123"
)
SSO_READONLY = f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_ReadOnlyAccess_0123456789abcdef"

NODES = AwsAuthMapping(
    kind="mapRoles",
    arn=NODE_ROLE,
    username="system:node:{{EC2PrivateDNSName}}",
    groups=("system:bootstrappers", "system:nodes"),
)
ADMIN_MAPPING = AwsAuthMapping(kind="mapRoles", arn=BREAK_GLASS, username="admin", groups=("system:masters",))
ADMIN_ENTRY = AccessEntry(
    principal_arn=BREAK_GLASS,
    policies=(AccessPolicyAssociation(policy_arn=CLUSTER_ADMIN, scope_type="cluster"),),
)
VIEW_ENTRY = AccessEntry(
    principal_arn=SSO_ADMIN,
    policies=(AccessPolicyAssociation(policy_arn=VIEW, scope_type="cluster"),),
)


def snapshot(
    aws_auth: tuple[AwsAuthMapping, ...] | None = (NODES, ADMIN_MAPPING),
    entries: tuple[AccessEntry, ...] | None = (ADMIN_ENTRY, VIEW_ENTRY),
    *,
    mode: str | None = "API_AND_CONFIG_MAP",
    gaps: dict[str, str] | None = None,
    kubernetes: bool = True,
) -> ClusterSnapshot:
    snap = with_cluster(BASE, authentication_mode=mode)
    state = KubernetesState(endpoint="https://example.eks", aws_auth=aws_auth) if kubernetes else None
    return snap.model_copy(update={"kubernetes": state, "access_entries": entries, "gaps": gaps or {}})


COVERAGE = [
    (
        CHECK,
        Result.FAIL,
        lambda: snapshot(
            aws_auth=(NODES, AwsAuthMapping(kind="mapRoles", arn=ROOT, groups=("system:masters",)))
        ),
    ),
    (CHECK, Result.PASS, lambda: snapshot()),
    (CHECK, Result.ERROR, lambda: snapshot(entries=None, kubernetes=False)),
]


def test_narrow_admins_pass() -> None:
    outcome = only(CHECK, snapshot())
    assert (outcome.resource, outcome.result) == (BASE.arn, Result.PASS)
    assert outcome.evidence["cluster_admin_principals"] == [BREAK_GLASS]
    assert outcome.evidence["sources_evaluated"] == ["aws-auth ConfigMap", "access entries"]


@pytest.mark.parametrize("principal", [ROOT, SSO_ADMIN, "*"])
def test_system_masters_for_a_broad_principal_in_aws_auth_fails(principal: str) -> None:
    mapping = AwsAuthMapping(kind="mapRoles", arn=principal, groups=("system:masters",))
    outcome = only(CHECK, snapshot(aws_auth=(NODES, mapping)))
    assert (outcome.resource, outcome.result, outcome.severity) == (
        f"aws-auth/mapRoles/{principal}",
        Result.FAIL,
        None,
    )
    assert outcome.evidence["grant"] == "groups system:masters"
    assert outcome.evidence["source"] == "aws-auth mapRoles"


def test_map_users_root_fails() -> None:
    mapping = AwsAuthMapping(kind="mapUsers", arn=ROOT, username="root", groups=("system:masters",))
    outcome = only(CHECK, snapshot(aws_auth=(mapping,)))
    assert outcome.resource == f"aws-auth/mapUsers/{ROOT}"
    assert outcome.evidence["why_broad"].startswith("account root")


def test_broad_principal_without_masters_passes() -> None:
    mapping = AwsAuthMapping(
        kind="mapRoles", arn=SSO_ADMIN, groups=("eks-console-dashboard-full-access-group",)
    )
    assert only(CHECK, snapshot(aws_auth=(NODES, mapping))).result is Result.PASS


def test_cluster_admin_policy_for_sso_admin_role_fails() -> None:
    entry = AccessEntry(
        principal_arn=SSO_ADMIN_PATH,
        policies=(AccessPolicyAssociation(policy_arn=CLUSTER_ADMIN, scope_type="cluster"),),
    )
    outcome = only(CHECK, snapshot(entries=(ADMIN_ENTRY, entry)))
    assert (outcome.resource, outcome.result) == (f"access-entry/{SSO_ADMIN_PATH}", Result.FAIL)
    assert outcome.evidence["grant"] == [f"{CLUSTER_ADMIN} (cluster scope)"]


def test_cluster_admin_policy_at_namespace_scope_is_not_cluster_admin() -> None:
    entry = AccessEntry(
        principal_arn=SSO_ADMIN,
        policies=(
            AccessPolicyAssociation(policy_arn=CLUSTER_ADMIN, scope_type="namespace", namespaces=("dev",)),
        ),
    )
    assert only(CHECK, snapshot(entries=(entry,))).result is Result.PASS


def test_masters_group_in_an_access_entry_fails() -> None:
    entry = AccessEntry(principal_arn=ROOT, kubernetes_groups=("system:masters",))
    outcome = only(CHECK, snapshot(entries=(entry,)))
    assert outcome.evidence["grant"] == ["kubernetesGroups system:masters"]


def test_each_broad_grant_is_its_own_finding() -> None:
    mapping = AwsAuthMapping(kind="mapRoles", arn=SSO_ADMIN, groups=("system:masters",))
    entry = AccessEntry(
        principal_arn=SSO_ADMIN,
        policies=(AccessPolicyAssociation(policy_arn=CLUSTER_ADMIN, scope_type="cluster"),),
    )
    outcomes = by_resource(run(CHECK, snapshot(aws_auth=(mapping,), entries=(entry,))))
    assert {r: o.result for r, o in outcomes.items()} == {
        f"aws-auth/mapRoles/{SSO_ADMIN}": Result.FAIL,
        f"access-entry/{SSO_ADMIN}": Result.FAIL,
    }
    assert all(o.severity is None and o.check_id == CHECK for o in outcomes.values())


def test_map_accounts_is_evidence_not_cluster_admin() -> None:
    accounts = AwsAuthMapping(kind="mapAccounts", arn="444455556666")
    outcome = only(CHECK, snapshot(aws_auth=(NODES, accounts)))
    assert outcome.result is Result.PASS
    assert outcome.evidence["map_accounts"] == ["444455556666"]


def test_api_mode_ignores_aws_auth() -> None:
    mapping = AwsAuthMapping(kind="mapRoles", arn=ROOT, groups=("system:masters",))
    outcome = only(CHECK, snapshot(aws_auth=(mapping,), mode="API"))
    assert outcome.result is Result.PASS
    assert outcome.evidence["sources_evaluated"] == ["access entries"]
    assert outcome.evidence["aws_auth_ignored"].startswith("authentication mode API")


def test_config_map_mode_needs_only_aws_auth() -> None:
    outcome = only(CHECK, snapshot(entries=None, mode="CONFIG_MAP"))
    assert outcome.result is Result.PASS
    assert outcome.evidence["sources_evaluated"] == ["aws-auth ConfigMap"]


def test_both_sources_unreadable_is_an_error() -> None:
    gaps = {"kubernetes": "connection refused", "access_entries": "AccessDenied on eks:ListAccessEntries"}
    outcome = only(CHECK, snapshot(entries=None, kubernetes=False, gaps=gaps))
    assert (outcome.resource, outcome.result) == (BASE.arn, Result.ERROR)
    assert outcome.reason == (
        "no source of cluster-admin grants could be read (aws-auth ConfigMap: connection refused; "
        "access entries: AccessDenied on eks:ListAccessEntries)"
    )


def test_one_source_unreadable_without_findings_is_an_error_not_a_pass() -> None:
    gaps = {"kubernetes.aws_auth": "403 Forbidden: configmaps is forbidden"}
    outcome = only(CHECK, snapshot(aws_auth=None, gaps=gaps))
    assert outcome.result is Result.ERROR
    assert outcome.reason == (
        "evaluated access entries only; could not read aws-auth ConfigMap: "
        "403 Forbidden: configmaps is forbidden"
    )


def test_one_source_unreadable_still_reports_the_other_sources_findings() -> None:
    entry = AccessEntry(
        principal_arn=ROOT,
        policies=(AccessPolicyAssociation(policy_arn=CLUSTER_ADMIN, scope_type="cluster"),),
    )
    gaps = {"kubernetes": "timed out talking to 10.0.1.5:443"}
    outcomes = by_resource(run(CHECK, snapshot(entries=(entry,), kubernetes=False, gaps=gaps)))
    assert {r: o.result for r, o in outcomes.items()} == {
        f"access-entry/{ROOT}": Result.FAIL,
        BASE.arn: Result.ERROR,
    }
    assert outcomes[f"access-entry/{ROOT}"].evidence["not_evaluated"] == {
        "aws-auth ConfigMap": "timed out talking to 10.0.1.5:443"
    }


def test_spec_severity_is_high() -> None:
    from eks_auditor.checks.access import SPEC

    assert SPEC.severity is Severity.HIGH
    assert SPEC.requires_any == ("kubernetes", "access_entries")


@pytest.mark.parametrize(
    ("arn", "broad"),
    [
        (ROOT, True),
        ("arn:aws-cn:iam::111122223333:root", True),
        (SSO_ADMIN, True),
        (SSO_ADMIN_PATH, True),
        (SSO_READONLY, False),
        (BREAK_GLASS, False),
        (f"arn:aws:iam::{ACCOUNT}:role/*", True),
        (f"arn:aws:iam::{ACCOUNT}:user/root", False),
    ],
)
def test_broad_reason(arn: str, broad: bool) -> None:
    assert (broad_reason(arn) is not None) is broad
