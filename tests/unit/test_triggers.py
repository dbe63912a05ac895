"""triggers.requests_from_event: every sample in events/ routes to exactly the audit it should ask for.

Expected check sets are written out here (not taken from the trigger tables), so a wrong table fails. They
speak for the checks test_trigger_routing pins; a check added later routes by its own declared events.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from eks_auditor.checks.registry import CHECKS
from eks_auditor.spot.notices import EVENT_CHECK_SPECS
from eks_auditor.triggers import (
    AUTOSCALING_EVENT_CHECKS,
    EC2_EVENT_CHECKS,
    EKS_EVENT_CHECKS,
    FIREWALL_EVENT_CHECKS,
    IAM_EVENT_CHECKS,
    AuditRequest,
    InvalidEvent,
    merge_checks,
    requests_from_event,
)
from test_trigger_routing import pinned

EVENTS = Path(__file__).resolve().parents[2] / "events"
ACCOUNT = "123456789012"
REGION = "us-east-1"

ENDPOINT = {
    "endpoint_public_unrestricted",
    "endpoint_private_access_disabled",
    "endpoint_nodes_blocked_by_cidrs",
}
VPC_ENDPOINTS = {"vpc_endpoint_missing", "vpc_endpoint_private_dns_disabled"}
AUTOSCALER = {"autoscaler_dynamic_instance_list"}
NODE_NETWORK = {"endpoint_nodes_blocked_by_cidrs", "nodes_public_subnet", *VPC_ENDPOINTS, *AUTOSCALER}


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def request_of_event(event: dict[str, Any]) -> AuditRequest:
    requests = requests_from_event(event)
    assert len(requests) == 1, requests
    return requests[0].model_copy(update={"check_ids": pinned(requests[0].check_ids)})


def request_of(name: str) -> AuditRequest:
    return request_of_event(load(name))


def refs(request: AuditRequest) -> dict[str, set[str]]:
    """The VPC references as sets (walk order is not part of the contract); each id listed once."""
    assert request.vpc is not None
    for ids in request.vpc.ids.values():
        assert len(ids) == len(set(ids)), ids
    return {kind: set(ids) for kind, ids in request.vpc.ids.items()}


# --- EKS ---------------------------------------------------------------------------------------------


def test_update_cluster_config_reaudits_the_named_cluster_for_endpoint_and_network_checks() -> None:
    request = request_of("eks-update-cluster-config-public-cidrs.json")
    assert request == AuditRequest(
        source="6f1c2d3e-4a5b-46c7-8d9e-0f1a2b3c4d5e",
        event_name="UpdateClusterConfig",
        account=ACCOUNT,
        region=REGION,
        cluster="demo-public",
        check_ids=frozenset(
            ENDPOINT | VPC_ENDPOINTS | AUTOSCALER | {"cluster_admin_broad", "control_plane_logging_disabled"}
        ),
    )


def test_create_cluster_runs_every_check() -> None:
    assert request_of("eks-create-cluster.json") == AuditRequest(
        source="8b3c4d5e-6f70-4182-93a4-b5c6d7e8f90a",
        event_name="CreateCluster",
        account=ACCOUNT,
        region=REGION,
        cluster="demo-private",
        check_ids=None,
    )


def test_create_nodegroup_names_the_cluster_from_the_uri_parameter() -> None:
    assert request_of("eks-create-nodegroup.json") == AuditRequest(
        source=load("eks-create-nodegroup.json")["id"],
        event_name="CreateNodegroup",
        account=ACCOUNT,
        region=REGION,
        cluster="demo-spot",
        check_ids=frozenset(
            {
                "nodegroup_ssh_open",
                "nodes_public_subnet",
                "spot_single_instance_type",
                "ip_capacity_exhaustion_risk",
                "ip_prefix_delegation_recommended",
            }
            | NODE_NETWORK
        ),
    )


def test_access_policy_association_reaudits_cluster_admin_only() -> None:
    request = request_of("eks-associate-access-policy.json")
    assert request.cluster == "demo-public"
    assert request.check_ids == frozenset({"cluster_admin_broad"})
    assert (request.vpc, request.delete_cluster) == (None, False)


def test_delete_cluster_asks_to_resolve_the_cluster() -> None:
    assert request_of("eks-delete-cluster.json") == AuditRequest(
        source=load("eks-delete-cluster.json")["id"],
        event_name="DeleteCluster",
        account=ACCOUNT,
        region=REGION,
        cluster="demo-retired",
        check_ids=None,
        delete_cluster=True,
    )


def test_failed_call_is_nothing_to_do() -> None:
    assert requests_from_event(load("eks-update-cluster-config-error.json")) == []


def test_error_code_wins_even_for_calls_we_do_not_audit() -> None:
    event = load("negative-eks-describe-cluster.json")
    event["detail"]["errorCode"] = "AccessDeniedException"
    assert requests_from_event(event) == []


def test_cluster_name_falls_back_to_the_response() -> None:
    event = load("eks-delete-cluster.json")
    event["detail"]["requestParameters"] = {}
    assert request_of_event(event).cluster == "demo-retired"


def test_recipient_account_and_aws_region_come_from_the_cloudtrail_record() -> None:
    event = load("eks-associate-access-policy.json")
    event["detail"]["recipientAccountId"] = "210987654321"
    event["detail"]["awsRegion"] = "eu-west-1"
    request = request_of_event(event)
    assert (request.account, request.region) == ("210987654321", "eu-west-1")


# --- EC2 ---------------------------------------------------------------------------------------------


def test_delete_vpc_endpoints_reads_the_tag_content_list() -> None:
    request = request_of("ec2-delete-vpc-endpoints.json")
    assert (request.cluster, request.event_name, request.source) == (
        None,
        "DeleteVpcEndpoints",
        "cf708192-a3b4-45c6-d7e8-f90a1b2c3d4e",
    )
    assert request.check_ids == frozenset(VPC_ENDPOINTS | AUTOSCALER)
    assert refs(request) == {"vpc_endpoint": {"vpce-0a11b22c33d44e55f", "vpce-0f66e77d88c99b00a"}}


def test_create_vpc_endpoint_collects_ids_from_request_and_response_but_not_names() -> None:
    request = request_of("ec2-create-vpc-endpoint.json")
    assert request.check_ids == frozenset(VPC_ENDPOINTS | AUTOSCALER)
    # The response's groupName "vpce-ecr" has an endpoint id's prefix but is a name.
    assert refs(request) == {
        "vpc": {"vpc-0d1e2f3a4b5c6d7e8"},
        "subnet": {"subnet-0a1b2c3d4e5f60718", "subnet-0b2c3d4e5f6071829"},
        "security_group": {"sg-0e5f60718293a4b5c"},
        "vpc_endpoint": {"vpce-0123abcd4567ef890"},
        "network_interface": {"eni-0aa1bb2cc3dd4ee5f", "eni-0ff6ee7dd8cc9bb0a"},
    }


def test_delete_route_names_the_route_table() -> None:
    request = request_of("ec2-delete-route.json")
    assert request.check_ids == frozenset(NODE_NETWORK)
    assert refs(request) == {"route_table": {"rtb-0c3d4e5f60718293a"}}
    assert request.cluster is None


def test_create_subnet_names_vpc_and_new_subnet() -> None:
    request = request_of("ec2-create-subnet.json")
    assert request.check_ids == frozenset(
        {"ip_capacity_exhaustion_risk", "ip_prefix_delegation_recommended", "nodes_public_subnet"}
    )
    assert refs(request) == {"vpc": {"vpc-0d1e2f3a4b5c6d7e8"}, "subnet": {"subnet-0c3d4e5f60718293a"}}


def tag_call(name: str, *resources: str) -> dict[str, Any]:
    event = load("ec2-create-tags-subnet.json")
    event["detail"]["eventName"] = name
    event["detail"]["requestParameters"]["resourcesSet"]["items"] = [{"resourceId": r} for r in resources]
    return event


def test_subnet_tags_reaudit_the_capacity_check_in_the_subnets_vpcs() -> None:
    request = request_of("ec2-create-tags-subnet.json")
    assert request.check_ids == frozenset({"ip_capacity_exhaustion_risk"})
    assert refs(request) == {"subnet": {"subnet-0e4f5a6b7c8d9e0f1"}}
    assert request.cluster is None


@pytest.mark.parametrize("name", ["CreateTags", "DeleteTags"])
def test_ec2_tag_calls_are_scoped_to_the_subnets_they_tag(name: str) -> None:
    # Other resources tagged in the same call are not the scope: a route table's VPC (or a transit
    # gateway's VPCs) would re-audit clusters whose subnets' tags did not change.
    event = tag_call(name, "i-0a1b2c3d4e5f60718", "subnet-0e4f5a6b7c8d9e0f1", "rtb-0c3d4e5f60718293a")
    request = request_of_event(event)
    assert request.event_name == name
    assert request.check_ids == frozenset({"ip_capacity_exhaustion_risk"})
    assert refs(request) == {"subnet": {"subnet-0e4f5a6b7c8d9e0f1"}}


@pytest.mark.parametrize("name", ["CreateTags", "DeleteTags"])
def test_ec2_tag_calls_on_no_subnet_re_audit_nothing(name: str) -> None:
    # The template does not forward them; replayed anyway, they are dropped, not widened to the region.
    assert requests_from_event(tag_call(name, "i-0a1b2c3d4e5f60718")) == []
    assert requests_from_event(tag_call(name, "i-0a1b2c3d4e5f60718", "rtb-0c3d4e5f60718293a")) == []
    assert requests_from_event(tag_call(name)) == []


def test_auto_scaling_delete_tags_is_routed_apart_from_ec2s() -> None:
    # Same eventName, another service: the group's own routing (node-group checks), scoped to the group
    # and the clusters its tags name, never read as an EC2 tag call on subnets.
    event = load("autoscaling-create-or-update-tags.json")
    event["detail"]["eventName"] = "DeleteTags"
    [request] = requests_from_event(event)
    assert request.check_ids is not None
    assert "autoscaler_dynamic_instance_list" in request.check_ids
    assert request.vpc is not None and request.vpc.of("subnet") == ()


def test_tag_values_shaped_like_prefixes_are_not_ids() -> None:
    event = load("ec2-create-subnet.json")
    event["detail"]["requestParameters"]["TagSpecification"] = {
        "tag": 1,
        "ResourceType": "subnet",
        "Tag": [{"tag": 1, "Key": "Name", "Value": "subnet-private-a"}, {"Key": "sg", "Value": "sg-web"}],
    }
    assert refs(request_of_event(event)) == {
        "vpc": {"vpc-0d1e2f3a4b5c6d7e8"},
        "subnet": {"subnet-0c3d4e5f60718293a"},
    }


def test_eight_digit_ids_are_ids_too() -> None:
    event = load("ec2-delete-route.json")
    event["detail"]["requestParameters"]["routeTableId"] = "rtb-0c3d4e5f"
    assert refs(request_of_event(event)) == {"route_table": {"rtb-0c3d4e5f"}}


def test_call_without_references_has_empty_reference_set() -> None:
    event = load("ec2-delete-route.json")
    event["detail"]["eventName"] = "DisassociateRouteTable"
    event["detail"]["requestParameters"] = {"associationId": "rtbassoc-0a1b2c3d4e5f60718"}
    event["detail"]["responseElements"] = None
    assert refs(request_of_event(event)) == {}


def test_launch_template_version_is_scoped_by_its_template_not_the_groups_it_names() -> None:
    request = request_of("ec2-create-launch-template-version.json")
    assert request.check_ids == frozenset(
        {
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "spot_single_instance_type",
        }
    )
    # The version's data names a security group: only the groups that follow the template change.
    assert refs(request) == {"launch_template": {"lt-0c3d4e5f60718293a", "batch-nodes"}}


def test_transit_gateway_route_names_its_table_attachment_and_the_attached_vpc() -> None:
    request = request_of("ec2-create-transit-gateway-route.json")
    assert request.check_ids == frozenset(NODE_NETWORK - {"nodes_public_subnet"})
    assert refs(request) == {
        "transit_gateway_route_table": {"tgw-rtb-0a1b2c3d4e5f60718"},
        "transit_gateway_attachment": {"tgw-attach-0b2c3d4e5f6071829"},
        "vpc": {"vpc-0e1f2a3b4c5d6e7f8"},
    }


def test_peering_and_transit_gateway_ids_are_told_apart_by_prefix() -> None:
    event = load("ec2-delete-route.json")
    event["detail"]["eventName"] = "DeleteVpcPeeringConnection"
    event["detail"]["requestParameters"] = {"vpcPeeringConnectionId": "pcx-0a1b2c3d4e5f60718"}
    event["detail"]["responseElements"] = {"_return": True, "gatewayId": "tgw-0123456789abcdef0"}
    request = request_of_event(event)
    assert request.check_ids == frozenset(NODE_NETWORK - {"nodes_public_subnet"})
    assert refs(request) == {
        "vpc_peering_connection": {"pcx-0a1b2c3d4e5f60718"},
        "transit_gateway": {"tgw-0123456789abcdef0"},
    }


def test_nat_gateway_address_reaudits_the_cidr_check_in_the_gateway_vpc() -> None:
    event = load("ec2-delete-route.json")
    event["detail"]["eventName"] = "AssociateNatGatewayAddress"
    event["detail"]["requestParameters"] = {
        "AssociateNatGatewayAddressRequest": {
            "NatGatewayId": "nat-0a1b2c3d4e5f60718",
            "AllocationId": {"tag": 1, "content": "eipalloc-0b2c3d4e5f6071829"},
        }
    }
    request = request_of_event(event)
    assert request.check_ids == frozenset({"endpoint_nodes_blocked_by_cidrs"})
    assert refs(request) == {"nat_gateway": {"nat-0a1b2c3d4e5f60718"}}


# --- Auto Scaling and Network Firewall ----------------------------------------------------------------

SELF_MANAGED = {
    "autoscaler_dynamic_instance_list",
    "endpoint_nodes_blocked_by_cidrs",
    "ip_capacity_exhaustion_risk",
    "ip_prefix_delegation_recommended",
    "nodegroup_ssh_open",
    "nodes_public_subnet",
    "spot_single_instance_type",
    *VPC_ENDPOINTS,
}


def test_auto_scaling_group_update_is_scoped_by_the_group_not_its_subnets() -> None:
    request = request_of("autoscaling-update-auto-scaling-group.json")
    assert (request.cluster, request.check_ids) == (None, frozenset(SELF_MANAGED))
    assert refs(request) == {"auto_scaling_group": {"batch-self-managed"}}


def test_auto_scaling_tags_name_the_group_and_the_cluster() -> None:
    request = request_of("autoscaling-create-or-update-tags.json")
    assert refs(request) == {"auto_scaling_group": {"batch-self-managed"}, "cluster": {"batch"}}


def test_removed_cluster_tags_still_name_the_cluster_but_the_discovery_switch_does_not() -> None:
    event = load("autoscaling-create-or-update-tags.json")
    event["detail"]["eventName"] = "DeleteTags"
    event["detail"]["requestParameters"] = {
        "tags": [
            {
                "resourceId": "ng-a",
                "resourceType": "auto-scaling-group",
                "key": "eks:cluster-name",
                "value": "prod",
            },
            {
                "resourceId": "ng-a",
                "resourceType": "auto-scaling-group",
                "key": "k8s.io/cluster-autoscaler/enabled",
            },
            {
                "resourceId": "ng-b",
                "resourceType": "auto-scaling-group",
                "key": "k8s.io/cluster-autoscaler/dev",
            },
        ]
    }
    request = request_of_event(event)
    assert request.check_ids == frozenset(SELF_MANAGED)
    assert refs(request) == {"auto_scaling_group": {"ng-a", "ng-b"}, "cluster": {"prod", "dev"}}


def test_firewall_subnets_name_the_firewall_and_its_subnets() -> None:
    request = request_of("network-firewall-associate-subnets.json")
    assert request.check_ids == frozenset(NODE_NETWORK - {"nodes_public_subnet"})
    assert refs(request) == {
        "firewall": {
            "arn:aws:network-firewall:us-east-1:123456789012:firewall/egress-inspection",
            "egress-inspection",
        },
        "subnet": {"subnet-0d4e5f60718293a4b", "subnet-0e5f60718293a4b5c"},
    }


def test_an_unrouted_auto_scaling_call_is_invalid() -> None:
    event = load("autoscaling-update-auto-scaling-group.json")
    event["detail"]["eventName"] = "SetDesiredCapacity"
    with pytest.raises(InvalidEvent, match="Auto Scaling call SetDesiredCapacity is not one we audit for"):
        requests_from_event(event)


# --- IAM ---------------------------------------------------------------------------------------------


def test_oidc_provider_reaudits_the_issuer_region() -> None:
    assert request_of("iam-create-oidc-provider.json") == AuditRequest(
        source="03b4c5d6-e7f8-4091-a2b3-c4d5e6f70819",
        event_name="CreateOpenIDConnectProvider",
        account=ACCOUNT,
        region="us-east-1",
        cluster=None,
        vpc=None,
        # IRSA (an IAM OIDC provider) makes the sts endpoint required in isolated subnets.
        check_ids=frozenset({"oidc_provider_missing", "vpc_endpoint_missing"}),
    )


def test_oidc_provider_deletion_takes_the_region_from_the_provider_arn() -> None:
    event = load("iam-create-oidc-provider.json")
    event["detail"]["eventName"] = "DeleteOpenIDConnectProvider"
    event["detail"]["requestParameters"] = {
        "openIDConnectProviderArn": "arn:aws:iam::123456789012:oidc-provider/"
        "oidc.eks.ap-southeast-2.amazonaws.com/id/5C2E8F31A4B6D7090E1F2A3B4C5D6E7F"
    }
    request = request_of_event(event)
    assert (request.region, request.check_ids) == (
        "ap-southeast-2",
        frozenset({"oidc_provider_missing", "vpc_endpoint_missing"}),
    )


def test_non_eks_oidc_provider_is_invalid() -> None:
    event = load("iam-create-oidc-provider.json")
    event["detail"]["requestParameters"]["url"] = "https://token.actions.githubusercontent.com"
    with pytest.raises(InvalidEvent, match="CreateOpenIDConnectProvider names no EKS OIDC issuer URL"):
        requests_from_event(event)


# --- everything in events/ ---------------------------------------------------------------------------

# Samples other handlers (spot, schedule) consume or that no rule routes here, with why they are rejected.
REJECTED = {
    "negative-ec2-instance-state-change.json": (
        "unexpected detail-type 'EC2 Instance State-change Notification'"
    ),
    "negative-eks-describe-cluster.json": "EKS call DescribeCluster is not one we audit for",
    "negative-guardduty-finding.json": "unexpected detail-type 'GuardDuty Finding'",
    "scheduled.json": "unexpected detail-type 'Scheduled Event'",
    "spot-interruption-warning.json": "unexpected detail-type 'EC2 Spot Instance Interruption Warning'",
    "spot-rebalance-recommendation.json": "unexpected detail-type 'EC2 Instance Rebalance Recommendation'",
}
ROUTED = {
    "ec2-create-subnet.json": 1,
    "ec2-create-vpc-endpoint.json": 1,
    "ec2-delete-route.json": 1,
    "ec2-delete-vpc-endpoints.json": 1,
    "eks-associate-access-policy.json": 1,
    "eks-create-cluster.json": 1,
    "eks-create-nodegroup.json": 1,
    "eks-delete-cluster.json": 1,
    "eks-update-cluster-config-error.json": 0,
    "eks-update-cluster-config-public-cidrs.json": 1,
    "iam-create-oidc-provider.json": 1,
    "autoscaling-update-auto-scaling-group.json": 1,
    "autoscaling-create-or-update-tags.json": 1,
    "network-firewall-associate-subnets.json": 1,
    "ec2-create-transit-gateway-route.json": 1,
    "ec2-create-launch-template-version.json": 1,
    "ec2-create-tags-subnet.json": 1,
}


def test_every_sample_is_covered_here() -> None:
    assert {p.name for p in EVENTS.glob("*.json")} == set(REJECTED) | set(ROUTED)


@pytest.mark.parametrize("name", sorted(ROUTED))
def test_routed_sample_yields_requests_with_its_id(name: str) -> None:
    event = load(name)
    requests = requests_from_event(event)
    assert len(requests) == ROUTED[name]
    for request in requests:
        assert (request.source, request.event_name) == (event["id"], event["detail"]["eventName"])
        # Every request is scoped: a cluster, VPC references, or (IAM) the checks of a whole region.
        assert (
            request.cluster
            or request.vpc is not None
            or request.check_ids == IAM_EVENT_CHECKS[request.event_name]
        )


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_sample_says_why(name: str) -> None:
    event = load(name)
    with pytest.raises(InvalidEvent) as raised:
        requests_from_event(event)
    assert str(raised.value) == f"event {event['id']}: {REJECTED[name]}"


# --- malformed input ---------------------------------------------------------------------------------


def without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    copied = copy.deepcopy(event)
    node = copied
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return copied


GOOD = load("eks-update-cluster-config-public-cidrs.json")
GOOD_ID = GOOD["id"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([GOOD], "event is not a JSON object but list"),
        ("garbage", "event is not a JSON object but str"),
        (None, "event is not a JSON object but NoneType"),
        (without(GOOD, "id"), "event lacks required field(s) id"),
        (without(without(GOOD, "region"), "account"), "event lacks required field(s) account, region"),
        ({**GOOD, "source": ""}, "event lacks required field(s) source"),
        (without(GOOD, "detail"), f"event {GOOD_ID} has no detail object"),
        ({**GOOD, "detail": "UpdateClusterConfig"}, f"event {GOOD_ID} has no detail object"),
        (without(GOOD, "detail", "eventName"), f"event {GOOD_ID} has no detail.eventName"),
        (
            {**GOOD, "detail": {**GOOD["detail"], "eventName": "TagResource"}},
            f"event {GOOD_ID}: EKS call TagResource is not one we audit for",
        ),
        (
            {**GOOD, "detail": {**GOOD["detail"], "requestParameters": {"clientRequestToken": "x"}}},
            f"event {GOOD_ID}: UpdateClusterConfig names no cluster in requestParameters",
        ),
        (
            {**GOOD, "detail": {**GOOD["detail"], "requestParameters": None, "responseElements": None}},
            f"event {GOOD_ID}: UpdateClusterConfig names no cluster in requestParameters",
        ),
        (
            {**GOOD, "source": "aws.ec2", "detail": {**GOOD["detail"], "eventName": "RunInstances"}},
            f"event {GOOD_ID}: EC2 call RunInstances is not one we audit for",
        ),
        (
            {**GOOD, "source": "aws.iam", "detail": {**GOOD["detail"], "eventName": "CreateRole"}},
            f"event {GOOD_ID}: IAM call CreateRole is not one we audit for",
        ),
        ({**GOOD, "source": "aws.s3"}, f"event {GOOD_ID}: unexpected source 'aws.s3'"),
    ],
    ids=[
        "list",
        "string",
        "null",
        "no-id",
        "no-account-region",
        "empty-source",
        "no-detail",
        "detail-not-object",
        "no-event-name",
        "unknown-eks-call",
        "no-cluster-name",
        "null-parameters",
        "unknown-ec2-call",
        "unknown-iam-call",
        "unknown-source",
    ],
)
def test_malformed_event_raises_with_a_clear_message(event: Any, message: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        requests_from_event(event)
    assert str(raised.value) == message


# --- the trigger tables ------------------------------------------------------------------------------


def test_every_check_named_by_a_trigger_exists() -> None:
    known = set(CHECKS) | {spec.id for spec in EVENT_CHECK_SPECS}
    named = {
        (table, event, check_id)
        for table, mapping in (
            ("EKS", EKS_EVENT_CHECKS),
            ("EC2", EC2_EVENT_CHECKS),
            ("IAM", IAM_EVENT_CHECKS),
            ("Auto Scaling", AUTOSCALING_EVENT_CHECKS),
            ("Network Firewall", FIREWALL_EVENT_CHECKS),
        )
        for event, checks in mapping.items()
        for check_id in checks or ()
    }
    assert named, "the trigger tables name no checks"
    assert sorted(entry for entry in named if entry[2] not in known) == []


def test_every_registered_check_is_rerun_by_some_event() -> None:
    # A check no event re-runs would only ever change on the schedule.
    rerun = set().union(*(checks for checks in EKS_EVENT_CHECKS.values() if checks is not None))
    rerun |= set().union(
        *EC2_EVENT_CHECKS.values(),
        *IAM_EVENT_CHECKS.values(),
        *AUTOSCALING_EVENT_CHECKS.values(),
        *FIREWALL_EVENT_CHECKS.values(),
    )
    assert sorted(set(CHECKS) - rerun) == []


def test_merge_checks() -> None:
    a, b = frozenset({"x"}), frozenset({"y"})
    assert merge_checks([a, b]) == {"x", "y"}
    assert merge_checks([a, None, b]) is None
    assert merge_checks([]) == frozenset()
