"""read_access_entries with botocore's Stubber.

moto does not implement ListAccessEntries, DescribeAccessEntry or ListAssociatedAccessPolicies, so the
responses here follow the documented shapes: the aws-cli examples (eks list-access-entries,
describe-access-entry) and the botocore service model for ListAssociatedAccessPolicies. Stubber
validates every request and response against that model.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from eks_auditor.collect.access_entries import read_access_entries
from eks_auditor.model.kubernetes import AccessEntry, AccessPolicyAssociation

CLUSTER = "eks-customer"
ACCOUNT = "111122223333"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
USER = f"arn:aws:iam::{ACCOUNT}:user/eks-admin-user"
NODE = f"arn:aws:iam::{ACCOUNT}:role/assume-worker-node-role"
CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
WHEN = datetime(2025, 4, 14, 22, 45, 48, tzinfo=UTC)


@pytest.fixture
def eks() -> Iterator[tuple[object, Stubber]]:
    client = boto3.client("eks", region_name="us-west-2")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def describe(
    principal: str, *, type_: str = "STANDARD", groups: list[str] | None = None
) -> dict[str, object]:
    name = principal.rsplit("/", 1)[-1]
    return {
        "accessEntry": {
            "clusterName": CLUSTER,
            "principalArn": principal,
            "kubernetesGroups": groups or [],
            "accessEntryArn": (
                f"arn:aws:eks:us-west-2:{ACCOUNT}:access-entry/{CLUSTER}/role/{ACCOUNT}/{name}/0acb1bc6"
            ),
            "createdAt": WHEN,
            "modifiedAt": WHEN,
            "tags": {},
            "username": principal if type_ == "STANDARD" else "system:node:{{EC2PrivateDNSName}}",
            "type": type_,
        }
    }


def policies(
    principal: str, *associations: dict[str, object], next_token: str | None = None
) -> dict[str, object]:
    response: dict[str, object] = {
        "clusterName": CLUSTER,
        "principalArn": principal,
        "associatedAccessPolicies": [
            {**association, "associatedAt": WHEN, "modifiedAt": WHEN} for association in associations
        ],
    }
    if next_token:
        response["nextToken"] = next_token
    return response


def test_entries_with_their_policies_across_pages(eks: tuple[object, Stubber]) -> None:
    client, stubber = eks
    stubber.add_response(
        "list_access_entries", {"accessEntries": [ADMIN, USER], "nextToken": "t1"}, {"clusterName": CLUSTER}
    )
    stubber.add_response(
        "list_access_entries", {"accessEntries": [NODE]}, {"clusterName": CLUSTER, "nextToken": "t1"}
    )
    stubber.add_response(
        "describe_access_entry", describe(ADMIN), {"clusterName": CLUSTER, "principalArn": ADMIN}
    )
    stubber.add_response(
        "list_associated_access_policies",
        policies(ADMIN, {"policyArn": CLUSTER_ADMIN, "accessScope": {"type": "cluster"}}, next_token="p1"),
        {"clusterName": CLUSTER, "principalArn": ADMIN},
    )
    stubber.add_response(
        "list_associated_access_policies",
        policies(
            ADMIN, {"policyArn": VIEW, "accessScope": {"type": "namespace", "namespaces": ["dev", "team-*"]}}
        ),
        {"clusterName": CLUSTER, "principalArn": ADMIN, "nextToken": "p1"},
    )
    stubber.add_response(
        "describe_access_entry",
        describe(USER, groups=["viewers"]),
        {"clusterName": CLUSTER, "principalArn": USER},
    )
    stubber.add_response(
        "list_associated_access_policies", policies(USER), {"clusterName": CLUSTER, "principalArn": USER}
    )
    stubber.add_response(
        "describe_access_entry",
        describe(NODE, type_="EC2_LINUX"),
        {"clusterName": CLUSTER, "principalArn": NODE},
    )
    stubber.add_response(
        "list_associated_access_policies", policies(NODE), {"clusterName": CLUSTER, "principalArn": NODE}
    )

    assert read_access_entries(client, CLUSTER) == (
        AccessEntry(
            principal_arn=ADMIN,
            username=ADMIN,
            policies=(
                AccessPolicyAssociation(policy_arn=CLUSTER_ADMIN, scope_type="cluster"),
                AccessPolicyAssociation(
                    policy_arn=VIEW, scope_type="namespace", namespaces=("dev", "team-*")
                ),
            ),
        ),
        AccessEntry(principal_arn=USER, username=USER, kubernetes_groups=("viewers",)),
        AccessEntry(principal_arn=NODE, type="EC2_LINUX", username="system:node:{{EC2PrivateDNSName}}"),
    )


def test_config_map_mode_cluster_has_no_access_entries(eks: tuple[object, Stubber]) -> None:
    client, stubber = eks
    stubber.add_client_error(
        "list_access_entries",
        service_error_code="InvalidRequestException",
        service_message=(
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform "
            "this operation."
        ),
        http_status_code=400,
    )
    assert read_access_entries(client, CLUSTER) == ()


def test_access_denied_propagates(eks: tuple[object, Stubber]) -> None:
    client, stubber = eks
    stubber.add_client_error(
        "list_access_entries",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: eks:ListAccessEntries",
        http_status_code=403,
    )
    with pytest.raises(ClientError) as caught:
        read_access_entries(client, CLUSTER)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_no_entries(eks: tuple[object, Stubber]) -> None:
    client, stubber = eks
    stubber.add_response("list_access_entries", {"accessEntries": []}, {"clusterName": CLUSTER})
    assert read_access_entries(client, CLUSTER) == ()
