"""API server endpoint exposure: who can reach it, and whether the nodes still can.

Resource id: the cluster ARN for all four checks (the fix is one `update-cluster-config` call).

`endpoint_nodes_blocked_by_cidrs` judges each node subnet by its effective 0.0.0.0/0 route:
- no active default route (none, or a blackhole): nodes cannot reach a public-only endpoint -> blocked;
- NAT gateway: every Elastic IP (IPv4) of that NAT must lie inside `publicAccessCidrs` -> else blocked;
  a NAT gateway that is failed/deleted counts as no route out;
- private NAT gateway, VPC peering, a firewall endpoint with nothing behind it, a transit gateway whose
  route tables lead nowhere (the egress model, `VpcNetwork.egress`): no route out -> blocked;
- internet gateway, NAT instance, firewall, transit gateway ...: the nodes' source address cannot be known
  from the VPC configuration (an IGW subnet's nodes use per-instance public IPs, and only when
  `map_public_ip_on_launch` or the launch template gives them one), so the subnet is "unverified" --
  unless publicAccessCidrs admits all of IPv4 (then a route out is enough; for an IGW subnet, with
  `map_public_ip_on_launch` on).
Any blocked subnet -> FAIL (CRITICAL). Nothing blocked but something unverified -> ERROR with the
unverified subnets as evidence (never a PASS, never a guessed CRITICAL). All verified -> PASS.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from eks_auditor.checks.base import *
from eks_auditor.model.network import VpcNetwork
from eks_auditor.model.snapshot import EndpointAccess

# DescribeCluster always returns publicAccessCidrs; EKS fills in 0.0.0.0/0 when none were given.
EKS_DEFAULT_PUBLIC_CIDRS: tuple[str, ...] = ("0.0.0.0/0",)

_ENDPOINT_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html"

PUBLIC_UNRESTRICTED = CheckSpec(
    id="endpoint_public_unrestricted",
    title="Cluster API endpoint is open to the whole internet",
    severity=Severity.HIGH,
    description=(
        "The public API server endpoint is enabled and publicAccessCidrs contains 0.0.0.0/0 or ::/0, so "
        "anyone on the internet reaches the API server's authentication layer."
    ),
    remediation=(
        "Restrict the public endpoint to the networks that need it, or turn it off and use the private "
        "endpoint: aws eks update-cluster-config --name <cluster> --resources-vpc-config "
        "endpointPrivateAccess=true,endpointPublicAccess=true,publicAccessCidrs=<office-cidr>,<nat-eip>/32 "
        "(console: EKS > cluster > Networking > Manage endpoint access). Keep the NAT gateways' Elastic IPs "
        "in the list, or enable private access, or nodes lose the control plane."
    ),
    references=(_ENDPOINT_DOC, SECURITY_HUB_DOC),
    requires=(Part.CLUSTER,),
    events=events.CLUSTER_CONFIG,
)

PUBLIC_ACCESS_ENABLED = CheckSpec(
    id="endpoint_public_access_enabled",
    title="Cluster API endpoint is reachable from the internet",
    severity=Severity.LOW,
    description=(
        "The public API server endpoint is on, whatever its publicAccessCidrs: the exact condition of "
        "Security Hub EKS.1 and CIS Amazon EKS Benchmark 5.4.2. endpoint_public_unrestricted is the "
        "urgent case (open to 0.0.0.0/0); this one records any public endpoint."
    ),
    remediation=(
        "Turn the public endpoint off and reach the API from inside the VPC (VPN, bastion, or the "
        "auditor's KubeSubnetIds): aws eks update-cluster-config --name <cluster> --resources-vpc-config "
        "endpointPublicAccess=false,endpointPrivateAccess=true (console: EKS > cluster > Networking > "
        "Manage endpoint access)."
    ),
    references=(_ENDPOINT_DOC, SECURITY_HUB_DOC),
    requires=(Part.CLUSTER,),
    events=events.CLUSTER_CONFIG,
)

PRIVATE_ACCESS_DISABLED = CheckSpec(
    id="endpoint_private_access_disabled",
    title="Cluster API endpoint has private access off",
    severity=Severity.MEDIUM,
    description=(
        "The public endpoint is on and private access is off: traffic from nodes and pods to the "
        "Kubernetes API leaves the VPC and depends on internet egress and on publicAccessCidrs."
    ),
    remediation=(
        "Enable private access (it can run beside the public endpoint): aws eks update-cluster-config "
        "--name <cluster> --resources-vpc-config endpointPrivateAccess=true "
        "(console: EKS > cluster > Networking > Manage endpoint access > Private access)."
    ),
    references=(_ENDPOINT_DOC,),
    requires=(Part.CLUSTER,),
    events=events.CLUSTER_CONFIG,
)

NODES_BLOCKED = CheckSpec(
    id="endpoint_nodes_blocked_by_cidrs",
    title="Nodes cannot reach a public-only API endpoint",
    severity=Severity.CRITICAL,
    description=(
        "Private access is off, so nodes reach the API server only through the public endpoint; from "
        "some node subnets that path is closed: their NAT gateways' Elastic IPs are outside "
        "publicAccessCidrs, or the subnets have no route out at all. Nodes there cannot join or report."
    ),
    remediation=(
        "Enable private access: aws eks update-cluster-config --name <cluster> --resources-vpc-config "
        "endpointPrivateAccess=true. Or add each NAT gateway's Elastic IP as /32 to publicAccessCidrs "
        "(aws eks update-cluster-config --resources-vpc-config publicAccessCidrs=<cidr>,<eip>/32). A subnet "
        "without a route out needs private access (EKS requires it for nodes without internet access)."
    ),
    references=(_ENDPOINT_DOC, PRIVATE_CLUSTERS_DOC),
    requires=(Part.CLUSTER, Part.NETWORK, Part.NODEGROUPS),
    events=(
        events.CLUSTER_CONFIG
        + events.NODEGROUPS_ADDED_OR_REMOVED
        + events.SELF_MANAGED_GROUPS
        + events.NODE_EGRESS
        + events.EGRESS_PATHS
        + events.NAT_ADDRESSES
        + events.NAT_GATEWAY_ADDRESSES
    ),
)

_NAT_DOWN_STATES = frozenset({"failed", "deleting", "deleted"})


def effective_public_cidrs(access: EndpointAccess) -> tuple[str, ...]:
    """publicAccessCidrs as EKS applies it (an empty list means its default, 0.0.0.0/0)."""
    return access.public_cidrs or EKS_DEFAULT_PUBLIC_CIDRS


def _networks(cidrs: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for cidr in cidrs:
        try:
            nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            continue
    return nets


def open_to_world(cidrs: tuple[str, ...]) -> list[str]:
    """The entries that admit every address of their family (0.0.0.0/0, ::/0, non-canonical forms too)."""
    return [cidr for cidr in cidrs if any(net.prefixlen == 0 for net in _networks((cidr,)))]


def check_public_unrestricted(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = PUBLIC_UNRESTRICTED
    access = collected(snapshot.cluster, Part.CLUSTER).endpoint_access
    if not access.public:
        return [passed(spec, snapshot.arn, evidence={"public_access": False})]
    cidrs = effective_public_cidrs(access)
    world = open_to_world(cidrs)
    evidence = {"public_access": True, "public_access_cidrs": list(cidrs)}
    if world:
        return [fail(spec, snapshot.arn, evidence={**evidence, "open_cidrs": world})]
    return [passed(spec, snapshot.arn, evidence=evidence)]


def check_public_access_enabled(snapshot: ClusterSnapshot) -> list[Outcome]:
    access = collected(snapshot.cluster, Part.CLUSTER).endpoint_access
    evidence: dict[str, Any] = {"public_access": access.public, "private_access": access.private}
    if access.public:
        cidrs = list(effective_public_cidrs(access))
        return [
            fail(PUBLIC_ACCESS_ENABLED, snapshot.arn, evidence={**evidence, "public_access_cidrs": cidrs})
        ]
    return [passed(PUBLIC_ACCESS_ENABLED, snapshot.arn, evidence=evidence)]


def check_private_access_disabled(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = PRIVATE_ACCESS_DISABLED
    access = collected(snapshot.cluster, Part.CLUSTER).endpoint_access
    evidence = {"public_access": access.public, "private_access": access.private}
    if access.public and not access.private:
        return [
            fail(
                spec,
                snapshot.arn,
                evidence={**evidence, "public_access_cidrs": list(effective_public_cidrs(access))},
            )
        ]
    return [passed(spec, snapshot.arn, evidence=evidence)]


def _judge_subnet(
    network: VpcNetwork, subnet_id: str, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> tuple[str, dict[str, Any]]:
    """('ok' | 'blocked' | 'unverified', details) for one node subnet."""
    table = network.route_table_for(subnet_id)
    if table is None:
        return "unverified", {"subnet_id": subnet_id, "reason": "no route table recorded for the subnet"}
    details: dict[str, Any] = {"subnet_id": subnet_id, "route_table_id": table.id}
    route = table.default_route()
    if route is None:
        inactive = [r.target_id for r in table.routes if r.destination == "0.0.0.0/0" and not r.active]
        reason = "default route is a blackhole" if inactive else "no 0.0.0.0/0 route"
        return "blocked", {**details, "reason": f"no route out ({reason})"}
    details["egress"] = f"{route.target_type}:{route.target_id}"
    world = any(net.version == 4 and net.prefixlen == 0 for net in allowed)
    if route.target_type == "nat":
        nat = network.nat_gateways.get(route.target_id)
        if nat is None:
            return "unverified", {**details, "reason": "NAT gateway not in the snapshot"}
        if nat.state.lower() in _NAT_DOWN_STATES:
            return "blocked", {**details, "reason": f"no route out (NAT gateway {nat.state})"}
        if nat.connectivity == "private":
            return "blocked", {**details, "reason": "no route out (private NAT gateway: no internet)"}
        ips = [ip for ip in nat.public_ips if _is_ipv4(ip)]
        if not ips:
            if world:
                return "ok", {**details, "nat_gateway_id": nat.id}
            return "unverified", {**details, "reason": "NAT gateway has no public IPv4 address recorded"}
        # Elastic IPs are IPv4: an IPv6 entry such as ::/0 never admits them.
        v4 = [net for net in allowed if net.version == 4]
        excluded = [ip for ip in ips if not any(ipaddress.ip_address(ip) in net for net in v4)]
        if excluded:
            return "blocked", {
                **details,
                "reason": "NAT gateway Elastic IPs outside publicAccessCidrs",
                "nat_gateway_id": nat.id,
                "nat_public_ips": ips,
                "excluded_ips": excluded,
            }
        return "ok", {**details, "nat_gateway_id": nat.id, "nat_public_ips": ips}
    if route.target_type == "igw":
        subnet = network.subnets.get(subnet_id)
        auto_ip = subnet.map_public_ip_on_launch if subnet else None
        if world and auto_ip:
            return "ok", {**details, "map_public_ip_on_launch": True}
        return "unverified", {
            **details,
            "reason": "nodes egress with their own public IPs (if any), unknown to the VPC configuration",
            "map_public_ip_on_launch": auto_ip,
        }
    egress = network.egress(subnet_id)
    details["egress"] = egress.via
    if egress.verdict == "none":
        return "blocked", {**details, "reason": f"no route out ({egress.reason})"}
    if egress.verdict == "unverified":
        return "unverified", {**details, "reason": f"egress not verified: {egress.reason}"}
    if world:
        # Any source address is admitted, so only the route out matters, and there is one.
        return "ok", details
    return "unverified", {**details, "reason": f"egress through {route.target_type}: source IP unknown"}


def _is_ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def check_nodes_blocked_by_cidrs(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = NODES_BLOCKED
    access = collected(snapshot.cluster, Part.CLUSTER).endpoint_access
    network = collected(snapshot.network, Part.NETWORK)
    if access.private:
        return [not_applicable(spec, snapshot.arn, "private access is on: nodes use the private endpoint")]
    if not access.public:
        return [fail(spec, snapshot.arn, evidence={"public_access": False, "private_access": False})]
    subnet_ids = snapshot.node_subnet_ids()
    if not subnet_ids:
        return [could_not_evaluate(spec, snapshot.arn, "no node subnets known for the cluster")]
    cidrs = effective_public_cidrs(access)
    allowed = _networks(cidrs)
    verdicts: dict[str, list[dict[str, Any]]] = {"ok": [], "blocked": [], "unverified": []}
    for subnet_id in subnet_ids:
        verdict, details = _judge_subnet(network, subnet_id, allowed)
        verdicts[verdict].append(details)
    evidence: dict[str, Any] = {
        "public_access_cidrs": list(cidrs),
        "private_access": False,
        "blocked_subnets": verdicts["blocked"],
        "unverified_subnets": verdicts["unverified"],
        "reachable_subnets": [d["subnet_id"] for d in verdicts["ok"]],
    }
    if verdicts["blocked"]:
        return [fail(spec, snapshot.arn, evidence=evidence)]
    if verdicts["unverified"]:
        ids = ", ".join(d["subnet_id"] for d in verdicts["unverified"])
        return [
            Outcome(
                check_id=spec.id,
                resource=snapshot.arn,
                result=Result.ERROR,
                reason=f"cannot verify the source IP of nodes in {ids}; enable private access to be sure",
                evidence=evidence,
            )
        ]
    return [passed(spec, snapshot.arn, evidence=evidence)]


CHECKS: list[Check] = [
    Check(spec=PUBLIC_UNRESTRICTED, run=check_public_unrestricted),
    Check(spec=PUBLIC_ACCESS_ENABLED, run=check_public_access_enabled),
    Check(spec=PRIVATE_ACCESS_DISABLED, run=check_private_access_disabled),
    Check(spec=NODES_BLOCKED, run=check_nodes_blocked_by_cidrs),
]
