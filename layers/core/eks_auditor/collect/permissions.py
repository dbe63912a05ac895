"""The IAM actions each collector calls, by snapshot part (Cloud Custodian style).

The template's least-privilege policy is tested against this table, and a functional test asserts
that a full collection calls exactly these actions: keep it to what the collectors really call.
"""

from __future__ import annotations

from collections.abc import Iterable

from eks_auditor.model.part import Part

REQUIRED_PERMISSIONS: dict[Part, tuple[str, ...]] = {
    Part.CLUSTER: ("eks:ListClusters", "eks:DescribeCluster"),
    Part.NETWORK: (
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeRouteTables",
        "ec2:DescribeNatGateways",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeVpcAttribute",
        # The interface endpoints' security groups (do they admit 443 from the nodes?).
        "ec2:DescribeSecurityGroups",
        # Read only behind a default route to a transit gateway or to a `vpce-` endpoint the VPC does not
        # list (a Network Firewall endpoint): following egress one hop.
        "ec2:DescribeTransitGatewayAttachments",
        "ec2:SearchTransitGatewayRoutes",
        "ec2:DescribeTransitGatewayVpcAttachments",
        "network-firewall:ListFirewalls",
        "network-firewall:DescribeFirewall",
    ),
    Part.NODEGROUPS: (
        "eks:ListNodegroups",
        "eks:DescribeNodegroup",
        "autoscaling:DescribeAutoScalingGroups",
        # Only for node groups whose instance types live in a launch template / launch configuration.
        "ec2:DescribeLaunchTemplateVersions",
        "autoscaling:DescribeLaunchConfigurations",
    ),
    Part.INSTANCE_TYPES: ("ec2:DescribeInstanceTypes",),
    Part.NODE_SECURITY_GROUPS: ("ec2:DescribeSecurityGroups",),
    Part.IAM_OIDC_PROVIDERS: ("iam:ListOpenIDConnectProviders",),
    Part.VERSION_SUPPORT: ("eks:DescribeClusterVersions",),
    # Kubernetes reads call no AWS API: the endpoint and CA come from DescribeCluster ("cluster"), the
    # bearer token is a locally presigned sts:GetCallerIdentity (STS requires no permission for it), and
    # what the auditor may read is decided inside the cluster by its access entry / aws-auth mapping.
    # eks:AccessKubernetesApi is only for the EKS console's resource view, not for direct API calls.
    Part.KUBERNETES: (),
    Part.ACCESS_ENTRIES: (
        "eks:ListAccessEntries",
        "eks:DescribeAccessEntry",
        "eks:ListAssociatedAccessPolicies",
    ),
    # The add-on names are enough (eks-pod-identity-agent, amazon-cloudwatch-observability): no DescribeAddon.
    Part.ADDONS: ("eks:ListAddons",),
    Part.POD_IDENTITY: ("eks:ListPodIdentityAssociations",),
    # Not a snapshot part: the spot event handler's one DescribeInstances per batch (eks_auditor.spot).
    Part.SPOT_INSTANCES: ("ec2:DescribeInstances",),
    # The auditor's own pipeline (eks_auditor.collect.pipeline), per account-region.
    Part.TRAILS: ("cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"),
    # ListRules only where the rule names are not configured (the CLI finds them by the stack's prefix).
    # ListRuleNamesByTarget: a member account's forwarding rules, found by their target (the central bus).
    Part.RULES: (
        "events:DescribeRule",
        "events:ListTargetsByRule",
        "events:ListRules",
        "events:ListRuleNamesByTarget",
    ),
    Part.QUEUES: ("sqs:GetQueueAttributes", "cloudwatch:GetMetricData"),
    # The heartbeat lives in the findings table, which the audit functions already read and write.
    # LookupEvents: optional evidence for pipeline_silent (what CloudTrail recorded of the missed changes).
    Part.HEARTBEAT: ("cloudtrail:LookupEvents",),
}


_PARTS = frozenset(Part)


def action_for(operation: str, part: str | None = None) -> str:
    """The IAM action ("service:Operation") for an API operation name, preferring the part's own list."""
    groups = [REQUIRED_PERMISSIONS[Part(part)]] if part in _PARTS else []
    groups.extend(REQUIRED_PERMISSIONS.values())
    for actions in groups:
        for action in actions:
            if action.endswith(f":{operation}"):
                return action
    return operation


def all_actions() -> frozenset[str]:
    return frozenset(action for actions in REQUIRED_PERMISSIONS.values() for action in actions)


def permissions_for(parts: Iterable[Part]) -> tuple[str, ...]:
    """The actions collecting `parts` calls, each once, in table order."""
    return tuple(dict.fromkeys(action for part in parts for action in REQUIRED_PERMISSIONS[part]))
