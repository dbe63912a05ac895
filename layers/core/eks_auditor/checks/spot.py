"""Spot checks: node groups that invite interruptions (one instance type means one spot capacity pool per
AZ), and the interruption notices and bursts that eks_auditor.spot raises from EventBridge events.
"""

from __future__ import annotations

from eks_auditor.checks.base import *
from eks_auditor.model.snapshot import NodeGroup

_CAPACITY_TYPES_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html#managed-node-group-capacity-types"
_NOTICE_EVENTS = (events.SPOT_INTERRUPTION_WARNING, events.SPOT_REBALANCE_RECOMMENDATION)

SPOT_INTERRUPTION_NOTICE = CheckSpec(
    id="spot_interruption_notice",
    title="Spot node received an interruption warning or rebalance recommendation",
    severity=Severity.MEDIUM,
    description=(
        "EC2 is reclaiming this spot instance (interruption warning: two minutes before the action) or "
        "warns that it is at elevated risk of interruption (rebalance recommendation). Pods on the node "
        "must be drained before the deadline."
    ),
    remediation=(
        "Make sure the node is cordoned and drained before the deadline (aws-node-termination-handler, "
        "Karpenter interruption handling, or managed node group capacity rebalancing), that workloads "
        "have PodDisruptionBudgets and more than one replica, and that the node group can launch a "
        "replacement from other instance types or Availability Zones."
    ),
    references=(
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/rebalance-recommendations.html",
        _CAPACITY_TYPES_DOC,
    ),
    kind=CheckKind.EVENT,
    requires=(Part.SPOT_INSTANCES,),
    events=_NOTICE_EVENTS,
)

SPOT_INTERRUPTION_BURST = CheckSpec(
    id="spot_interruption_burst",
    title="Burst of spot interruptions in one node group",
    severity=Severity.HIGH,
    description=(
        "Several instances of one node group received spot interruption warnings within a short window. "
        "The group draws from spot capacity pools that EC2 is reclaiming; it may not be able to replace "
        "the nodes and pods may stay pending."
    ),
    remediation=(
        "Diversify the node group: add more instance types of similar size (same vCPU and memory), allow "
        "more Availability Zones, and use the price-capacity-optimized (or capacity-optimized) allocation "
        "strategy so EC2 launches from the deepest spot pools. Consider an on-demand base capacity for "
        "workloads that cannot tolerate the loss."
    ),
    references=(
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-best-practices.html",
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/allocation-strategies.html",
        _CAPACITY_TYPES_DOC,
    ),
    kind=CheckKind.EVENT,
    requires=(Part.SPOT_INSTANCES,),
    events=(events.SPOT_INTERRUPTION_WARNING,),
)

SPOT_SINGLE_INSTANCE_TYPE = CheckSpec(
    id="spot_single_instance_type",
    title="Spot node group relies on a single instance type",
    severity=Severity.MEDIUM,
    description=(
        "A spot node group with one instance type draws from one spot capacity pool per Availability Zone. "
        "When EC2 reclaims that pool, every node of the group can be interrupted within minutes and the "
        "group cannot replace them with another type."
    ),
    remediation=(
        "Give the node group several instance types of similar size (same vCPU and memory, e.g. "
        "m5.large, m5a.large, m6i.large, m5d.large), spread it over more Availability Zones, and use the "
        "price-capacity-optimized (or capacity-optimized) allocation strategy for self-managed groups."
    ),
    references=(
        _CAPACITY_TYPES_DOC,
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-best-practices.html",
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/allocation-strategies.html",
    ),
    requires=(Part.NODEGROUPS,),
    events=events.NODE_GROUPS + events.LAUNCH_TEMPLATES,
)


def _resource(snapshot: ClusterSnapshot, group: NodeGroup) -> str:
    return group.arn or f"{snapshot.arn}/nodegroup/{group.name}"


def check_spot_single_instance_type(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = SPOT_SINGLE_INSTANCE_TYPE
    groups = collected(snapshot.nodegroups, Part.NODEGROUPS)
    if not groups:
        return [not_applicable(spec, snapshot.arn, "the cluster has no node groups")]
    outcomes: list[Outcome] = []
    for group in groups:
        resource = _resource(snapshot, group)
        if group.capacity_type.upper() != "SPOT":
            outcomes.append(not_applicable(spec, resource, f"capacity type {group.capacity_type}, not SPOT"))
            continue
        types = tuple(dict.fromkeys(group.instance_types))
        evidence = {
            "nodegroup": group.name,
            "kind": group.kind,
            "capacity_type": group.capacity_type,
            "instance_types": list(types),
        }
        if not types:
            # A managed group whose launch template names the type reports no instanceTypes.
            outcomes.append(
                could_not_evaluate(
                    spec, resource, f"instance types of spot node group {group.name} are unknown"
                )
            )
        elif len(types) == 1:
            outcomes.append(
                fail(
                    spec,
                    resource,
                    evidence=evidence,
                    title=f"Spot node group {group.name} relies on one instance type ({types[0]})",
                )
            )
        else:
            outcomes.append(passed(spec, resource, evidence=evidence))
    return outcomes


CHECKS: tuple[Check, ...] = (
    Check(spec=SPOT_INTERRUPTION_NOTICE),
    Check(spec=SPOT_INTERRUPTION_BURST),
    Check(spec=SPOT_SINGLE_INSTANCE_TYPE, run=check_spot_single_instance_type),
)
