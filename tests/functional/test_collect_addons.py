"""list_addons and list_pod_identity_associations with botocore's Stubber.

moto answers ListAddons and ListPodIdentityAssociations with 404, so the responses here follow the
documented shapes: the aws-cli example of `eks list-addons` and the EKS API reference's
ListPodIdentityAssociations (PodIdentityAssociationSummary). Stubber validates every request and response
against botocore's service model.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber
from eks_auditor.collect.addons import list_addons, list_pod_identity_associations
from eks_auditor.model.snapshot import PodIdentityAssociation

CLUSTER = "my-cluster"
ACCOUNT = "111122223333"


@pytest.fixture
def eks() -> Iterator[tuple[object, Stubber]]:
    client = boto3.client("eks", region_name="us-west-2")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_addon_names_over_pages(eks: tuple[object, Stubber]) -> None:
    client, stub = eks
    stub.add_response("list_addons", {"addons": ["kube-proxy", "vpc-cni"], "nextToken": "t1"},
                      {"clusterName": CLUSTER})  # fmt: skip
    stub.add_response("list_addons", {"addons": ["eks-pod-identity-agent"]},
                      {"clusterName": CLUSTER, "nextToken": "t1"})  # fmt: skip
    found = list_addons(client, CLUSTER)  # type: ignore[arg-type]
    assert found == frozenset({"kube-proxy", "vpc-cni", "eks-pod-identity-agent"})


def test_pod_identity_associations(eks: tuple[object, Stubber]) -> None:
    client, stub = eks
    summary = {
        "clusterName": CLUSTER,
        "namespace": "default",
        "serviceAccount": "my-service-account",
        "associationArn": f"arn:aws:eks:us-west-2:{ACCOUNT}:podidentityassociation/{CLUSTER}/a-9njjin9gfghecgocd",  # noqa: E501
        "associationId": "a-9njjin9gfghecgocd",
        "ownerArn": "",
    }
    stub.add_response("list_pod_identity_associations", {"associations": [summary]}, {"clusterName": CLUSTER})
    assert list_pod_identity_associations(client, CLUSTER) == (  # type: ignore[arg-type]
        PodIdentityAssociation(
            namespace="default", service_account="my-service-account", association_id="a-9njjin9gfghecgocd"
        ),
    )


def test_no_associations(eks: tuple[object, Stubber]) -> None:
    client, stub = eks
    stub.add_response("list_pod_identity_associations", {"associations": []}, {"clusterName": CLUSTER})
    assert list_pod_identity_associations(client, CLUSTER) == ()  # type: ignore[arg-type]
