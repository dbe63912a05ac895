"""Pod IP capacity: subnet headroom at the node groups' scaling maximum, and prefix delegation where it pays.

`ip_capacity_exhaustion_risk` — one outcome per subnet the node groups draw IPs from (resource: the
subnet id): CRITICAL when the subnet cannot hold the IPs its node groups would hold at max_size, HIGH when
free IPs are below the headroom (default: under 20% of usable addresses free, or fewer than 5 more nodes'
worth), PASS otherwise. The forecast and its assumptions are in eks_auditor.capacity.forecast. Whatever the
forecast could not model (undescribed instance types, unknown subnets, unreadable ENIConfigs) is ERROR,
never PASS.

`ip_prefix_delegation_recommended` — one outcome per node group: LOW when its Nitro instance types are
capped by the secondary-IP max pods (below the 110/250 ceiling) and prefix delegation is off.

Without the aws-node settings (no Kubernetes API access) the CNI defaults are assumed, and the evidence
says so.
"""

from __future__ import annotations

from typing import Any

from eks_auditor.capacity.footprint import SOURCE_ASSUMED, CniSettings, effective_settings
from eks_auditor.capacity.forecast import (
    CNI_ROLE_TAG,
    Forecast,
    ForecastGap,
    SubnetForecast,
    forecast_subnets,
)
from eks_auditor.capacity.max_pods import compute_max_pods
from eks_auditor.checks.base import *
from eks_auditor.model.frozen import FrozenModel
from eks_auditor.model.snapshot import InstanceTypeInfo, NodeGroup

_CNI_IP_DOC = "https://docs.aws.amazon.com/eks/latest/best-practices/ip-opt.html"
_PREFIX_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/cni-increase-ip-addresses.html"
_CUSTOM_NETWORKING_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/cni-custom-network.html"
_WARM_POOL_DOC = "https://github.com/aws/amazon-vpc-cni-k8s/blob/master/docs/eni-and-ip-target.md"
_CIDR_RESERVATION_DOC = "https://docs.aws.amazon.com/vpc/latest/userguide/subnet-cidr-reservation.html"
# Node groups, their subnets and the VPC CNI's configuration decide how many IPs the nodes hold.
_EVENTS = (
    events.NODE_GROUPS
    + events.LAUNCH_TEMPLATES
    + events.ADDONS
    + events.SUBNET_CREATED
    + events.SUBNET_DELETED
    + events.SUBNET_CIDRS
)

IP_CAPACITY_EXHAUSTION_RISK = CheckSpec(
    id="ip_capacity_exhaustion_risk",
    title="Node subnet runs out of pod IPs before the node groups reach their maximum",
    severity=Severity.CRITICAL,
    severity_rule="CRITICAL / HIGH",
    description=(
        "With the Amazon VPC CNI every pod takes a VPC IP and every node holds a warm pool of them. When a "
        "subnet runs dry, new nodes join but their pods stay in ContainerCreating ('failed to assign an IP "
        "address to container'), at peak load."
    ),
    remediation=(
        "Give the node groups a larger or additional subnet; on Nitro instance types enable prefix "
        "delegation; move pod IPs to a secondary VPC CIDR (e.g. 100.64.0.0/16) with custom networking; "
        "tune WARM_IP_TARGET / MINIMUM_IP_TARGET to shrink the warm pool."
    ),
    references=(_CNI_IP_DOC, _PREFIX_DOC, _CUSTOM_NETWORKING_DOC, _WARM_POOL_DOC),
    requires=(Part.CLUSTER, Part.NETWORK, Part.NODEGROUPS, Part.INSTANCE_TYPES),
    # The aws-node DaemonSet's settings and ENIConfigs (CNI defaults assumed, and said, when unread).
    reads=(Part.KUBERNETES,),
    # Subnet tags: which subnets of the VPC join the node subnets' pod IP pool (VPC CNI subnet discovery).
    events=_EVENTS + events.SUBNET_TAGS,
    schedule_only={
        Part.CLUSTER: events.IP_FAMILY_FIXED,
        Part.NETWORK: events.IP_USE_CHANGES_CONSTANTLY,
        Part.INSTANCE_TYPES: events.INSTANCE_TYPES_NEVER_CHANGE,
    },
)

IP_PREFIX_DELEGATION_RECOMMENDED = CheckSpec(
    id="ip_prefix_delegation_recommended",
    title="Nitro node group capped by secondary-IP max pods; prefix delegation is off",
    severity=Severity.LOW,
    description=(
        "In secondary-IP mode a node runs at most ENIs x (IPv4 per ENI - 1) + 2 pods, below the recommended "
        "110 (250 above 30 vCPUs). Prefix delegation assigns /28 prefixes instead of single IPs on Nitro "
        "instances, so the same nodes run up to the recommended ceiling with fewer ENIs and EC2 API calls."
    ),
    remediation=(
        "Set ENABLE_PREFIX_DELEGATION=true (and WARM_PREFIX_TARGET=1) on the aws-node DaemonSet or the "
        "vpc-cni add-on configuration, then replace the nodes so the kubelet gets the new max pods; keep "
        "contiguous /28 space free in the subnets (a subnet CIDR reservation for prefixes)."
    ),
    references=(_PREFIX_DOC, _CIDR_RESERVATION_DOC),
    requires=(Part.CLUSTER, Part.NODEGROUPS, Part.INSTANCE_TYPES),
    # ENABLE_PREFIX_DELEGATION and custom networking from the aws-node DaemonSet (defaults when unread).
    reads=(Part.KUBERNETES,),
    events=_EVENTS,
    schedule_only={
        Part.CLUSTER: events.IP_FAMILY_FIXED,
        Part.INSTANCE_TYPES: events.INSTANCE_TYPES_NEVER_CHANGE,
    },
)


class Headroom(FrozenModel):
    """Free IPs are low under this share of usable addresses, or with room for fewer than this many nodes."""

    min_free_percent: float = 20.0
    min_spare_nodes: int = 5


DEFAULT_HEADROOM = Headroom()


def _settings_source(snapshot: ClusterSnapshot, settings: CniSettings) -> str:
    if settings.read:
        return settings.source
    if snapshot.kubernetes is None:
        why = snapshot.gaps.get(Part.KUBERNETES, "Kubernetes API not read")
    else:
        why = snapshot.gaps.get("kubernetes.aws_node", "aws-node DaemonSet not read")
    return f"{SOURCE_ASSUMED}: {why}"


def _other_cni(snapshot: ClusterSnapshot) -> bool:
    """The Kubernetes API was read and has no aws-node DaemonSet: the cluster runs another CNI."""
    kubernetes = snapshot.kubernetes
    return (
        kubernetes is not None and kubernetes.aws_node is None and "kubernetes.aws_node" not in snapshot.gaps
    )


_OTHER_CNI = "no aws-node DaemonSet in kube-system: the cluster does not run the Amazon VPC CNI"


def _early_outcome(spec: CheckSpec, snapshot: ClusterSnapshot) -> Outcome | None:
    """The one outcome when the check cannot start: no node groups, or another CNI."""
    if not collected(snapshot.nodegroups, Part.NODEGROUPS):
        return not_applicable(spec, snapshot.arn, "the cluster has no node groups")
    if _other_cni(snapshot):
        return not_applicable(spec, snapshot.arn, _OTHER_CNI)
    return None


def _nodegroup_resource(snapshot: ClusterSnapshot, group: NodeGroup) -> str:
    return group.arn or f"{snapshot.arn}/nodegroup/{group.name}"


def check_ip_capacity_exhaustion_risk(
    snapshot: ClusterSnapshot,
    *,
    headroom: Headroom = DEFAULT_HEADROOM,
    pods_per_node: int | None = None,
) -> list[Outcome]:
    spec = IP_CAPACITY_EXHAUSTION_RISK
    early = _early_outcome(spec, snapshot)
    if early is not None:
        return [early]
    forecast = forecast_subnets(snapshot, pods_per_node=pods_per_node)
    source = _settings_source(snapshot, forecast.settings)
    outcomes = [_subnet_outcome(snapshot, forecast, subnet, headroom, source) for subnet in forecast.subnets]
    forecast_ids = {s.subnet_id for s in forecast.subnets}
    # Gaps on subnets that have a forecast show in that subnet's outcome; the rest get an ERROR of their own.
    errors: dict[str, list[str]] = {}
    for gap in forecast.gaps:
        targets = (
            [s for s in gap.subnet_ids if s not in forecast_ids]
            if gap.subnet_ids
            else [_gap_resource(snapshot, gap)]
        )
        for resource in targets:
            errors.setdefault(resource, []).append(gap.reason)
    outcomes.extend(
        could_not_evaluate(spec, resource, "; ".join(reasons)) for resource, reasons in errors.items()
    )
    return outcomes


def _gap_resource(snapshot: ClusterSnapshot, gap: ForecastGap) -> str:
    for group in snapshot.nodegroups or ():
        if group.name == gap.resource:
            return _nodegroup_resource(snapshot, group)
    return f"{snapshot.arn}/{gap.resource}"


def _subnet_outcome(
    snapshot: ClusterSnapshot, forecast: Forecast, subnet: SubnetForecast, headroom: Headroom, source: str
) -> Outcome:
    spec = IP_CAPACITY_EXHAUSTION_RISK
    gaps = forecast.gaps_for(subnet.subnet_id)
    evidence = _evidence(forecast, subnet, headroom, source, gaps)
    low_percent = subnet.percent_free < headroom.min_free_percent
    few_nodes = subnet.nodes_that_fit < headroom.min_spare_nodes
    where = f"{subnet.subnet_id} ({subnet.cidr}, {subnet.availability_zone})"
    if not subnet.fits_at_max:
        severity = Severity.CRITICAL
        title = f"Subnet {where} cannot hold the node groups at their maximum"
        description = (
            f"At max size the node groups {', '.join(subnet.nodegroups)} add "
            f"{subnet.additional_nodes} nodes here needing {subnet.ips_needed_at_max} IPs; "
            f"{subnet.free_ips} are free, enough for {subnet.nodes_that_fit} more node(s)."
        )
    elif low_percent or few_nodes:
        reasons = []
        if low_percent:
            reasons.append(f"{subnet.percent_free}% free (< {headroom.min_free_percent}%)")
        if few_nodes:
            reasons.append(f"room for {subnet.nodes_that_fit} more node(s) (< {headroom.min_spare_nodes})")
        severity = Severity.HIGH
        title = f"Subnet {where} is low on pod IPs"
        description = (
            f"{subnet.free_ips} IPs free: {' and '.join(reasons)}. The node groups "
            f"{', '.join(subnet.nodegroups)} hold {subnet.ips_per_node} IPs per node here."
        )
    elif gaps:
        return could_not_evaluate(spec, subnet.subnet_id, "; ".join(g.reason for g in gaps))
    else:
        return passed(spec, subnet.subnet_id, evidence=evidence)
    return fail(
        spec,
        subnet.subnet_id,
        evidence=evidence,
        severity=severity,
        title=title,
        description=description,
        remediation=_remediation(snapshot, forecast, subnet),
    )


def _evidence(
    forecast: Forecast, subnet: SubnetForecast, headroom: Headroom, source: str, gaps: tuple[ForecastGap, ...]
) -> dict[str, Any]:
    plans = [p for p in forecast.nodegroups if p.nodegroup in subnet.nodegroups]
    evidence: dict[str, Any] = {
        "subnet_id": subnet.subnet_id,
        "cidr": subnet.cidr,
        "availability_zone": subnet.availability_zone,
        "subnet_role": subnet.role,
        "free_ips": subnet.free_ips,
        "usable_ips": subnet.usable_ips,
        "percent_free": subnet.percent_free,
        "ips_needed_at_max": subnet.ips_needed_at_max,
        "additional_nodes_at_max": subnet.additional_nodes,
        "nodes_that_still_fit": subnet.nodes_that_fit,
        "ips_per_node": subnet.ips_per_node,
        "nodegroups": {
            p.nodegroup: {
                "instance_type": p.instance_type,
                "desired_size": p.desired_size,
                "max_size": p.max_size,
                "availability_zones": list(p.availability_zones),
                "max_pods": p.footprint.max_pods.max_pods,
                "footprint": p.footprint.explanation,
            }
            for p in plans
        },
        "cni_settings": forecast.settings.describe(),
        "cni_settings_source": source,
        "pods_per_node": forecast.pods_per_node if forecast.pods_per_node is not None else "max pods",
        "headroom": {
            "min_free_percent": headroom.min_free_percent,
            "min_spare_nodes": headroom.min_spare_nodes,
        },
        "notes": list(subnet.notes),
    }
    if subnet.pool_subnets:
        evidence["subnet_discovery"] = forecast.subnet_discovery
        # Free and needed addresses above are the AZ's pool (node subnets and kubernetes.io/role/cni ones).
        evidence["pool_subnets"] = list(subnet.pool_subnets)
        evidence["own_free_ips"] = subnet.own_free_ips
        evidence["own_ips_needed_at_max"] = subnet.own_ips_needed_at_max
    if subnet.prefix_delegation:
        evidence["free_prefix_blocks_assumed"] = subnet.free_prefix_blocks
        evidence["prefix_blocks_needed_at_max"] = subnet.prefix_blocks_needed
    if gaps:
        evidence["incomplete"] = [g.reason for g in gaps]
    return evidence


def _remediation(snapshot: ClusterSnapshot, forecast: Forecast, subnet: SubnetForecast) -> str:
    settings = forecast.settings
    steps: list[str] = []
    if subnet.pool_subnets:
        steps.append(
            f"Add address space to the {subnet.availability_zone} pool: a subnet from a secondary VPC CIDR "
            f"tagged {CNI_ROLE_TAG}=1 (VPC CNI subnet discovery places new pod ENIs there, no node "
            "replacement needed), or enlarge the ones tagged already."
        )
    elif subnet.role == "pod":
        steps.append(
            f"Give the ENIConfig for {subnet.availability_zone} a larger subnet from the secondary VPC CIDR "
            "(ENIConfigs change for new nodes only: replace the nodes afterwards)."
        )
    else:
        steps.append(
            f"Add a larger or additional subnet in {subnet.availability_zone} and run the node groups "
            f"{', '.join(subnet.nodegroups)} there (a managed node group's subnets are fixed: create a new "
            "node group and move the workloads)."
        )
    types = snapshot.instance_types or {}
    plans = [p for p in forecast.nodegroups if p.nodegroup in subnet.nodegroups]
    nitro = [
        p.nodegroup
        for p in plans
        if p.footprint.max_pods.mode == "secondary-ip"
        and (info := types.get(p.instance_type)) is not None
        and info.nitro
    ]
    if nitro and not settings.prefix_delegation:
        steps.append(
            f"On the Nitro node groups ({', '.join(nitro)}) enable prefix delegation "
            "(ENABLE_PREFIX_DELEGATION=true, WARM_PREFIX_TARGET=1): denser nodes run the same pods on fewer "
            "nodes and ENIs, and the warm pool becomes one /28 instead of a whole ENI; keep contiguous /28 "
            "space free (subnet CIDR reservation)."
        )
    if not settings.custom_networking:
        steps.append(
            "Move pod IPs off the node subnets: associate a secondary VPC CIDR such as 100.64.0.0/16, create "
            "one subnet and ENIConfig per Availability Zone and set AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true "
            "(custom networking)."
        )
    if not settings.ip_targets and not settings.prefix_delegation:
        steps.append(
            "Shrink the warm pool: WARM_ENI_TARGET=1 keeps a whole spare ENI per node; WARM_IP_TARGET with "
            "MINIMUM_IP_TARGET (slightly above the usual pods per node) holds far fewer idle IPs."
        )
    return " ".join(f"{n}. {step}" for n, step in enumerate(steps, start=1))


def check_ip_prefix_delegation_recommended(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = IP_PREFIX_DELEGATION_RECOMMENDED
    early = _early_outcome(spec, snapshot)
    if early is not None:
        return [early]
    if collected(snapshot.cluster, Part.CLUSTER).ip_family == "ipv6":
        # The VPC CNI runs IPv6 clusters in prefix mode only; max pods are not capped by secondary IPs.
        return [
            not_applicable(spec, _nodegroup_resource(snapshot, group), "IPv6 cluster: pods use IPv6 prefixes")
            for group in snapshot.nodegroups or ()
        ] or [not_applicable(spec, snapshot.arn, "IPv6 cluster: pods use IPv6 prefixes")]
    kubernetes = snapshot.kubernetes
    settings = effective_settings(kubernetes.aws_node_settings if kubernetes else None)
    source = _settings_source(snapshot, settings)
    types = snapshot.instance_types or {}
    outcomes: list[Outcome] = []
    for group in snapshot.nodegroups or ():
        resource = _nodegroup_resource(snapshot, group)
        names = tuple(dict.fromkeys(group.instance_types))
        infos = [types[n] for n in names if n in types]
        if not names or len(infos) < len(names):
            unknown = [n for n in names if n not in types]
            reason = (
                f"instance types {', '.join(unknown)} of node group {group.name} were not described"
                if unknown
                else f"instance types of node group {group.name} are unknown (launch template?)"
            )
            outcomes.append(could_not_evaluate(spec, resource, reason))
            continue
        outcomes.append(_prefix_outcome(spec, resource, group, infos, settings, source))
    return outcomes


def _prefix_outcome(
    spec: CheckSpec,
    resource: str,
    group: NodeGroup,
    infos: list[InstanceTypeInfo],
    settings: CniSettings,
    source: str,
) -> Outcome:
    nitro = [i for i in infos if i.nitro]
    if not nitro:
        hypervisors = sorted({i.hypervisor or "unknown" for i in infos})
        return not_applicable(
            spec,
            resource,
            f"no Nitro instance type ({', '.join(hypervisors)}): prefix delegation does not apply",
        )
    figures = {
        info.name: {
            "secondary_ip_max_pods": compute_max_pods(info, custom_networking=settings.custom_networking).raw,
            "prefix_delegation_max_pods": compute_max_pods(
                info, prefix_delegation=True, custom_networking=settings.custom_networking
            ).max_pods,
            "ceiling": compute_max_pods(info).ceiling,
            "vcpus": info.vcpus,
        }
        for info in nitro
    }
    limited = [name for name, f in figures.items() if f["secondary_ip_max_pods"] < f["ceiling"]]
    evidence: dict[str, Any] = {
        "nodegroup": group.name,
        "instance_types": figures,
        "prefix_delegation": settings.prefix_delegation,
        "custom_networking": settings.custom_networking,
        "cni_settings_source": source,
    }
    if settings.prefix_delegation or not limited:
        return passed(spec, resource, evidence=evidence)
    evidence["limited_instance_types"] = limited
    first = figures[limited[0]]
    return fail(
        spec,
        resource,
        evidence=evidence,
        title=(
            f"Node group {group.name}: {limited[0]} runs at most {first['secondary_ip_max_pods']} pods "
            f"without prefix delegation ({first['prefix_delegation_max_pods']} with it)"
        ),
    )


def make_checks(headroom: Headroom = DEFAULT_HEADROOM, pods_per_node: int | None = None) -> tuple[Check, ...]:
    """The capacity checks with a headroom and a pods-per-node assumption other than the defaults."""

    def run_exhaustion(snapshot: ClusterSnapshot) -> list[Outcome]:
        return check_ip_capacity_exhaustion_risk(snapshot, headroom=headroom, pods_per_node=pods_per_node)

    return (
        Check(spec=IP_CAPACITY_EXHAUSTION_RISK, run=run_exhaustion),
        Check(spec=IP_PREFIX_DELEGATION_RECOMMENDED, run=check_ip_prefix_delegation_recommended),
    )


CHECKS: tuple[Check, ...] = make_checks()
