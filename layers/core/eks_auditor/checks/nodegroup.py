"""Node group exposure: SSH open to the world, nodes in public subnets. One outcome per node group.

Resource id: the node group's ARN when the collector has it, else `<cluster_arn>/nodegroup/<name>`
(`nodegroup_resource`). A cluster without node groups (Fargate only) gets one NOT_APPLICABLE on the
cluster ARN.

A subnet is public for `nodes_public_subnet` when it auto-assigns public IPv4 addresses
(`map_public_ip_on_launch`) or its effective route table (explicit association, else the main table)
has an active 0.0.0.0/0 route to an internet gateway. A subnet missing from the snapshot can still be
judged by its (main) route table; if nothing marks it public, the outcome is ERROR, not PASS.
"""

from __future__ import annotations

from typing import Any

from eks_auditor.checks.base import *
from eks_auditor.model.network import VpcNetwork
from eks_auditor.model.snapshot import NodeGroup

_MANAGED_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/create-managed-node-group.html"
_REMOTE_ACCESS_API = "https://docs.aws.amazon.com/eks/latest/APIReference/API_RemoteAccessConfig.html"

SSH_OPEN = CheckSpec(
    id="nodegroup_ssh_open",
    title="Node group SSH (or RDP) is open to the internet",
    severity=Severity.HIGH,
    description=(
        "The managed node group has remote access with an EC2 key pair and no source security groups: "
        "EKS then opens port 22 (3389 for Windows) on the nodes to 0.0.0.0/0. For a self-managed node "
        "group: one of its launch template's security groups allows port 22 (or all traffic) from "
        "0.0.0.0/0 or ::/0. Any node group: a security group on its nodes (its launch template's, or the "
        "cluster security group EKS adds when the template names none) allows port 22 from the internet."
    ),
    remediation=(
        "Remote access cannot be changed on an existing managed node group. Create a replacement: aws eks "
        "create-nodegroup --cluster-name <cluster> --nodegroup-name <new> --remote-access "
        "ec2SshKey=<key>,sourceSecurityGroups=<bastion-sg> (or no --remote-access and use SSM Session "
        "Manager), move the workloads, then aws eks delete-nodegroup --nodegroup-name <old>. Until then, "
        "narrow the port-22 rule of the node group's remote-access security group in the EC2 console."
    ),
    references=(
        _REMOTE_ACCESS_API,
        _MANAGED_DOC,
        "https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html",
    ),
    requires=(Part.NODEGROUPS,),
    reads=(Part.NODE_SECURITY_GROUPS,),
    # A self-managed group's security groups live in its launch template.
    events=events.NODE_GROUPS + events.LAUNCH_TEMPLATES + events.SECURITY_GROUP_RULES,
)

PUBLIC_SUBNET = CheckSpec(
    id="nodes_public_subnet",
    title="Nodes run in public subnets",
    severity=Severity.MEDIUM,
    description=(
        "Some of the node group's subnets auto-assign public IPv4 addresses or route 0.0.0.0/0 to an "
        "internet gateway: nodes there are directly reachable from, or directly exposed to, the internet, "
        "guarded only by security groups."
    ),
    remediation=(
        "Run nodes in private subnets that egress through a NAT gateway: create a node group with "
        "--subnets <private subnets> (aws eks create-nodegroup), drain and delete the old one; at least turn "
        "off auto-assigned public IPs: aws ec2 modify-subnet-attribute --subnet-id <subnet> "
        "--no-map-public-ip-on-launch."
    ),
    references=(
        "https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html",
        "https://docs.aws.amazon.com/eks/latest/best-practices/subnets.html",
    ),
    requires=(Part.NODEGROUPS, Part.NETWORK),
    events=(events.NODE_GROUPS + events.NODE_EGRESS + events.SUBNET_CREATED + events.SUBNET_ATTRIBUTES),
)


def nodegroup_resource(snapshot: ClusterSnapshot, group: NodeGroup) -> str:
    """The resource id of a node group in findings (shared by every per-node-group check)."""
    return group.arn or f"{snapshot.arn}/nodegroup/{group.name}"


def _no_groups(spec: CheckSpec, snapshot: ClusterSnapshot) -> list[Outcome]:
    return [not_applicable(spec, snapshot.arn, "the cluster has no node groups")]


def check_ssh_open(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = SSH_OPEN
    groups = collected(snapshot.nodegroups, Part.NODEGROUPS)
    if not groups:
        return _no_groups(spec, snapshot)
    cluster_sg = snapshot.cluster.cluster_security_group_id if snapshot.cluster else None
    outcomes: list[Outcome] = []
    for group in groups:
        resource = nodegroup_resource(snapshot, group)
        if group.kind != "managed":
            outcomes.append(_security_group_ssh(snapshot, group, resource, group.security_group_ids))
            continue
        evidence: dict[str, Any] = {
            "nodegroup": group.name,
            "ec2_ssh_key": group.ssh_key,
            "source_security_groups": list(group.ssh_source_security_groups),
        }
        if group.ssh_key and not group.ssh_source_security_groups:
            port = 3389 if (group.ami_type or "").upper().startswith("WINDOWS") else 22
            outcomes.append(fail(spec, resource, evidence={**evidence, "port": port, "open_to": "0.0.0.0/0"}))
            continue
        # EKS puts the cluster security group on a managed group's nodes unless its launch template
        # names security groups of its own (EKS user guide, "Customize managed nodes with launch
        # templates").
        node_groups = group.security_group_ids or ((cluster_sg,) if cluster_sg else ())
        if not node_groups:
            outcomes.append(passed(spec, resource, evidence=evidence))
            continue
        outcome = _security_group_ssh(snapshot, group, resource, node_groups)
        if outcome.result == Result.PASS:
            outcome = passed(spec, resource, evidence={**evidence, **(outcome.evidence or {})})
        outcomes.append(outcome)
    return outcomes


_WORLD = ("0.0.0.0/0", "::/0")


def _security_group_ssh(
    snapshot: ClusterSnapshot, group: NodeGroup, resource: str, security_groups: tuple[str, ...]
) -> Outcome:
    """Port 22 open to the world in any of the security groups on the group's nodes."""
    spec = SSH_OPEN
    if not security_groups:
        return not_applicable(spec, resource, "no security groups known for this self-managed group")
    groups = snapshot.node_security_groups
    if groups is None:
        reason = snapshot.gaps.get(Part.NODE_SECURITY_GROUPS, "not collected")
        return could_not_evaluate(spec, resource, f"node security groups: {reason}")
    missing = [sg for sg in security_groups if sg not in groups]
    open_rules = [
        {"security_group_id": sg, "protocol": rule.protocol, "from_port": rule.from_port,
         "to_port": rule.to_port, "open_to": [c for c in rule.cidrs if c in _WORLD]}
        for sg in security_groups if sg in groups
        for rule in groups[sg].ingress
        if rule.allows_port(22) and any(c in _WORLD for c in rule.cidrs)
    ]  # fmt: skip
    evidence: dict[str, Any] = {"nodegroup": group.name, "security_groups": list(security_groups)}
    if open_rules:
        return fail(
            spec,
            resource,
            evidence={**evidence, "port": 22, "open_rules": open_rules},
            description="A security group on this node group's nodes allows SSH from the internet.",
            remediation=(
                "Remove the rule: aws ec2 revoke-security-group-ingress --group-id <sg> --protocol tcp "
                "--port 22 --cidr 0.0.0.0/0 (and ::/0), and reach nodes through SSM Session Manager or "
                "a bastion's security group instead."
            ),
        )
    if missing:
        return could_not_evaluate(spec, resource, f"security groups not described: {', '.join(missing)}")
    return passed(spec, resource, evidence=evidence)


def _why_public(network: VpcNetwork, subnet_id: str) -> dict[str, Any] | None:
    reasons: dict[str, Any] = {}
    subnet = network.subnets.get(subnet_id)
    if subnet is not None and subnet.map_public_ip_on_launch:
        reasons["map_public_ip_on_launch"] = True
    table = network.route_table_for(subnet_id)
    route = table.default_route() if table else None
    if table is not None and route is not None and route.target_type == "igw":
        reasons["route_table_id"] = table.id
        reasons["internet_gateway_id"] = route.target_id
    return {"subnet_id": subnet_id, **reasons} if reasons else None


def check_public_subnet(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = PUBLIC_SUBNET
    network = collected(snapshot.network, Part.NETWORK)
    groups = collected(snapshot.nodegroups, Part.NODEGROUPS)
    if not groups:
        return _no_groups(spec, snapshot)
    outcomes: list[Outcome] = []
    for group in groups:
        resource = nodegroup_resource(snapshot, group)
        if not group.subnet_ids:
            outcomes.append(could_not_evaluate(spec, resource, f"no subnets recorded for {group.name}"))
            continue
        public = [why for s in group.subnet_ids if (why := _why_public(network, s)) is not None]
        unknown = [s for s in group.subnet_ids if s not in network.subnets]
        evidence: dict[str, Any] = {"nodegroup": group.name, "subnet_ids": list(group.subnet_ids)}
        if public:
            outcomes.append(
                fail(
                    spec,
                    resource,
                    evidence={**evidence, "public_subnets": public, "unknown_subnets": unknown},
                )
            )
        elif unknown:
            outcomes.append(
                could_not_evaluate(spec, resource, f"subnets not in the snapshot: {', '.join(unknown)}")
            )
        else:
            outcomes.append(passed(spec, resource, evidence=evidence))
    return outcomes


CHECKS: list[Check] = [
    Check(spec=SSH_OPEN, run=check_ssh_open),
    Check(spec=PUBLIC_SUBNET, run=check_public_subnet),
]
