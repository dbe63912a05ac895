"""The VPC as the collectors normalized it: subnets, effective route tables, NAT gateways, endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from eks_auditor.model.frozen import FrozenModel

_GONE = frozenset({"deleted", "deleting", "failed", "rejected", "expired"})
NAT_DOWN_STATES = frozenset({"failed", "deleting", "deleted"})

RouteTarget = Literal["igw", "eigw", "nat", "tgw", "vpce", "pcx", "eni", "instance", "local", "other"]


class Route(FrozenModel):
    destination: str  # IPv4/IPv6 CIDR or a prefix-list id
    target_type: RouteTarget
    target_id: str
    active: bool = True  # state "blackhole" routes are inactive


class RouteTable(FrozenModel):
    id: str
    main: bool
    subnet_ids: tuple[str, ...] = ()  # explicit associations only
    routes: tuple[Route, ...] = ()

    def default_route(self) -> Route | None:
        """The active 0.0.0.0/0 route, if any."""
        return next((r for r in self.routes if r.destination == "0.0.0.0/0" and r.active), None)


class Subnet(FrozenModel):
    id: str
    vpc_id: str
    cidr: str
    availability_zone: str
    available_ips: int
    map_public_ip_on_launch: bool = False
    tags: Mapping[str, str] = Field(default_factory=dict)


class NatGateway(FrozenModel):
    id: str
    subnet_id: str
    state: str
    public_ips: tuple[str, ...] = ()
    connectivity: str = "public"  # "private" NAT gateways have no public IP


class VpcEndpoint(FrozenModel):
    id: str
    service_name: str  # e.g. com.amazonaws.us-east-1.ecr.api
    type: str  # Interface | Gateway | GatewayLoadBalancer
    state: str
    private_dns_enabled: bool = False
    route_table_ids: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()  # interface endpoints (DescribeVpcEndpoints Groups)


class IngressRule(FrozenModel):
    """One security-group ingress permission, reduced to what exposure checks read."""

    protocol: str  # "tcp", "udp", "icmp", or "-1" for all traffic
    from_port: int | None = None  # None for all traffic
    to_port: int | None = None
    cidrs: tuple[str, ...] = ()  # IPv4 and IPv6 ranges
    source_groups: tuple[str, ...] = ()  # UserIdGroupPairs: traffic from ENIs carrying these groups
    prefix_lists: tuple[str, ...] = ()  # PrefixListIds: ranges not expanded here

    def allows_port(self, port: int, protocol: str = "tcp") -> bool:
        if self.protocol == "-1":
            return True
        if self.protocol != protocol:
            return False
        low = self.from_port if self.from_port is not None else 0
        high = self.to_port if self.to_port is not None else 65535
        return low <= port <= high


class SecurityGroup(FrozenModel):
    id: str
    ingress: tuple[IngressRule, ...] = ()


EgressVerdict = Literal["internet", "none", "unverified"]


class Egress(FrozenModel):
    """Where a subnet's 0.0.0.0/0 traffic ends up (DESIGN §2, the egress model).

    `internet`: a verified path to the internet (IGW, public NAT gateway, NAT instance, a firewall or
    GWLB endpoint whose own subnet routes to a NAT or IGW, a transit gateway whose route leads to a VPC
    with such a path or declared by the operator). `none`: no path (no route, blackhole, private NAT
    gateway, VPC peering, a firewall with nothing behind it). `unverified`: a path exists but what is
    behind it could not be read (`reason` says what).
    """

    verdict: EgressVerdict
    via: str  # e.g. "nat:nat-0abc", "vpce:vpce-0abc -> nat:nat-0def", "none"
    reason: str = ""


class TransitGatewayEgress(FrozenModel):
    """What the collector found behind a transit gateway's 0.0.0.0/0 route for this VPC's attachment."""

    tgw_id: str
    verdict: EgressVerdict
    via: str = ""  # e.g. "tgw-attach-0abc (vpc-0egress) -> nat:nat-0def"
    reason: str = ""


class VpcNetwork(FrozenModel):
    """Everything the network checks read about one VPC; collected once per VPC per scan."""

    vpc_id: str
    cidr_blocks: tuple[str, ...] = ()
    subnets: Mapping[str, Subnet] = Field(default_factory=dict)
    route_tables: tuple[RouteTable, ...] = ()
    nat_gateways: Mapping[str, NatGateway] = Field(default_factory=dict)
    vpc_endpoints: tuple[VpcEndpoint, ...] = ()
    # enableDnsSupport / enableDnsHostnames (DescribeVpcAttribute); None when not read.
    dns_support: bool | None = None
    dns_hostnames: bool | None = None
    # The security groups of the interface endpoints, by id; `endpoint_security_groups_unread` says why
    # they could not be read (a denied DescribeSecurityGroups), else "".
    endpoint_security_groups: Mapping[str, SecurityGroup] = Field(default_factory=dict)
    endpoint_security_groups_unread: str = ""
    # Network Firewall endpoints (not listed among VPC endpoints): endpoint id -> its subnet.
    firewall_endpoints: Mapping[str, str] = Field(default_factory=dict)
    # Transit gateways a default route here points at, as far as the collector could follow them.
    transit_gateways: Mapping[str, TransitGatewayEgress] = Field(default_factory=dict)
    # Route targets the collector could not resolve (a denied read): target id -> reason.
    unresolved: Mapping[str, str] = Field(default_factory=dict)

    def route_table_for(self, subnet_id: str) -> RouteTable | None:
        """The explicitly associated route table, else the VPC's main route table."""
        explicit = next((rt for rt in self.route_tables if subnet_id in rt.subnet_ids), None)
        return explicit or next((rt for rt in self.route_tables if rt.main), None)

    def egress_of(self, subnet_id: str) -> Route | None:
        """The 0.0.0.0/0 route a subnet uses when it goes to a NAT or internet gateway."""
        table = self.route_table_for(subnet_id)
        route = table.default_route() if table else None
        return route if route and route.target_type in ("nat", "igw") else None

    def egress(self, subnet_id: str) -> Egress:
        """The subnet's egress verdict, following a firewall / GWLB endpoint one hop."""
        table = self.route_table_for(subnet_id)
        if table is None:
            return Egress(verdict="unverified", via="none", reason="no route table recorded for the subnet")
        route = table.default_route()
        if route is None:
            blackhole = any(r.destination == "0.0.0.0/0" and not r.active for r in table.routes)
            reason = "default route is a blackhole" if blackhole else "no 0.0.0.0/0 route"
            return Egress(verdict="none", via="none", reason=f"{reason} in {table.id}")
        if route.target_type == "vpce":
            return self._through_endpoint(route.target_id)
        return self._direct(route)

    def _direct(self, route: Route) -> Egress:
        via = f"{route.target_type}:{route.target_id}"
        kind = route.target_type
        if kind == "igw":
            return Egress(verdict="internet", via=via)
        if kind == "nat":
            nat = self.nat_gateways.get(route.target_id)
            if nat is None:
                return Egress(verdict="unverified", via=via, reason="NAT gateway not described")
            if nat.state.lower() in NAT_DOWN_STATES:
                return Egress(verdict="none", via=via, reason=f"NAT gateway is {nat.state}")
            if nat.connectivity == "private":
                return Egress(
                    verdict="none",
                    via=via,
                    reason="private NAT gateway (ConnectivityType private): no internet",
                )
            return Egress(verdict="internet", via=via)
        if kind in ("instance", "eni"):
            return Egress(verdict="internet", via=via, reason="NAT instance or appliance")
        if kind == "pcx":
            return Egress(
                verdict="none",
                via=via,
                reason="default route is a VPC peering connection: peering has no edge-to-edge routing "
                "through the peer's internet or NAT gateway",
            )
        if kind == "tgw":
            found = self.transit_gateways.get(route.target_id)
            if found is None:
                reason = self.unresolved.get(route.target_id, "transit gateway route tables not read")
                return Egress(verdict="unverified", via=via, reason=reason)
            return Egress(
                verdict=found.verdict, via=f"{via} -> {found.via}" if found.via else via, reason=found.reason
            )
        return Egress(
            verdict="unverified", via=via, reason=f"egress through {kind}: what lies behind is unknown"
        )

    def endpoint_subnets(self, endpoint_id: str) -> tuple[str, ...]:
        """The subnets of a GWLB endpoint (DescribeVpcEndpoints) or a Network Firewall endpoint."""
        listed = next(
            (e for e in self.vpc_endpoints if e.id == endpoint_id and e.state.lower() not in _GONE), None
        )
        if listed is not None and listed.subnet_ids:
            return listed.subnet_ids
        firewall = self.firewall_endpoints.get(endpoint_id)
        return (firewall,) if firewall else ()

    def _through_endpoint(self, endpoint_id: str) -> Egress:
        via = f"vpce:{endpoint_id}"
        subnets = self.endpoint_subnets(endpoint_id)
        if not subnets:
            reason = self.unresolved.get(
                endpoint_id, "endpoint found neither among VPC endpoints nor Network Firewall endpoints"
            )
            return Egress(verdict="unverified", via=via, reason=reason)
        hops = []
        for subnet in subnets:
            table = self.route_table_for(subnet)
            route = table.default_route() if table else None
            if route is None:
                hops.append(Egress(verdict="none", via=f"{via} -> none", reason=f"{subnet} has no route out"))
            elif route.target_type == "vpce":
                hops.append(Egress(verdict="unverified", via=f"{via} -> vpce:{route.target_id}",
                                   reason="a second inspection hop is not followed"))  # fmt: skip
            else:
                hop = self._direct(route)
                hops.append(hop.model_copy(update={"via": f"{via} -> {hop.via}"}))
        # Each AZ's endpoint serves subnets in that AZ; the weakest hop decides.
        for verdict in ("none", "unverified"):
            worst = next((h for h in hops if h.verdict == verdict), None)
            if worst is not None:
                return worst
        return hops[0]

    def is_isolated(self, subnet_id: str) -> bool:
        """True when the subnet has no egress, verified or not (DESIGN §2)."""
        return self.egress(subnet_id).verdict == "none"

    def egress_unverified(self, subnet_id: str) -> bool:
        return self.egress(subnet_id).verdict == "unverified"

    def endpoints_for(self, service_suffix: str, region: str) -> tuple[VpcEndpoint, ...]:
        """Endpoints for `com.amazonaws.<region>.<service_suffix>` that are usable (available or pending)."""
        name = f"com.amazonaws.{region}.{service_suffix}"
        return tuple(
            e
            for e in self.vpc_endpoints
            if e.service_name == name and e.state.lower() in ("available", "pending", "pendingacceptance")
        )
