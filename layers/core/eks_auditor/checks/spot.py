"""Spot node groups that invite interruptions: one instance type means one spot capacity pool per AZ."""

from __future__ import annotations

from eks_auditor.model.check import (
    Check,
    CheckSpec,
    Outcome,
    Severity,
    could_not_evaluate,
    fail,
    not_applicable,
    passed,
)
from eks_auditor.model.snapshot import ClusterSnapshot, NodeGroup

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
        "https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html#managed-node-group-capacity-types",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-best-practices.html",
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/allocation-strategies.html",
    ),
    requires=("nodegroups",),
)


def _resource(snapshot: ClusterSnapshot, group: NodeGroup) -> str:
    return group.arn or f"{snapshot.arn}/nodegroup/{group.name}"


def check_spot_single_instance_type(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = SPOT_SINGLE_INSTANCE_TYPE
    if snapshot.nodegroups is None:
        return [
            could_not_evaluate(
                spec, snapshot.arn, snapshot.gaps.get("nodegroups", "node groups not collected")
            )
        ]
    if not snapshot.nodegroups:
        return [not_applicable(spec, snapshot.arn, "the cluster has no node groups")]
    outcomes: list[Outcome] = []
    for group in snapshot.nodegroups:
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


CHECKS: tuple[Check, ...] = (Check(spec=SPOT_SINGLE_INSTANCE_TYPE, run=check_spot_single_instance_type),)
