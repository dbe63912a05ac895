"""Which EKS cluster and node group an EC2 instance belongs to, read from its tags.

One DescribeInstances call per batch: the ids go in an `instance-id` filter rather than
`InstanceIds`, because with `InstanceIds` a single instance that is already gone fails the whole
call with InvalidInstanceID.NotFound; with the filter it is simply absent from the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import Field

from eks_auditor.model.frozen import FrozenModel

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client

# Tags EKS puts on managed node group instances.
TAG_CLUSTER = "eks:cluster-name"
TAG_NODEGROUP = "eks:nodegroup-name"
# Karpenter (v1) tags every instance it launches with these, plus kubernetes.io/cluster/<name>=owned.
TAG_KARPENTER_CLUSTER = "eks:eks-cluster-name"
TAG_KARPENTER_NODEPOOL = "karpenter.sh/nodepool"
# Karpenter before v0.32 (v1alpha5 Provisioners).
TAG_KARPENTER_PROVISIONER = "karpenter.sh/provisioner-name"
# Self-managed nodes (eksctl, Terraform, CloudFormation templates) carry this with "owned" or "shared".
TAG_CLUSTER_PREFIX = "kubernetes.io/cluster/"
TAG_ASG = "aws:autoscaling:groupName"

# Filter values per DescribeInstances call; well under the API's limits, and a batch is 10 in practice.
MAX_IDS_PER_CALL = 100


class NodeGroupKind(StrEnum):
    MANAGED = "managed"
    SELF_MANAGED = "self-managed"
    KARPENTER = "karpenter"


class InstanceFacts(FrozenModel):
    """DescribeInstances, reduced to what the spot findings need."""

    instance_id: str
    instance_type: str | None = None
    availability_zone: str | None = None
    lifecycle: str = "on-demand"  # DescribeInstances omits InstanceLifecycle for on-demand instances
    state: str | None = None
    tags: Mapping[str, str] = Field(default_factory=dict)


class EksNode(FrozenModel):
    """An instance that is an EKS node, with the cluster and node group its tags name."""

    instance: InstanceFacts
    cluster: str
    node_group: str | None  # managed node group, Karpenter NodePool or ASG name; None if no tag says
    node_group_kind: NodeGroupKind
    asg_name: str | None = None


class InstanceLookup(FrozenModel):
    """The batch's instances split into EKS nodes, other instances, and instances EC2 no longer knows."""

    nodes: Mapping[str, EksNode] = Field(default_factory=dict)
    not_eks: Mapping[str, InstanceFacts] = Field(default_factory=dict)
    missing: frozenset[str] = frozenset()
    describe_calls: int = 0


def look_up_instances(ec2_client: EC2Client, instance_ids: Iterable[str]) -> InstanceLookup:
    """Describe the instances (one call per 100 ids) and map each to its cluster and node group."""
    wanted = list(dict.fromkeys(instance_ids))
    facts, calls = describe_instances(ec2_client, wanted)
    nodes: dict[str, EksNode] = {}
    not_eks: dict[str, InstanceFacts] = {}
    for instance_id, instance in facts.items():
        node = identify_node(instance)
        if node is None:
            not_eks[instance_id] = instance
        else:
            nodes[instance_id] = node
    missing = frozenset(i for i in wanted if i not in facts)
    return InstanceLookup(nodes=nodes, not_eks=not_eks, missing=missing, describe_calls=calls)


def describe_instances(
    ec2_client: EC2Client, instance_ids: Sequence[str]
) -> tuple[dict[str, InstanceFacts], int]:
    """Instance id -> facts for the ids EC2 still knows, and the number of calls made."""
    found: dict[str, InstanceFacts] = {}
    calls = 0
    for start in range(0, len(instance_ids), MAX_IDS_PER_CALL):
        chunk = list(instance_ids[start : start + MAX_IDS_PER_CALL])
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "Filters": [{"Name": "instance-id", "Values": chunk}],
                "MaxResults": 1000,
            }
            if token:
                kwargs["NextToken"] = token
            response = ec2_client.describe_instances(**kwargs)
            calls += 1
            for reservation in response.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    facts = _facts(instance)
                    found[facts.instance_id] = facts
            token = response.get("NextToken")
            if not token:
                break
    return found, calls


def _facts(instance: Mapping[str, Any]) -> InstanceFacts:
    placement = instance.get("Placement") or {}
    state = instance.get("State") or {}
    return InstanceFacts(
        instance_id=instance["InstanceId"],
        instance_type=instance.get("InstanceType"),
        availability_zone=placement.get("AvailabilityZone"),
        lifecycle=instance.get("InstanceLifecycle") or "on-demand",
        state=state.get("Name"),
        tags={t["Key"]: t.get("Value", "") for t in instance.get("Tags", []) if "Key" in t},
    )


def identify_node(instance: InstanceFacts) -> EksNode | None:
    """The cluster and node group from the instance's tags; None when no tag names an EKS cluster."""
    tags = instance.tags
    cluster = tags.get(TAG_CLUSTER) or tags.get(TAG_KARPENTER_CLUSTER) or _cluster_from_ownership_tags(tags)
    if not cluster:
        return None
    asg = tags.get(TAG_ASG) or None
    nodepool = tags.get(TAG_KARPENTER_NODEPOOL) or tags.get(TAG_KARPENTER_PROVISIONER)
    group: str | None
    if tags.get(TAG_NODEGROUP):
        group, kind = tags[TAG_NODEGROUP], NodeGroupKind.MANAGED
    elif nodepool:
        group, kind = nodepool, NodeGroupKind.KARPENTER
    else:
        group, kind = asg, NodeGroupKind.SELF_MANAGED
    return EksNode(instance=instance, cluster=cluster, node_group=group, node_group_kind=kind, asg_name=asg)


def _cluster_from_ownership_tags(tags: Mapping[str, str]) -> str | None:
    names = sorted(
        (value != "owned", key.removeprefix(TAG_CLUSTER_PREFIX))
        for key, value in tags.items()
        if key.startswith(TAG_CLUSTER_PREFIX) and key != TAG_CLUSTER_PREFIX
    )
    # An instance "owned" by one cluster and "shared" with others belongs to the owner.
    return names[0][1] if names else None
