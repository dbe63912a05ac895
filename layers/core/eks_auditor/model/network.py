"""The VPC as the collectors normalized it: subnets, effective route tables, NAT gateways, endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RouteTarget = Literal["igw", "eigw", "nat", "tgw", "vpce", "pcx", "eni", "instance", "local", "other"]


class Route(BaseModel):
    model_config = ConfigDict(frozen=True)

    destination: str  # IPv4/IPv6 CIDR or a prefix-list id
    target_type: RouteTarget
    target_id: str
    active: bool = True  # state "blackhole" routes are inactive


class RouteTable(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    main: bool
    subnet_ids: tuple[str, ...] = ()  # explicit associations only
    routes: tuple[Route, ...] = ()

    def default_route(self) -> Route | None:
        """The active 0.0.0.0/0 route, if any."""
        return next((r for r in self.routes if r.destination == "0.0.0.0/0" and r.active), None)


class Subnet(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    vpc_id: str
    cidr: str
    availability_zone: str
    available_ips: int
    map_public_ip_on_launch: bool = False
    tags: Mapping[str, str] = Field(default_factory=dict)


class NatGateway(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    subnet_id: str
    state: str
    public_ips: tuple[str, ...] = ()
    connectivity: str = "public"  # "private" NAT gateways have no public IP


class VpcEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    service_name: str  # e.g. com.amazonaws.us-east-1.ecr.api
    type: str  # Interface | Gateway | GatewayLoadBalancer
    state: str
    private_dns_enabled: bool = False
    route_table_ids: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()


class IngressRule(BaseModel):
    """One security-group ingress permission, reduced to what exposure checks read."""

    model_config = ConfigDict(frozen=True)

    protocol: str  # "tcp", "udp", "icmp", or "-1" for all traffic
    from_port: int | None = None  # None for all traffic
    to_port: int | None = None
    cidrs: tuple[str, ...] = ()  # IPv4 and IPv6 ranges

    def allows_port(self, port: int, protocol: str = "tcp") -> bool:
        if self.protocol == "-1":
            return True
        if self.protocol != protocol:
            return False
        low = self.from_port if self.from_port is not None else 0
        high = self.to_port if self.to_port is not None else 65535
        return low <= port <= high


class SecurityGroup(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    ingress: tuple[IngressRule, ...] = ()


class VpcNetwork(BaseModel):
    """Everything the network checks read about one VPC; collected once per VPC per scan."""

    model_config = ConfigDict(frozen=True)

    vpc_id: str
    cidr_blocks: tuple[str, ...] = ()
    subnets: Mapping[str, Subnet] = Field(default_factory=dict)
    route_tables: tuple[RouteTable, ...] = ()
    nat_gateways: Mapping[str, NatGateway] = Field(default_factory=dict)
    vpc_endpoints: tuple[VpcEndpoint, ...] = ()

    def route_table_for(self, subnet_id: str) -> RouteTable | None:
        """The explicitly associated route table, else the VPC's main route table."""
        explicit = next((rt for rt in self.route_tables if subnet_id in rt.subnet_ids), None)
        return explicit or next((rt for rt in self.route_tables if rt.main), None)

    def egress_of(self, subnet_id: str) -> Route | None:
        """The 0.0.0.0/0 route a subnet uses when it goes to a NAT or internet gateway."""
        table = self.route_table_for(subnet_id)
        route = table.default_route() if table else None
        return route if route and route.target_type in ("nat", "igw") else None

    def is_isolated(self, subnet_id: str) -> bool:
        """True when the subnet has no 0.0.0.0/0 route to a NAT or internet gateway."""
        return self.egress_of(subnet_id) is None

    def endpoints_for(self, service_suffix: str, region: str) -> tuple[VpcEndpoint, ...]:
        """Endpoints for `com.amazonaws.<region>.<service_suffix>` that are usable (available or pending)."""
        name = f"com.amazonaws.{region}.{service_suffix}"
        return tuple(
            e
            for e in self.vpc_endpoints
            if e.service_name == name and e.state.lower() in ("available", "pending", "pendingacceptance")
        )
