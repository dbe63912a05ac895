"""The events (mostly API calls recorded by CloudTrail) that checks declare as able to change their verdict.

Named groups, so that two checks that react to the same change say so with the same name. The event
router (eks_auditor.triggers) and the template's EventBridge rules follow from what checks declare.
"""

from __future__ import annotations

from eks_auditor.model.check import Event


def eks(*names: str) -> tuple[Event, ...]:
    return tuple(Event("aws.eks", name) for name in names)


def ec2(*names: str) -> tuple[Event, ...]:
    return tuple(Event("aws.ec2", name) for name in names)


def iam(*names: str) -> tuple[Event, ...]:
    return tuple(Event("aws.iam", name) for name in names)


CLUSTER_CONFIG = eks("UpdateClusterConfig")
CLUSTER_VERSION = eks("UpdateClusterVersion")
NODEGROUPS_ADDED_OR_REMOVED = eks("CreateNodegroup", "DeleteNodegroup")
NODEGROUP_CONFIG = eks("UpdateNodegroupConfig")
NODEGROUP_VERSION = eks("UpdateNodegroupVersion")
# The VPC CNI add-on's configuration is the aws-node DaemonSet's env.
ADDONS = eks("CreateAddon", "UpdateAddon", "DeleteAddon")
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
SECURITY_GROUP_RULES = ec2("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress")
SUBNET_CIDRS = ec2("AssociateSubnetCidrBlock")
SUBNET_ATTRIBUTES = ec2("ModifySubnetAttribute")

OIDC_PROVIDERS = iam("CreateOpenIDConnectProvider", "DeleteOpenIDConnectProvider")

# Not API calls: the EC2 notices the spot pipeline reacts to (their detail-types, source aws.ec2).
SPOT_INTERRUPTION_WARNING = Event("aws.ec2", detail_type="EC2 Spot Instance Interruption Warning")
SPOT_REBALANCE_RECOMMENDATION = Event("aws.ec2", detail_type="EC2 Instance Rebalance Recommendation")
