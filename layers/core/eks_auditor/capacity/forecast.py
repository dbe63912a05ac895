"""Subnet headroom forecast: the IPs a cluster's node groups would hold at their scaling maximum, per subnet.

Assumptions, stated once:

- A node group's current size is its desired size; its scaling maximum is max_size. Free addresses
  (AvailableIpAddressCount) already reflect the current nodes, so a subnet must hold only the nodes added
  between desired and max. Existing nodes that later gain pods may take more addresses; that growth is
  not counted.
- The ASG balances nodes across the Availability Zones of its subnets. Which AZ receives the odd node is
  not known, so each AZ is assumed to receive the larger share (ceil of max / AZs) and to hold the smaller
  share today (floor of desired / AZs). Several subnets in one AZ: each is assumed to receive that AZ's
  whole share, since the ASG may pick any of them.
- Per node, the footprint model (capacity.footprint) at `pods_per_node` VPC-IP pods, default a full node.
  A node group with several instance types is modeled by its type with the largest footprint.
- Custom networking: the node subnet holds the primary ENIs' addresses; the pods' addresses come from the
  ENIConfig subnet in the node's Availability Zone (several in one AZ: each is assumed to receive them all).
- VPC CNI subnet discovery (v1.18.0+, ENABLE_SUBNET_DISCOVERY default true; off with custom networking,
  which takes precedence): ipamd creates each secondary ENI in the subnet with the most free addresses
  among the node's own subnet and the subnets of its VPC and AZ tagged `kubernetes.io/role/cni`
  (aws/amazon-vpc-cni-k8s pkg/awsutils/awsutils.go; since v1.22.0 a tag value "0" or "" excludes a subnet,
  as do `kubernetes.io/cluster/<other cluster>` tags; before, the key alone included it). Secondary ENIs
  therefore draw on one pool per AZ (the node subnets and the tagged subnets there), while each new node's
  primary ENI (its own address and that ENI's secondary addresses) still comes from its node subnet.
  Secondary-IP mode only: with prefix delegation the node subnet keeps the whole footprint (conservative).
  Without the aws-node settings, discovery is assumed on (the default of every VPC CNI since v1.18.0).
- Prefix delegation needs free, aligned /28 blocks, which AvailableIpAddressCount cannot show. The
  forecast is conservative: every address in use that the model does not attribute to the current nodes'
  prefixes (the 5 AWS reserves, ENI primaries, load balancers, endpoints, ...) is assumed to sit alone in
  its own /28, and every new ENI primary address is assumed to break a /28 of its own.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from eks_auditor.capacity.footprint import CniSettings, Footprint, effective_settings, node_footprint
from eks_auditor.capacity.max_pods import IPS_PER_PREFIX
from eks_auditor.model.frozen import FrozenModel
from eks_auditor.model.kubernetes import AwsNodeSettings, EniConfig
from eks_auditor.model.network import Subnet
from eks_auditor.model.snapshot import ClusterSnapshot, InstanceTypeInfo, NodeGroup

AWS_RESERVED_IPS = 5  # the first four and the last address of every subnet

SubnetRole = Literal["node", "pod", "node+pod", "cni"]
CNI_ROLE_TAG = "kubernetes.io/role/cni"
CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
SUBNET_DISCOVERY_SINCE = (1, 18)
TAG_VALUES_SINCE = (1, 22)  # "0" excludes, "" does not include, other clusters' tags exclude
_VERSION = re.compile(r":v?(\d+)\.(\d+)\.(\d+)")


class NodeGroupPlan(FrozenModel):
    """How one node group was modeled."""

    nodegroup: str
    kind: str
    instance_type: str
    footprint: Footprint
    desired_size: int
    max_size: int
    availability_zones: tuple[str, ...]
    notes: tuple[str, ...] = ()


class ForecastGap(FrozenModel):
    """Something the forecast could not model; the subnets it leaves incomplete."""

    resource: str
    reason: str
    subnet_ids: tuple[str, ...] = ()


class SubnetForecast(FrozenModel):
    subnet_id: str
    cidr: str
    availability_zone: str
    role: SubnetRole
    free_ips: int
    usable_ips: int  # CIDR size minus the 5 reserved addresses
    percent_free: float
    nodegroups: tuple[str, ...]
    nodes_now: int  # nodes assumed in this subnet today (the smaller balanced share)
    nodes_at_max: int  # nodes assumed at scaling maximum (the larger balanced share)
    additional_nodes: int
    ips_per_node: int  # the largest footprint among the node groups here, in this subnet
    ips_needed_at_max: int  # for the additional nodes
    nodes_that_fit: int  # more nodes of the largest footprint this subnet can still take
    prefix_delegation: bool
    free_prefix_blocks: int | None = None  # conservative count of whole free /28 blocks
    prefix_blocks_needed: int | None = None  # /28 blocks (prefixes and new ENI primaries) at max
    # Subnet discovery: free_ips, usable_ips and ips_needed_at_max are the AZ's pool (`pool_subnets`);
    # own_* are this subnet's own free addresses and what only it can give (new nodes' primary ENIs).
    pool_subnets: tuple[str, ...] = ()
    own_free_ips: int | None = None
    own_ips_needed_at_max: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def fits_at_max(self) -> bool:
        if self.ips_needed_at_max > self.free_ips:
            return False
        if (
            self.own_ips_needed_at_max is not None
            and self.own_free_ips is not None
            and self.own_ips_needed_at_max > self.own_free_ips
        ):
            return False
        return not (
            self.prefix_blocks_needed is not None
            and self.free_prefix_blocks is not None
            and self.prefix_blocks_needed > self.free_prefix_blocks
        )


class Forecast(FrozenModel):
    subnets: tuple[SubnetForecast, ...]
    nodegroups: tuple[NodeGroupPlan, ...]
    settings: CniSettings
    pods_per_node: int | None
    gaps: tuple[ForecastGap, ...] = ()
    subnet_discovery: str = ""  # whether VPC CNI subnet discovery was modeled, and why

    def subnet(self, subnet_id: str) -> SubnetForecast | None:
        return next((s for s in self.subnets if s.subnet_id == subnet_id), None)

    def gaps_for(self, subnet_id: str) -> tuple[ForecastGap, ...]:
        return tuple(g for g in self.gaps if subnet_id in g.subnet_ids)


@dataclass
class _Share:
    """One node group's share of one subnet."""

    plan: NodeGroupPlan
    role: SubnetRole
    nodes_now: int
    nodes_at_max: int
    ips_per_node: int
    prefix_ips_per_node: int  # 0 unless this subnet holds the group's prefixes

    @property
    def additional(self) -> int:
        return max(0, self.nodes_at_max - self.nodes_now)

    @property
    def other_ips_per_node(self) -> int:
        return self.ips_per_node - self.prefix_ips_per_node


def forecast_subnets(snapshot: ClusterSnapshot, *, pods_per_node: int | None = None) -> Forecast:
    """Per subnet the cluster's node groups use: free IPs against the IPs they would hold at max."""
    kubernetes = snapshot.kubernetes
    aws_node: AwsNodeSettings | None = kubernetes.aws_node_settings if kubernetes else None
    settings = effective_settings(aws_node)
    ipv6 = snapshot.cluster is not None and snapshot.cluster.ip_family == "ipv6"
    subnets: Mapping[str, Subnet] = snapshot.network.subnets if snapshot.network else {}
    types: Mapping[str, InstanceTypeInfo] = snapshot.instance_types or {}
    gaps: list[ForecastGap] = []
    plans: list[NodeGroupPlan] = []
    shares: dict[str, list[_Share]] = {}

    eni_configs: tuple[EniConfig, ...] | None = kubernetes.eni_configs if kubernetes else None
    pod_subnets_by_az: dict[str, list[str]] = {}
    if settings.custom_networking:
        if eni_configs is None:
            reason = (
                snapshot.gaps.get("kubernetes.eni_configs")
                or snapshot.gaps.get("kubernetes")
                or "ENIConfigs not read"
            )
            gaps.append(
                ForecastGap(
                    resource="eniconfigs",
                    reason=f"custom networking is on but the pods' subnets are unknown: {reason}",
                )
            )
        else:
            for config in eni_configs:
                pod_subnet = subnets.get(config.subnet_id)
                if pod_subnet is None:
                    gaps.append(
                        ForecastGap(
                            resource=config.subnet_id,
                            reason=f"ENIConfig {config.name} names {config.subnet_id}, not found in the VPC",
                            subnet_ids=(config.subnet_id,),
                        )
                    )
                    continue
                pod_subnets_by_az.setdefault(pod_subnet.availability_zone, [])
                if config.subnet_id not in pod_subnets_by_az[pod_subnet.availability_zone]:
                    pod_subnets_by_az[pod_subnet.availability_zone].append(config.subnet_id)

    for group in snapshot.nodegroups or ():
        known = [s for s in dict.fromkeys(group.subnet_ids) if s in subnets]
        missing = [s for s in dict.fromkeys(group.subnet_ids) if s not in subnets]
        for subnet_id in missing:
            gaps.append(
                ForecastGap(
                    resource=subnet_id,
                    reason=f"node group {group.name} uses subnet {subnet_id}, not found in the VPC",
                    subnet_ids=(subnet_id,),
                )
            )
        if not group.subnet_ids:
            gaps.append(ForecastGap(resource=group.name, reason=f"node group {group.name} names no subnets"))
            continue
        plan = _plan(group, types, aws_node, pods_per_node, known, subnets, gaps, ipv6=ipv6)
        if plan is None:
            continue
        plans.append(plan)
        _spread(plan, known, subnets, pod_subnets_by_az, settings.custom_networking, shares, gaps)

    results = tuple(
        _subnet_forecast(subnets[subnet_id], group_shares) for subnet_id, group_shares in shares.items()
    )
    discovery, why = subnet_discovery(aws_node, custom_networking=settings.custom_networking, ipv6=ipv6)
    if discovery:
        version = cni_version(aws_node.image if aws_node else None)
        tagged = [s for s in subnets.values() if s.id not in shares and discovered(s, snapshot.name, version)]
        results = _pool_with_cni_subnets(results, shares, tagged, types)
    return Forecast(
        subnets=results,
        nodegroups=tuple(plans),
        settings=settings,
        pods_per_node=pods_per_node,
        gaps=tuple(gaps),
        subnet_discovery=why,
    )


def cni_version(image: str | None) -> tuple[int, int, int] | None:
    """The VPC CNI version in the aws-node image tag (`...amazon-k8s-cni:v1.19.2-eksbuild.1`)."""
    found = _VERSION.search(image or "")
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def subnet_discovery(
    aws_node: AwsNodeSettings | None, *, custom_networking: bool, ipv6: bool
) -> tuple[bool, str]:
    """Whether ipamd places secondary ENIs in `kubernetes.io/role/cni` subnets, and why (or why not)."""
    if ipv6:
        return False, "IPv6 cluster: pods take IPv6 addresses, no secondary ENI draws IPv4 addresses"
    if custom_networking:
        return False, "custom networking (ENIConfig) takes precedence over subnet discovery"
    if aws_node is None:
        return True, "assumed on: aws-node not read (ENABLE_SUBNET_DISCOVERY defaults to true since v1.18.0)"
    if aws_node.enable_subnet_discovery is False:
        return False, "ENABLE_SUBNET_DISCOVERY=false on aws-node"
    version = cni_version(aws_node.image)
    if version is not None and version[:2] < SUBNET_DISCOVERY_SINCE:
        return False, f"VPC CNI v{'.'.join(map(str, version))} predates subnet discovery (v1.18.0)"
    shown = f"v{'.'.join(map(str, version))}" if version else "version unknown"
    return True, f"on (VPC CNI {shown}, ENABLE_SUBNET_DISCOVERY not false)"


def discovered(subnet: Subnet, cluster: str, version: tuple[int, int, int] | None) -> bool:
    """A subnet ipamd may use for this cluster's secondary ENIs (besides the node's own subnet)."""
    value = subnet.tags.get(CNI_ROLE_TAG)
    if value is None:
        return False
    if version is not None and version[:2] < TAG_VALUES_SINCE:
        return True  # v1.18-v1.21: the key alone includes the subnet
    if value.strip() in ("", "0"):
        return False
    clusters = [k for k in subnet.tags if k.startswith(CLUSTER_TAG_PREFIX)]
    return not clusters or f"{CLUSTER_TAG_PREFIX}{cluster}" in clusters


def _primary_ips(share: _Share, types: Mapping[str, InstanceTypeInfo]) -> int:
    """Addresses a new node takes from its own subnet whatever discovery does: its primary ENI's."""
    info = types.get(share.plan.instance_type)
    if info is None:
        return share.ips_per_node
    return min(share.ips_per_node, 1 + min(share.plan.footprint.secondary_ips, max(info.ipv4_per_eni - 1, 0)))


def _pool_with_cni_subnets(
    results: tuple[SubnetForecast, ...],
    shares: Mapping[str, list[_Share]],
    tagged: list[Subnet],
    types: Mapping[str, InstanceTypeInfo],
) -> tuple[SubnetForecast, ...]:
    """Per AZ with tagged subnets: the node subnets' secondary ENIs draw on the AZ's pool."""
    by_az: dict[str, list[Subnet]] = {}
    for subnet in tagged:
        by_az.setdefault(subnet.availability_zone, []).append(subnet)
    pooled: list[SubnetForecast] = []
    handled: set[str] = set()
    for zone, cni_subnets in sorted(by_az.items()):
        members = [f for f in results if f.availability_zone == zone and not f.prefix_delegation]
        if not members:
            continue
        pool_ids = (*(f.subnet_id for f in members), *(s.id for s in cni_subnets))
        free = sum(f.free_ips for f in members) + sum(s.available_ips for s in cni_subnets)
        usable = sum(f.usable_ips for f in members) + sum(_usable(s) for s in cni_subnets)
        needed = sum(f.ips_needed_at_max for f in members)
        widest = max(f.ips_per_node for f in members)
        note = (
            f"VPC CNI subnet discovery: secondary ENIs in {zone} go to the subnet with the most free "
            f"addresses among {', '.join(pool_ids)} ({free} free together)"
        )
        percent = round(100.0 * free / usable, 1) if usable else 0.0
        common = {
            "free_ips": free,
            "usable_ips": usable,
            "percent_free": percent,
            "ips_needed_at_max": needed,
            "pool_subnets": pool_ids,
        }
        for forecast in members:
            own = shares[forecast.subnet_id]
            primary = max(_primary_ips(s, types) for s in own)
            own_needed = sum(s.additional * _primary_ips(s, types) for s in own)
            fit = min(free // widest if widest else 0, forecast.free_ips // primary if primary else 0)
            pooled.append(
                forecast.model_copy(
                    update={
                        **common,
                        "nodes_that_fit": fit,
                        "own_free_ips": forecast.free_ips,
                        "own_ips_needed_at_max": own_needed,
                        "notes": (*forecast.notes, note),
                    }
                )
            )
            handled.add(forecast.subnet_id)
        groups = tuple(dict.fromkeys(g for f in members for g in f.nodegroups))
        for subnet in cni_subnets:
            pooled.append(
                SubnetForecast(
                    subnet_id=subnet.id,
                    cidr=subnet.cidr,
                    availability_zone=zone,
                    role="cni",
                    usable_ips=usable,
                    free_ips=free,
                    percent_free=percent,
                    nodegroups=groups,
                    nodes_now=sum(f.nodes_now for f in members),
                    nodes_at_max=sum(f.nodes_at_max for f in members),
                    additional_nodes=sum(f.additional_nodes for f in members),
                    ips_per_node=widest,
                    ips_needed_at_max=needed,
                    nodes_that_fit=free // widest if widest else 0,
                    prefix_delegation=False,
                    pool_subnets=pool_ids,
                    own_free_ips=subnet.available_ips,
                    own_ips_needed_at_max=0,
                    notes=(f"tagged {CNI_ROLE_TAG}={subnet.tags.get(CNI_ROLE_TAG)}", note),
                )
            )
    return (*(f for f in results if f.subnet_id not in handled), *pooled)


def _usable(subnet: Subnet) -> int:
    size = ipaddress.ip_network(subnet.cidr, strict=False).num_addresses
    return max(size - AWS_RESERVED_IPS, 1)


def _plan(
    group: NodeGroup,
    types: Mapping[str, InstanceTypeInfo],
    aws_node: AwsNodeSettings | None,
    pods_per_node: int | None,
    known_subnets: list[str],
    subnets: Mapping[str, Subnet],
    gaps: list[ForecastGap],
    *,
    ipv6: bool = False,
) -> NodeGroupPlan | None:
    names = tuple(dict.fromkeys(group.instance_types))
    infos = [types[name] for name in names if name in types]
    affected = tuple(dict.fromkeys(group.subnet_ids))
    if not infos:
        reason = (
            f"instance types {', '.join(names)} of node group {group.name} were not described"
            if names
            else f"instance types of node group {group.name} are unknown (launch template?)"
        )
        gaps.append(ForecastGap(resource=group.name, reason=reason, subnet_ids=affected))
        return None
    notes: list[str] = []
    undescribed = [name for name in names if name not in types]
    if undescribed:
        notes.append(f"instance types {', '.join(undescribed)} not described; modeled from the others")
    footprints = [node_footprint(info, aws_node, pods=pods_per_node, ipv6=ipv6) for info in infos]
    widest = max(footprints, key=lambda f: (f.ips_per_node, f.prefixes))
    if len(infos) > 1:
        notes.append(f"modeled by {widest.max_pods.instance_type}, the type that holds the most IPs per node")
    zones = tuple(sorted({subnets[s].availability_zone for s in known_subnets}))
    return NodeGroupPlan(
        nodegroup=group.name,
        kind=group.kind,
        instance_type=widest.max_pods.instance_type,
        footprint=widest,
        desired_size=group.desired_size,
        max_size=group.max_size,
        availability_zones=zones,
        notes=tuple(notes),
    )


def _spread(
    plan: NodeGroupPlan,
    known_subnets: list[str],
    subnets: Mapping[str, Subnet],
    pod_subnets_by_az: Mapping[str, list[str]],
    custom_networking: bool,
    shares: dict[str, list[_Share]],
    gaps: list[ForecastGap],
) -> None:
    zones = plan.availability_zones
    if not zones:
        return
    at_max = math.ceil(plan.max_size / len(zones))
    now = min(plan.desired_size // len(zones), at_max)
    footprint = plan.footprint
    for subnet_id in known_subnets:
        zone = subnets[subnet_id].availability_zone
        if not custom_networking:
            shares.setdefault(subnet_id, []).append(
                _Share(plan, "node+pod", now, at_max, footprint.node_subnet_ips, footprint.prefix_ips)
            )
            continue
        shares.setdefault(subnet_id, []).append(
            _Share(plan, "node", now, at_max, footprint.node_subnet_ips, 0)
        )
        pod_subnet_ids = pod_subnets_by_az.get(zone)
        if pod_subnet_ids is None:
            continue
        for pod_subnet_id in pod_subnet_ids:
            group_shares = shares.setdefault(pod_subnet_id, [])
            # A node group with two node subnets in one AZ must not be counted twice in that AZ's pod subnet.
            if any(s.plan is plan and s.role == "pod" for s in group_shares):
                continue
            group_shares.append(
                _Share(plan, "pod", now, at_max, footprint.pod_subnet_ips, footprint.prefix_ips)
            )
    if custom_networking and pod_subnets_by_az:
        uncovered = [z for z in zones if z not in pod_subnets_by_az]
        if uncovered:
            gaps.append(
                ForecastGap(
                    resource=plan.nodegroup,
                    reason=(
                        f"node group {plan.nodegroup} runs in {', '.join(uncovered)}, where no ENIConfig "
                        "subnet is known: its pods' subnet there cannot be forecast"
                    ),
                )
            )


def _subnet_forecast(subnet: Subnet, shares: list[_Share]) -> SubnetForecast:
    network = ipaddress.ip_network(subnet.cidr, strict=False)
    size = network.num_addresses
    usable = max(size - AWS_RESERVED_IPS, 1)
    free = subnet.available_ips
    roles = {s.role for s in shares}
    role: SubnetRole = "node+pod" if "node+pod" in roles or roles == {"node", "pod"} else shares[0].role
    widest = max(shares, key=lambda s: (s.ips_per_node, s.prefix_ips_per_node))
    ips_needed = sum(s.additional * s.ips_per_node for s in shares)
    notes: list[str] = []
    fit = free // widest.ips_per_node if widest.ips_per_node else 0

    prefix_shares = [s for s in shares if s.prefix_ips_per_node]
    free_blocks: int | None = None
    blocks_needed: int | None = None
    if prefix_shares:
        free_blocks = _free_prefix_blocks(size, free, shares)
        blocks_needed = sum(s.additional * _blocks_per_node(s) for s in shares)
        widest_blocks = max(_blocks_per_node(s) for s in shares)
        fit = min(fit, free_blocks // widest_blocks) if widest_blocks else fit
        notes.append(
            "prefix delegation needs whole free /28 blocks; AvailableIpAddressCount cannot show them, so "
            f"{free_blocks} free /28 block(s) are assumed (worst-case fragmentation); a subnet CIDR "
            "reservation for prefixes removes the doubt"
        )
    spread = sorted({f"{s.plan.nodegroup}: {s.nodes_now} now, {s.nodes_at_max} at max" for s in shares})
    notes.append("balanced share of each node group here (" + "; ".join(spread) + ")")
    return SubnetForecast(
        subnet_id=subnet.id,
        cidr=subnet.cidr,
        availability_zone=subnet.availability_zone,
        role=role,
        free_ips=free,
        usable_ips=usable,
        percent_free=round(100.0 * free / usable, 1),
        nodegroups=tuple(dict.fromkeys(s.plan.nodegroup for s in shares)),
        nodes_now=sum(s.nodes_now for s in shares),
        nodes_at_max=sum(s.nodes_at_max for s in shares),
        additional_nodes=sum(s.additional for s in shares),
        ips_per_node=widest.ips_per_node,
        ips_needed_at_max=ips_needed,
        nodes_that_fit=fit,
        prefix_delegation=bool(prefix_shares),
        free_prefix_blocks=free_blocks,
        prefix_blocks_needed=blocks_needed,
        notes=tuple(notes),
    )


def _blocks_per_node(share: _Share) -> int:
    """/28 blocks one more node takes: its prefixes, plus one per new non-prefix address (worst case)."""
    return share.prefix_ips_per_node // IPS_PER_PREFIX + share.other_ips_per_node


def _free_prefix_blocks(size: int, free: int, shares: list[_Share]) -> int:
    """A lower bound on whole free /28 blocks, assuming the worst fragmentation the counts allow.

    Addresses in use that the model cannot place inside the current nodes' prefixes are each assumed
    to sit in a /28 of their own; each such block hides up to 15 free addresses.
    """
    total_blocks = size // IPS_PER_PREFIX
    used = size - free
    reserved_blocks = 1 if total_blocks <= 1 else 2
    modeled_prefix_ips = sum(s.nodes_now * s.prefix_ips_per_node for s in shares)
    known_strays = sum(s.nodes_now * s.other_ips_per_node for s in shares)
    strays = max(known_strays, used - AWS_RESERVED_IPS - modeled_prefix_ips)
    broken = min(total_blocks, reserved_blocks + strays)
    hidden = broken * (IPS_PER_PREFIX - 1)
    return max(0, math.ceil((free - hidden) / IPS_PER_PREFIX))
