"""EKS access entries and their associated access policies (EKS API; no Kubernetes access needed).

IAM: eks:ListAccessEntries, eks:DescribeAccessEntry, eks:ListAssociatedAccessPolicies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from eks_auditor.model.kubernetes import AccessEntry, AccessPolicyAssociation

if TYPE_CHECKING:
    from mypy_boto3_eks import EKSClient

PERMISSIONS: tuple[str, ...] = (
    "eks:ListAccessEntries",
    "eks:DescribeAccessEntry",
    "eks:ListAssociatedAccessPolicies",
)


def read_access_entries(eks_client: EKSClient, cluster_name: str) -> tuple[AccessEntry, ...]:
    """Every access entry of the cluster with its policies. () for a CONFIG_MAP-mode cluster.

    Errors other than the CONFIG_MAP case (AccessDenied, throttling) propagate as ClientError; the
    caller records the gap.
    """
    principals: list[str] = []
    try:
        for page in eks_client.get_paginator("list_access_entries").paginate(clusterName=cluster_name):
            principals.extend(page.get("accessEntries", []))
    except ClientError as error:
        if _access_entries_disabled(error):
            return ()
        raise
    return tuple(_describe(eks_client, cluster_name, principal) for principal in principals)


def _access_entries_disabled(error: ClientError) -> bool:
    # EKS answers InvalidRequestException "The cluster's authentication mode must be set to one of
    # [API, API_AND_CONFIG_MAP] to perform this operation." when only aws-auth is in use.
    details = error.response.get("Error", {})
    return details.get("Code") == "InvalidRequestException" and "authentication mode" in str(
        details.get("Message", "")
    )


def _describe(eks_client: EKSClient, cluster_name: str, principal_arn: str) -> AccessEntry:
    entry = eks_client.describe_access_entry(clusterName=cluster_name, principalArn=principal_arn)[
        "accessEntry"
    ]
    policies: list[AccessPolicyAssociation] = []
    paginator = eks_client.get_paginator("list_associated_access_policies")
    for page in paginator.paginate(clusterName=cluster_name, principalArn=principal_arn):
        for association in page.get("associatedAccessPolicies", []):
            scope = association.get("accessScope") or {}
            policies.append(
                AccessPolicyAssociation(
                    policy_arn=association["policyArn"],
                    scope_type=str(scope.get("type", "cluster")),
                    namespaces=tuple(scope.get("namespaces") or ()),
                )
            )
    return AccessEntry(
        principal_arn=entry.get("principalArn", principal_arn),
        type=entry.get("type", "STANDARD"),
        username=entry.get("username"),
        kubernetes_groups=tuple(entry.get("kubernetesGroups") or ()),
        policies=tuple(policies),
    )
