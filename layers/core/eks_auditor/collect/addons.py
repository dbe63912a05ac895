"""EKS add-ons and Pod Identity associations: which features a cluster uses, for the endpoint checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eks_auditor.model.snapshot import PodIdentityAssociation

if TYPE_CHECKING:
    from mypy_boto3_eks import EKSClient


def list_addons(eks: EKSClient, cluster_name: str) -> frozenset[str]:
    names: set[str] = set()
    for page in eks.get_paginator("list_addons").paginate(clusterName=cluster_name):
        names.update(page.get("addons", []))
    return frozenset(names)


def list_pod_identity_associations(eks: EKSClient, cluster_name: str) -> tuple[PodIdentityAssociation, ...]:
    found: list[PodIdentityAssociation] = []
    paginator = eks.get_paginator("list_pod_identity_associations")
    for page in paginator.paginate(clusterName=cluster_name):
        for item in page.get("associations", []):
            found.append(
                PodIdentityAssociation(
                    namespace=item.get("namespace", ""),
                    service_account=item.get("serviceAccount", ""),
                    association_id=item.get("associationId"),
                )
            )
    return tuple(found)
