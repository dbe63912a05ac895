"""`cluster_admin_broad`: cluster-admin granted to a principal that stands for many identities.

Cluster-admin is `system:masters` in an aws-auth mapRoles/mapUsers entry or in an access entry's
kubernetesGroups, or AmazonEKSClusterAdminPolicy associated at cluster scope. A principal is broad
when it is a wildcard, an account root (`arn:aws:iam::<account>:root`), or the IAM Identity Center
role of an AdministratorAccess permission set (`AWSReservedSSO_AdministratorAccess_*`, assumed by
everyone assigned that permission set).

mapAccounts entries authenticate every principal of an account but give them no groups
(aws-iam-authenticator maps them to their ARN as username), so they are evidence here, not cluster-admin.

Sources by authentication mode: CONFIG_MAP reads only aws-auth, API only access entries, otherwise
both. One readable source is enough to report its broad grants; while a source EKS uses could not be
read, the cluster-level outcome is ERROR (never a pass) and names what was not read.
One FAIL per broad grant: resource `aws-auth/<mapRoles|mapUsers>/<arn>` or `access-entry/<arn>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from eks_auditor.checks.base import *
from eks_auditor.model.kubernetes import AccessEntry, AwsAuthMapping

MASTERS = "system:masters"
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"

_ROOT = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:root$")
_SSO_ADMIN_ROLE = re.compile(r"(^|/)AWSReservedSSO_AdministratorAccess_[0-9a-fA-F]*$")

SPEC = CheckSpec(
    id="cluster_admin_broad",
    title="Cluster-admin granted to a broad principal",
    severity=Severity.HIGH,
    description=(
        "Cluster-admin (system:masters, or AmazonEKSClusterAdminPolicy at cluster scope) is granted to a "
        "principal that many identities match: a wildcard, an account root, or the IAM Identity Center "
        "role of the AdministratorAccess permission set. Any of those identities, or a stolen credential "
        "of one, controls every workload and secret in the cluster."
    ),
    remediation=(
        "Grant cluster-admin to a dedicated break-glass role only, and give people scoped access: aws eks "
        "disassociate-access-policy --cluster-name <cluster> --principal-arn <arn> --policy-arn "
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy, then associate "
        "AmazonEKSAdminPolicy or AmazonEKSViewPolicy scoped to namespaces; in aws-auth, remove "
        "system:masters from the mapping (kubectl edit -n kube-system configmap/aws-auth) and bind a "
        "narrower ClusterRole to its group."
    ),
    references=(
        "https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html",
        "https://docs.aws.amazon.com/eks/latest/userguide/auth-configmap.html",
        "https://docs.aws.amazon.com/eks/latest/best-practices/identity-and-access-management.html",
    ),
    requires=(Part.CLUSTER,),
    requires_any=(Part.KUBERNETES, Part.ACCESS_ENTRIES),
    events=events.CLUSTER_CONFIG + events.ACCESS,
    schedule_only={
        Part.KUBERNETES: "the aws-auth ConfigMap changes only through the Kubernetes API (not CloudTrail)"
    },
)


def broad_reason(arn: str) -> str | None:
    """Why `arn` matches many identities, or None."""
    if "*" in arn:
        return "wildcard principal"
    if _ROOT.match(arn):
        return "account root: the account's root user, and in IAM terms the whole account"
    if _SSO_ADMIN_ROLE.search(arn):
        return (
            "IAM Identity Center AdministratorAccess role: assumed by every user assigned that permission set"
        )
    return None


def _is_cluster_admin_policy(policy_arn: str) -> bool:
    return policy_arn.rsplit("/", 1)[-1] == CLUSTER_ADMIN_POLICY


def entry_admin_grants(entry: AccessEntry) -> list[str]:
    """How an access entry grants cluster-admin (empty when it does not)."""
    grants = [
        f"{policy.policy_arn} (cluster scope)"
        for policy in entry.policies
        if _is_cluster_admin_policy(policy.policy_arn) and policy.scope_type == "cluster"
    ]
    if MASTERS in entry.kubernetes_groups:
        grants.append(f"kubernetesGroups {MASTERS}")
    return grants


def check(snapshot: ClusterSnapshot) -> list[Outcome]:
    mode = snapshot.cluster.authentication_mode if snapshot.cluster else None
    uses_aws_auth = mode != "API"
    uses_entries = mode != "CONFIG_MAP"
    aws_auth = snapshot.kubernetes.aws_auth if snapshot.kubernetes else None
    entries = snapshot.access_entries

    unread: dict[str, str] = {}
    if uses_aws_auth and aws_auth is None:
        unread["aws-auth ConfigMap"] = snapshot.gaps.get("kubernetes.aws_auth") or snapshot.gaps.get(
            "kubernetes", "not collected"
        )
    if uses_entries and entries is None:
        unread["access entries"] = snapshot.gaps.get("access_entries", "not collected")
    evaluated = [
        name
        for name, used, value in (
            ("aws-auth ConfigMap", uses_aws_auth, aws_auth),
            ("access entries", uses_entries, entries),
        )
        if used and value is not None
    ]
    if not evaluated:
        reasons = "; ".join(f"{name}: {why}" for name, why in unread.items())
        return [
            could_not_evaluate(
                SPEC, snapshot.arn, f"no source of cluster-admin grants could be read ({reasons})"
            )
        ]

    outcomes: list[Outcome] = []
    admins: list[str] = []
    context: dict[str, Any] = {"authentication_mode": mode, "sources_evaluated": evaluated}
    if unread:
        context["not_evaluated"] = dict(unread)
    if uses_aws_auth and aws_auth is not None:
        outcomes.extend(_broad_outcomes(_aws_auth_grants(aws_auth), admins, context))
        accounts = [m.arn for m in aws_auth if m.kind == "mapAccounts"]
        if accounts:
            context["map_accounts"] = accounts
    if uses_entries and entries is not None:
        outcomes.extend(_broad_outcomes(_entry_grants(entries), admins, context))

    summary = {**context, "cluster_admin_principals": list(dict.fromkeys(admins))}
    if mode == "API" and aws_auth:
        summary["aws_auth_ignored"] = "authentication mode API: EKS does not read the aws-auth ConfigMap"
    if unread:
        reasons = "; ".join(f"{name}: {why}" for name, why in unread.items())
        outcomes.append(
            could_not_evaluate(
                SPEC,
                snapshot.arn,
                f"evaluated {', '.join(evaluated)} only; could not read {reasons}",
            )
        )
    elif not outcomes:
        outcomes.append(passed(SPEC, snapshot.arn, evidence=summary))
    return outcomes


class _AdminGrant(NamedTuple):
    """One grant of cluster-admin, from aws-auth or an access entry."""

    resource: str
    source: str
    principal: str
    username: str | None
    grant: str | list[str]


def _aws_auth_grants(mappings: tuple[AwsAuthMapping, ...]) -> Iterator[_AdminGrant]:
    for mapping in mappings:
        if mapping.kind != "mapAccounts" and MASTERS in mapping.groups:
            resource = f"aws-auth/{mapping.kind}/{mapping.arn}"
            source = f"aws-auth {mapping.kind}"
            yield _AdminGrant(resource, source, mapping.arn, mapping.username, f"groups {MASTERS}")


def _entry_grants(entries: tuple[AccessEntry, ...]) -> Iterator[_AdminGrant]:
    for entry in entries:
        grants = entry_admin_grants(entry)
        if grants:
            resource = f"access-entry/{entry.principal_arn}"
            yield _AdminGrant(resource, "access entry", entry.principal_arn, entry.username, grants)


def _broad_outcomes(
    grants: Iterable[_AdminGrant], admins: list[str], context: dict[str, Any]
) -> list[Outcome]:
    """A FAIL for each grant to a broad principal; every granted principal is added to `admins`."""
    outcomes = []
    for grant in grants:
        admins.append(grant.principal)
        reason = broad_reason(grant.principal)
        if reason is None:
            continue
        evidence = {
            **context,
            "source": grant.source,
            "principal": grant.principal,
            "username": grant.username,
            "grant": grant.grant,
            "why_broad": reason,
        }
        outcomes.append(fail(SPEC, grant.resource, evidence=evidence))
    return outcomes


CHECKS: tuple[Check, ...] = (Check(spec=SPEC, run=check),)
