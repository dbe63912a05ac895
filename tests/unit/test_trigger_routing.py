"""Pins the event -> checks routing exactly as it was hand-kept in triggers.py before it was derived.

The routing is now computed from the checks' declared events (eks_auditor.checks.registry). For the
checks this table names, it is written out by hand: an event dropped from or added to one of them is a
diff a reviewer reads, not a silent change of what an API call re-audits. A check added later routes by
its own declaration (`test_a_call_reaudits_exactly_the_checks_that_declare_it`) without editing this file.
"""

from __future__ import annotations

from typing import Any

import pytest
from eks_auditor.triggers import AuditRequest, requests_from_event

ACCOUNT = "123456789012"
REGION = "us-east-1"

# (source, eventName) -> the check ids one call re-audits; None: every check.
ROUTES: dict[tuple[str, str], frozenset[str] | None] = {
    ("aws.eks", "CreateCluster"): None,
    ("aws.eks", "UpdateClusterConfig"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "cluster_admin_broad",
            "control_plane_logging_disabled",
            "endpoint_nodes_blocked_by_cidrs",
            "endpoint_private_access_disabled",
            "endpoint_public_unrestricted",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.eks", "UpdateClusterVersion"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "version_end_of_standard_support",
        }
    ),
    ("aws.eks", "AssociateEncryptionConfig"): frozenset(
        {
            "secrets_encryption_disabled",
        }
    ),
    ("aws.eks", "CreateNodegroup"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "nodes_public_subnet",
            "spot_single_instance_type",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.eks", "UpdateNodegroupConfig"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "nodes_public_subnet",
            "spot_single_instance_type",
        }
    ),
    ("aws.eks", "UpdateNodegroupVersion"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "nodes_public_subnet",
            "spot_single_instance_type",
        }
    ),
    ("aws.eks", "DeleteNodegroup"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "nodes_public_subnet",
            "spot_single_instance_type",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.eks", "CreateAccessEntry"): frozenset(
        {
            "cluster_admin_broad",
        }
    ),
    ("aws.eks", "UpdateAccessEntry"): frozenset(
        {
            "cluster_admin_broad",
        }
    ),
    ("aws.eks", "DeleteAccessEntry"): frozenset(
        {
            "cluster_admin_broad",
        }
    ),
    ("aws.eks", "AssociateAccessPolicy"): frozenset(
        {
            "cluster_admin_broad",
        }
    ),
    ("aws.eks", "DisassociateAccessPolicy"): frozenset(
        {
            "cluster_admin_broad",
        }
    ),
    ("aws.eks", "AssociateIdentityProviderConfig"): frozenset(
        {
            "cluster_admin_broad",
        }
    ),
    ("aws.eks", "DisassociateIdentityProviderConfig"): frozenset(
        {
            "cluster_admin_broad",
        }
    ),
    ("aws.eks", "CreateAddon"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            # The eks-pod-identity-agent and CloudWatch observability add-ons decide eks-auth and logs.
            "vpc_endpoint_missing",
        }
    ),
    ("aws.eks", "UpdateAddon"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            # The eks-pod-identity-agent and CloudWatch observability add-ons decide eks-auth and logs.
            "vpc_endpoint_missing",
        }
    ),
    ("aws.eks", "DeleteAddon"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            # The eks-pod-identity-agent and CloudWatch observability add-ons decide eks-auth and logs.
            "vpc_endpoint_missing",
        }
    ),
    ("aws.ec2", "CreateVpcEndpoint"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "DeleteVpcEndpoints"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "ModifyVpcEndpoint"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "CreateRoute"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "DeleteRoute"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "ReplaceRoute"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "CreateRouteTable"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "DeleteRouteTable"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "AssociateRouteTable"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "DisassociateRouteTable"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "ReplaceRouteTableAssociation"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "CreateNatGateway"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "DeleteNatGateway"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "CreateSubnet"): frozenset(
        {
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodes_public_subnet",
        }
    ),
    ("aws.ec2", "DeleteSubnet"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodes_public_subnet",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "AssociateSubnetCidrBlock"): frozenset(
        {
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
        }
    ),
    ("aws.ec2", "ModifySubnetAttribute"): frozenset(
        {
            "nodes_public_subnet",
        }
    ),
    # A subnet's tags: kubernetes.io/role/cni puts it in the VPC CNI's pod IP pool (subnet discovery).
    ("aws.ec2", "CreateTags"): frozenset(
        {
            "ip_capacity_exhaustion_risk",
        }
    ),
    ("aws.ec2", "DeleteTags"): frozenset(
        {
            "ip_capacity_exhaustion_risk",
        }
    ),
    ("aws.ec2", "AssociateAddress"): frozenset(
        {
            "endpoint_nodes_blocked_by_cidrs",
        }
    ),
    ("aws.ec2", "DisassociateAddress"): frozenset(
        {
            "endpoint_nodes_blocked_by_cidrs",
        }
    ),
    ("aws.ec2", "AuthorizeSecurityGroupIngress"): frozenset(
        {
            "nodegroup_ssh_open",
            # The interface endpoints' security groups must admit 443 from the nodes.
            "vpc_endpoint_missing",
        }
    ),
    ("aws.ec2", "RevokeSecurityGroupIngress"): frozenset(
        {
            "nodegroup_ssh_open",
            # The interface endpoints' security groups must admit 443 from the nodes.
            "vpc_endpoint_missing",
        }
    ),
    ("aws.iam", "CreateOpenIDConnectProvider"): frozenset(
        {
            "oidc_provider_missing",
            "vpc_endpoint_missing",
        }
    ),
    ("aws.iam", "DeleteOpenIDConnectProvider"): frozenset(
        {
            "oidc_provider_missing",
            "vpc_endpoint_missing",
        }
    ),
    # Added with the routing of every verdict-changing event (issue 11, item 5).
    ("aws.ec2", "CreateTransitGatewayVpcAttachment"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "AcceptTransitGatewayVpcAttachment"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "ModifyTransitGatewayVpcAttachment"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "DeleteTransitGatewayVpcAttachment"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "AssociateTransitGatewayRouteTable"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "DisassociateTransitGatewayRouteTable"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "EnableTransitGatewayRouteTablePropagation"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "DisableTransitGatewayRouteTablePropagation"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "CreateTransitGatewayRoute"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "DeleteTransitGatewayRoute"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "ReplaceTransitGatewayRoute"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "AcceptVpcPeeringConnection"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "DeleteVpcPeeringConnection"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "AssociateNatGatewayAddress"): frozenset(
        {
            "endpoint_nodes_blocked_by_cidrs",
        }
    ),
    ("aws.ec2", "DisassociateNatGatewayAddress"): frozenset(
        {
            "endpoint_nodes_blocked_by_cidrs",
        }
    ),
    ("aws.ec2", "ModifyVpcAttribute"): frozenset(
        {
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.ec2", "CreateLaunchTemplateVersion"): frozenset(
        {
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "spot_single_instance_type",
        }
    ),
    ("aws.ec2", "ModifyLaunchTemplate"): frozenset(
        {
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "spot_single_instance_type",
        }
    ),
    ("aws.ec2", "ModifySecurityGroupRules"): frozenset(
        {
            "nodegroup_ssh_open",
            # The interface endpoints' security groups must admit 443 from the nodes.
            "vpc_endpoint_missing",
        }
    ),
    ("aws.autoscaling", "CreateAutoScalingGroup"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "nodes_public_subnet",
            "spot_single_instance_type",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.autoscaling", "UpdateAutoScalingGroup"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "nodes_public_subnet",
            "spot_single_instance_type",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.autoscaling", "DeleteAutoScalingGroup"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "nodes_public_subnet",
            "spot_single_instance_type",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.autoscaling", "CreateOrUpdateTags"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "nodes_public_subnet",
            "spot_single_instance_type",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.autoscaling", "DeleteTags"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "ip_capacity_exhaustion_risk",
            "ip_prefix_delegation_recommended",
            "nodegroup_ssh_open",
            "nodes_public_subnet",
            "spot_single_instance_type",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.network-firewall", "CreateFirewall"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.network-firewall", "DeleteFirewall"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.network-firewall", "AssociateSubnets"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
    ("aws.network-firewall", "DisassociateSubnets"): frozenset(
        {
            "autoscaler_dynamic_instance_list",
            "endpoint_nodes_blocked_by_cidrs",
            "vpc_endpoint_missing",
            "vpc_endpoint_private_dns_disabled",
        }
    ),
}
DELETE_EVENTS = {("aws.eks", "DeleteCluster")}
PINNED_IDS = frozenset(i for ids in ROUTES.values() for i in ids or ())


def pinned(check_ids: frozenset[str] | None) -> frozenset[str] | None:
    """The part of a routed set this table speaks for (None: every check)."""
    return None if check_ids is None else check_ids & PINNED_IDS


def cloudtrail_event(source: str, name: str) -> dict[str, Any]:
    """A CloudTrail record as EventBridge delivers it, naming a cluster, a VPC resource or an issuer."""
    params: dict[str, Any] = {
        "aws.eks": {"name": "prod"},
        "aws.ec2": {"subnetId": "subnet-0123456789abcdef0"},
        "aws.iam": {"url": "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"},
        "aws.autoscaling": {"autoScalingGroupName": "batch-self-managed"},
        "aws.network-firewall": {"firewallName": "egress-inspection"},
    }[source]
    if (source, name) in (("aws.ec2", "CreateTags"), ("aws.ec2", "DeleteTags")):
        # EC2's tag calls list the resources tagged (what the template forwards them for: a subnet).
        params = {"resourcesSet": {"items": [{"resourceId": "subnet-0123456789abcdef0"}]}}
    return {
        "version": "0",
        "id": f"id-{name}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": source,
        "account": ACCOUNT,
        "time": "2025-01-01T00:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "eventSource": source.removeprefix("aws.") + ".amazonaws.com",
            "eventName": name,
            "awsRegion": REGION,
            "requestParameters": params,
            "responseElements": None,
            "recipientAccountId": ACCOUNT,
        },
    }


@pytest.mark.parametrize(("source", "name"), sorted(ROUTES), ids=lambda v: str(v))
def test_each_call_reaudits_exactly_the_pinned_checks(source: str, name: str) -> None:
    [request] = requests_from_event(cloudtrail_event(source, name))
    assert pinned(request.check_ids) == ROUTES[(source, name)]
    assert request.delete_cluster is False


def test_a_call_reaudits_exactly_the_checks_that_declare_it() -> None:
    from eks_auditor.checks.registry import CHECKS

    for source, name in ROUTES:
        [request] = requests_from_event(cloudtrail_event(source, name))
        if request.check_ids is None:
            continue
        declaring = {
            check_id
            for check_id, check in CHECKS.items()
            if any((e.source, e.name) == (source, name) for e in check.spec.events)
        }
        assert request.check_ids == declaring, (source, name)


def test_delete_cluster_resolves_instead_of_auditing() -> None:
    [request] = requests_from_event(cloudtrail_event("aws.eks", "DeleteCluster"))
    assert request == AuditRequest(
        source="id-DeleteCluster",
        event_name="DeleteCluster",
        account=ACCOUNT,
        region=REGION,
        cluster="prod",
        check_ids=None,
        delete_cluster=True,
    )


def test_the_router_knows_exactly_the_pinned_calls() -> None:
    from eks_auditor import triggers

    routed = (
        {("aws.eks", n) for n in triggers.EKS_EVENT_CHECKS}
        | {("aws.eks", n) for n in triggers.EKS_DELETE_EVENTS}
        | {("aws.ec2", n) for n in triggers.EC2_EVENT_CHECKS}
        | {("aws.iam", n) for n in triggers.IAM_EVENT_CHECKS}
        | {("aws.autoscaling", n) for n in triggers.AUTOSCALING_EVENT_CHECKS}
        | {("aws.network-firewall", n) for n in triggers.FIREWALL_EVENT_CHECKS}
    )
    assert routed >= set(ROUTES) | DELETE_EVENTS
    # A call added later may only re-audit checks added later (the pinned ones route as above), except
    # where a later part of a pinned check is what the call changes: listed here with that part.
    later_parts = {
        # Pod Identity associations decide whether vpc_endpoint_missing asks for eks-auth.
        ("aws.eks", name): frozenset({"vpc_endpoint_missing"})
        for name in (
            "CreatePodIdentityAssociation",
            "UpdatePodIdentityAssociation",
            "DeletePodIdentityAssociation",
        )
    }
    for source, name in routed - set(ROUTES) - DELETE_EVENTS:
        if (source, name) in later_parts:
            [request] = requests_from_event(cloudtrail_event(source, name))
            assert pinned(request.check_ids) == later_parts[(source, name)], (source, name)
            continue
        [request] = requests_from_event(cloudtrail_event(source, name))
        assert pinned(request.check_ids) == frozenset(), (source, name)
