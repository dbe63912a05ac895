"""The events (mostly API calls recorded by CloudTrail) that checks declare as able to change their verdict.

Named groups, so that two checks that react to the same change say so with the same name. The event
router (eks_auditor.triggers) and the template's EventBridge rules follow from what checks declare.
"""

from __future__ import annotations

from collections.abc import Mapping

from eks_auditor.model.check import Event
from eks_auditor.model.part import Part


def eks(*names: str) -> tuple[Event, ...]:
    return tuple(Event("aws.eks", name) for name in names)


def ec2(*names: str) -> tuple[Event, ...]:
    return tuple(Event("aws.ec2", name) for name in names)


def iam(*names: str) -> tuple[Event, ...]:
    return tuple(Event("aws.iam", name) for name in names)


def autoscaling(*names: str) -> tuple[Event, ...]:
    return tuple(Event("aws.autoscaling", name) for name in names)


def network_firewall(*names: str) -> tuple[Event, ...]:
    return tuple(Event("aws.network-firewall", name) for name in names)


CLUSTER_CONFIG = eks("UpdateClusterConfig")
CLUSTER_VERSION = eks("UpdateClusterVersion")
ENCRYPTION_CONFIG = eks("AssociateEncryptionConfig")
NODEGROUPS_ADDED_OR_REMOVED = eks("CreateNodegroup", "DeleteNodegroup")
NODEGROUP_CONFIG = eks("UpdateNodegroupConfig")
# A managed group's AMI or launch template version (its instance types and security groups may live there).
NODEGROUP_VERSION = eks("UpdateNodegroupVersion")
# Self-managed node groups are the Auto Scaling groups tagged kubernetes.io/cluster/<name>: their subnets
# (VPCZoneIdentifier), sizes, launch template or configuration, mixed-instances types and the tags that
# make them a cluster's. AttachInstances/SetDesiredCapacity change none of what the checks read.
SELF_MANAGED_GROUPS = autoscaling(
    "CreateAutoScalingGroup",
    "UpdateAutoScalingGroup",
    "DeleteAutoScalingGroup",
    "CreateOrUpdateTags",
    "DeleteTags",
)
# Node groups of both kinds: managed ones added, removed, resized or upgraded, and self-managed ones.
NODE_GROUPS = NODEGROUPS_ADDED_OR_REMOVED + NODEGROUP_CONFIG + NODEGROUP_VERSION + SELF_MANAGED_GROUPS
# A group that names $Latest or $Default follows a new version or a new default (a managed node group
# pins a version number: UpdateNodegroupVersion changes it).
LAUNCH_TEMPLATES = ec2("CreateLaunchTemplateVersion", "ModifyLaunchTemplate")
# The VPC CNI add-on's configuration is the aws-node DaemonSet's env.
ADDONS = eks("CreateAddon", "UpdateAddon", "DeleteAddon")
# EKS Pod Identity: associations decide whether pods need the eks-auth endpoint.
POD_IDENTITY = eks(
    "CreatePodIdentityAssociation", "UpdatePodIdentityAssociation", "DeletePodIdentityAssociation"
)
ACCESS = eks(
    "CreateAccessEntry",
    "UpdateAccessEntry",
    "DeleteAccessEntry",
    "AssociateAccessPolicy",
    "DisassociateAccessPolicy",
    "AssociateIdentityProviderConfig",
    "DisassociateIdentityProviderConfig",
)

VPC_ENDPOINTS = ec2("CreateVpcEndpoint", "DeleteVpcEndpoints", "ModifyVpcEndpoint")
# Anything that changes where a subnet's default route leads.
ROUTES = ec2(
    "CreateRoute",
    "DeleteRoute",
    "ReplaceRoute",
    "CreateRouteTable",
    "DeleteRouteTable",
    "AssociateRouteTable",
    "DisassociateRouteTable",
    "ReplaceRouteTableAssociation",
    "CreateNatGateway",
    "DeleteNatGateway",
)
SUBNET_CREATED = ec2("CreateSubnet")
SUBNET_DELETED = ec2("DeleteSubnet")
# How node subnets reach the outside world: their routes, and the subnets themselves going away.
NODE_EGRESS = ROUTES + SUBNET_DELETED
NAT_ADDRESSES = ec2("AssociateAddress", "DisassociateAddress")
# A public NAT gateway's secondary addresses: node traffic to a public endpoint may leave from any of them.
NAT_GATEWAY_ADDRESSES = ec2("AssociateNatGatewayAddress", "DisassociateNatGatewayAddress")
SECURITY_GROUP_RULES = ec2(
    "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "ModifySecurityGroupRules"
)
SUBNET_CIDRS = ec2("AssociateSubnetCidrBlock")
SUBNET_ATTRIBUTES = ec2("ModifySubnetAttribute")
# A subnet's tags: `kubernetes.io/role/cni` puts it in the VPC CNI's subnet-discovery pod IP pool, and its
# value ("0" or empty) or a `kubernetes.io/cluster/<other>` tag takes it out (capacity.forecast.discovered).
# The template forwards the calls only when a resource tagged is a subnet; the router scopes them to the
# subnets' VPCs. EC2's own tag calls, not Auto Scaling's (SELF_MANAGED_GROUPS) under the same name.
SUBNET_TAGS = ec2("CreateTags", "DeleteTags")
# enableDnsSupport / enableDnsHostnames: interface endpoints' private DNS names resolve only with both on.
VPC_DNS = ec2("ModifyVpcAttribute")
# What lies behind a default route that leaves the VPC (DESIGN §2: followed one hop). A transit gateway:
# the VPC attachment, the route table associated with it and that table's routes (static or propagated).
TRANSIT_GATEWAYS = ec2(
    "CreateTransitGatewayVpcAttachment",
    "AcceptTransitGatewayVpcAttachment",
    "ModifyTransitGatewayVpcAttachment",
    "DeleteTransitGatewayVpcAttachment",
    "AssociateTransitGatewayRouteTable",
    "DisassociateTransitGatewayRouteTable",
    "EnableTransitGatewayRouteTablePropagation",
    "DisableTransitGatewayRouteTablePropagation",
    "CreateTransitGatewayRoute",
    "DeleteTransitGatewayRoute",
    "ReplaceTransitGatewayRoute",
)
# A peering connection is never egress, but a route to one is live only while the connection is active.
PEERING = ec2("AcceptVpcPeeringConnection", "DeleteVpcPeeringConnection")
# Network Firewall endpoints (`vpce-` route targets) appear and disappear with the firewall's subnets.
FIREWALLS = network_firewall("CreateFirewall", "DeleteFirewall", "AssociateSubnets", "DisassociateSubnets")
EGRESS_PATHS = TRANSIT_GATEWAYS + PEERING + FIREWALLS

OIDC_PROVIDERS = iam("CreateOpenIDConnectProvider", "DeleteOpenIDConnectProvider")

# Not API calls: the EC2 notices the spot pipeline reacts to (their detail-types, source aws.ec2).
SPOT_INTERRUPTION_WARNING = Event("aws.ec2", detail_type="EC2 Spot Instance Interruption Warning")
SPOT_REBALANCE_RECOMMENDATION = Event("aws.ec2", detail_type="EC2 Instance Rebalance Recommendation")

# Reasons for `schedule_only` that several checks share.
IP_USE_CHANGES_CONSTANTLY = (
    "free addresses (AvailableIpAddressCount) change with every instance and ENI launched or released: "
    "far too many calls to route; the schedule recounts them"
)
INSTANCE_TYPES_NEVER_CHANGE = (
    "an instance type's ENI and IP limits never change; the types a group uses change with its node group "
    "events"
)
IP_FAMILY_FIXED = "the cluster's IP family is fixed when it is created (CreateCluster runs every check)"

# Which part of the snapshot each event changes. The catalog walk (tests/template/test_catalog_rules.py)
# asks every part a check reads for one of the check's events from this table, or for the check's
# `schedule_only` reason. A part absent here is changed by no routed event.
PART_CHANGES: Mapping[Part, tuple[Event, ...]] = {
    Part.CLUSTER: CLUSTER_CONFIG + CLUSTER_VERSION + ENCRYPTION_CONFIG,
    Part.NETWORK: (
        VPC_ENDPOINTS
        + ROUTES
        + SUBNET_CREATED
        + SUBNET_DELETED
        + SUBNET_CIDRS
        + SUBNET_ATTRIBUTES
        + SUBNET_TAGS
        + NAT_ADDRESSES
        + NAT_GATEWAY_ADDRESSES
        + VPC_DNS
        + EGRESS_PATHS
        # The interface endpoints' security groups (do they admit 443 from the nodes?).
        + SECURITY_GROUP_RULES
    ),
    Part.NODEGROUPS: NODE_GROUPS + LAUNCH_TEMPLATES,
    Part.NODE_SECURITY_GROUPS: SECURITY_GROUP_RULES,
    Part.IAM_OIDC_PROVIDERS: OIDC_PROVIDERS,
    Part.ACCESS_ENTRIES: ACCESS,
    # Add-ons write Kubernetes objects (the vpc-cni add-on's configuration is aws-node's env).
    Part.KUBERNETES: ADDONS,
    Part.ADDONS: ADDONS,
    Part.POD_IDENTITY: POD_IDENTITY,
    Part.SPOT_INSTANCES: (SPOT_INTERRUPTION_WARNING, SPOT_REBALANCE_RECOMMENDATION),
}
