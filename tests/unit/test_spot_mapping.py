"""Instance tags -> EKS cluster and node group (managed, self-managed, Karpenter), without AWS."""

from __future__ import annotations

import pytest
from eks_auditor.spot.mapping import EksNode, InstanceFacts, NodeGroupKind, identify_node


def facts(tags: dict[str, str]) -> InstanceFacts:
    return InstanceFacts(
        instance_id="i-0b662ef9931388ba0",
        instance_type="m5.large",
        availability_zone="us-east-1b",
        lifecycle="spot",
        state="running",
        tags=tags,
    )


MANAGED_TAGS = {
    "eks:cluster-name": "prod",
    "eks:nodegroup-name": "ng-spot",
    "kubernetes.io/cluster/prod": "owned",
    "aws:autoscaling:groupName": "eks-ng-spot-7ec5a1b2-0b7e-2f3a-9e6c-1f0c8e0d2a11",
    "k8s.io/cluster-autoscaler/enabled": "true",
}
# What Karpenter v1 puts on every instance it launches (cloudprovider getTags).
KARPENTER_TAGS = {
    "kubernetes.io/cluster/prod": "owned",
    "karpenter.sh/nodepool": "default",
    "eks:eks-cluster-name": "prod",
    "karpenter.k8s.aws/ec2nodeclass": "default",
    "karpenter.sh/nodeclaim": "default-x7k2p",
}
SELF_MANAGED_TAGS = {
    "kubernetes.io/cluster/prod": "owned",
    "aws:autoscaling:groupName": "prod-spot-workers",
    "Name": "prod-spot-workers",
}


@pytest.mark.parametrize(
    ("tags", "cluster", "group", "kind", "asg"),
    [
        (
            MANAGED_TAGS,
            "prod",
            "ng-spot",
            NodeGroupKind.MANAGED,
            "eks-ng-spot-7ec5a1b2-0b7e-2f3a-9e6c-1f0c8e0d2a11",
        ),
        (KARPENTER_TAGS, "prod", "default", NodeGroupKind.KARPENTER, None),
        (
            {"kubernetes.io/cluster/prod": "owned", "karpenter.sh/provisioner-name": "spot"},
            "prod",
            "spot",
            NodeGroupKind.KARPENTER,
            None,
        ),
        (SELF_MANAGED_TAGS, "prod", "prod-spot-workers", NodeGroupKind.SELF_MANAGED, "prod-spot-workers"),
        ({"kubernetes.io/cluster/prod": "shared"}, "prod", None, NodeGroupKind.SELF_MANAGED, None),
        (
            {"kubernetes.io/cluster/other": "shared", "kubernetes.io/cluster/prod": "owned"},
            "prod",
            None,
            NodeGroupKind.SELF_MANAGED,
            None,
        ),
    ],
)
def test_tags_name_cluster_and_node_group(
    tags: dict[str, str], cluster: str, group: str | None, kind: NodeGroupKind, asg: str | None
) -> None:
    instance = facts(tags)
    assert identify_node(instance) == EksNode(
        instance=instance, cluster=cluster, node_group=group, node_group_kind=kind, asg_name=asg
    )


@pytest.mark.parametrize(
    "tags",
    [
        {},
        {"Name": "bastion"},
        {"aws:autoscaling:groupName": "web-asg"},  # an ASG, but not one that joins a cluster
        {"kubernetes.io/cluster/": "owned"},
    ],
)
def test_instances_without_a_cluster_tag_are_not_eks_nodes(tags: dict[str, str]) -> None:
    assert identify_node(facts(tags)) is None
