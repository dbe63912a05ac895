"""One VPC's subnets, route tables, NAT gateways and endpoints: four filtered calls, cached per scan."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from eks_auditor.concurrency import SingleFlight
from eks_auditor.model.network import (
    IngressRule,
    NatGateway,
    Route,
    RouteTable,
    RouteTarget,
    SecurityGroup,
    Subnet,
    VpcEndpoint,
    VpcNetwork,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# Checked in order: a route to an instance also carries that instance's NetworkInterfaceId.
_TARGET_FIELDS: tuple[tuple[str, RouteTarget], ...] = (
    ("NatGatewayId", "nat"),
    ("TransitGatewayId", "tgw"),
    ("VpcPeeringConnectionId", "pcx"),
    ("EgressOnlyInternetGatewayId", "eigw"),
    ("InstanceId", "instance"),
    ("NetworkInterfaceId", "eni"),
)
# GatewayId holds internet gateways, virtual private gateways, gateway endpoints and "local".
_GATEWAY_PREFIXES: tuple[tuple[str, RouteTarget], ...] = (("igw-", "igw"), ("vpce-", "vpce"))


def collect_vpc_network(ec2: EC2Client, vpc_id: str) -> VpcNetwork:
    """DescribeVpcs, DescribeSubnets, DescribeRouteTables, DescribeNatGateways, DescribeVpcEndpoints."""
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    vpcs = ec2.describe_vpcs(VpcIds=[vpc_id]).get("Vpcs", [])
    subnets = _pages(ec2, "describe_subnets", "Subnets", Filters=by_vpc)
    tables = _pages(ec2, "describe_route_tables", "RouteTables", Filters=by_vpc)
    # DescribeNatGateways names its filter parameter "Filter", not "Filters".
    nats = _pages(ec2, "describe_nat_gateways", "NatGateways", Filter=by_vpc)
    endpoints = _pages(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=by_vpc)
    return normalize_network(vpc_id, vpcs[0] if vpcs else {}, subnets, tables, nats, endpoints)


def _pages(ec2: EC2Client, operation: str, key: str, **params: Any) -> list[Mapping[str, Any]]:
    items: list[Mapping[str, Any]] = []
    for page in ec2.get_paginator(operation).paginate(**params):  # type: ignore[call-overload]
        items.extend(page.get(key, []))
    return items


def normalize_network(
    vpc_id: str,
    vpc: Mapping[str, Any],
    subnets: Iterable[Mapping[str, Any]],
    route_tables: Iterable[Mapping[str, Any]],
    nat_gateways: Iterable[Mapping[str, Any]],
    endpoints: Iterable[Mapping[str, Any]],
) -> VpcNetwork:
    return VpcNetwork(
        vpc_id=vpc_id,
        cidr_blocks=_cidr_blocks(vpc),
        subnets={s["SubnetId"]: normalize_subnet(s) for s in subnets},
        route_tables=tuple(normalize_route_table(t) for t in route_tables),
        nat_gateways={n["NatGatewayId"]: normalize_nat_gateway(n) for n in nat_gateways},
        vpc_endpoints=tuple(normalize_endpoint(e) for e in endpoints),
    )


def _cidr_blocks(vpc: Mapping[str, Any]) -> tuple[str, ...]:
    associated = [
        a["CidrBlock"]
        for a in vpc.get("CidrBlockAssociationSet") or ()
        if (a.get("CidrBlockState") or {}).get("State", "associated") == "associated" and a.get("CidrBlock")
    ]
    if not associated and vpc.get("CidrBlock"):
        associated = [vpc["CidrBlock"]]
    return tuple(dict.fromkeys(associated))


def normalize_subnet(raw: Mapping[str, Any]) -> Subnet:
    return Subnet(
        id=raw["SubnetId"],
        vpc_id=raw.get("VpcId") or "",
        cidr=raw.get("CidrBlock") or "",
        availability_zone=raw.get("AvailabilityZone") or "",
        available_ips=int(raw.get("AvailableIpAddressCount") or 0),
        map_public_ip_on_launch=bool(raw.get("MapPublicIpOnLaunch")),
        tags={t["Key"]: t.get("Value", "") for t in raw.get("Tags") or () if "Key" in t},
    )


def normalize_route_table(raw: Mapping[str, Any]) -> RouteTable:
    # Associations being disassociated (or failed) no longer decide which table a subnet uses.
    live = [
        a
        for a in raw.get("Associations") or ()
        if (a.get("AssociationState") or {}).get("State", "associated") == "associated"
    ]
    return RouteTable(
        id=raw["RouteTableId"],
        main=any(a.get("Main") for a in live),
        subnet_ids=tuple(a["SubnetId"] for a in live if a.get("SubnetId")),
        routes=tuple(_routes(raw.get("Routes") or ())),
    )


def _routes(raw_routes: Iterable[Mapping[str, Any]]) -> Iterator[Route]:
    for raw in raw_routes:
        destination = next(
            (
                raw[f]
                for f in ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId")
                if raw.get(f)
            ),
            None,
        )
        if not destination:
            continue
        target_type, target_id = route_target(raw)
        yield Route(
            destination=destination,
            target_type=target_type,
            target_id=target_id,
            active=raw.get("State", "active") != "blackhole",
        )


def route_target(raw: Mapping[str, Any]) -> tuple[RouteTarget, str]:
    for field, kind in _TARGET_FIELDS:
        if raw.get(field):
            return kind, str(raw[field])
    gateway = str(raw.get("GatewayId") or "")
    if gateway == "local":
        return "local", gateway
    for prefix, kind in _GATEWAY_PREFIXES:
        if gateway.startswith(prefix):
            return kind, gateway
    other = gateway or next(
        (str(raw[f]) for f in ("CarrierGatewayId", "LocalGatewayId", "CoreNetworkArn") if raw.get(f)), ""
    )
    return "other", other


def normalize_nat_gateway(raw: Mapping[str, Any]) -> NatGateway:
    return NatGateway(
        id=raw["NatGatewayId"],
        subnet_id=raw.get("SubnetId") or "",
        state=raw.get("State") or "",
        # Private NAT gateways and secondary private addresses carry no PublicIp.
        public_ips=tuple(a["PublicIp"] for a in raw.get("NatGatewayAddresses") or () if a.get("PublicIp")),
        connectivity=raw.get("ConnectivityType") or "public",
    )


def normalize_endpoint(raw: Mapping[str, Any]) -> VpcEndpoint:
    return VpcEndpoint(
        id=raw["VpcEndpointId"],
        service_name=raw.get("ServiceName") or "",
        type=raw.get("VpcEndpointType") or "",
        state=raw.get("State") or "",
        private_dns_enabled=bool(raw.get("PrivateDnsEnabled")),
        route_table_ids=tuple(raw.get("RouteTableIds") or ()),
        subnet_ids=tuple(raw.get("SubnetIds") or ()),
    )


class VpcNetworkCache:
    """Per-scan cache keyed by (region, vpc_id): clusters sharing a VPC reuse one collection.

    Single-flight per VPC: concurrent audits of clusters in one VPC wait for one fetch, while other VPCs
    are fetched in parallel. Failures are cached too, so a denied DescribeSubnets is not repeated for
    every cluster in the VPC.
    """

    def __init__(self) -> None:
        self._entries: SingleFlight[tuple[str, str], VpcNetwork] = SingleFlight(
            cached_errors=(ClientError, BotoCoreError)
        )

    def get(self, ec2: EC2Client, region: str, vpc_id: str) -> VpcNetwork:
        return self._entries.get((region, vpc_id), lambda: collect_vpc_network(ec2, vpc_id))

    def clear(self) -> None:
        self._entries.clear()


def describe_security_groups(ec2: Any, group_ids: Sequence[str]) -> dict[str, SecurityGroup]:
    """The ingress rules of the given security groups: one filtered, paginated DescribeSecurityGroups."""
    groups: dict[str, SecurityGroup] = {}
    paginator = ec2.get_paginator("describe_security_groups")
    for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": list(group_ids)}]):
        for raw in page.get("SecurityGroups", []):
            rules = tuple(
                IngressRule(
                    protocol=str(perm.get("IpProtocol", "-1")),
                    from_port=perm.get("FromPort"),
                    to_port=perm.get("ToPort"),
                    cidrs=tuple(r["CidrIp"] for r in perm.get("IpRanges", []) if "CidrIp" in r)
                    + tuple(r["CidrIpv6"] for r in perm.get("Ipv6Ranges", []) if "CidrIpv6" in r),
                )
                for perm in raw.get("IpPermissions", [])
            )
            groups[raw["GroupId"]] = SecurityGroup(id=raw["GroupId"], ingress=rules)
    return groups
