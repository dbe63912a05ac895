"""One VPC's subnets, route tables, NAT gateways and endpoints: calls made together, cached per scan."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from eks_auditor.collect.errors import describe_error
from eks_auditor.concurrency import SingleFlight, gather
from eks_auditor.model.network import (
    IngressRule,
    NatGateway,
    Route,
    RouteTable,
    RouteTarget,
    SecurityGroup,
    Subnet,
    TransitGatewayEgress,
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


FirewallClientFactory = Callable[[], Any]
GONE_ENDPOINT_STATES = frozenset({"deleted", "deleting", "failed", "rejected", "expired"})
KNOWN_EGRESS_REASON = "declared with known egress by the operator (KNOWN_EGRESS_TRANSIT_GATEWAYS)"


def collect_vpc_network(
    ec2: EC2Client,
    vpc_id: str,
    *,
    firewall: FirewallClientFactory | None = None,
    known_egress_tgws: frozenset[str] = frozenset(),
    reads_in_flight: int = 1,
) -> VpcNetwork:
    """DescribeVpcs, DescribeSubnets, DescribeRouteTables, DescribeNatGateways, DescribeVpcEndpoints and
    DescribeVpcAttribute (DNS), `reads_in_flight` at a time (they do not depend on each other); then the
    endpoints' security groups and what lies behind default routes to firewalls and transit gateways."""
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    reads: dict[str, Callable[[], Any]] = {
        "vpcs": lambda: ec2.describe_vpcs(VpcIds=[vpc_id]).get("Vpcs", []),
        "subnets": lambda: _pages(ec2, "describe_subnets", "Subnets", Filters=by_vpc),
        "tables": lambda: _pages(ec2, "describe_route_tables", "RouteTables", Filters=by_vpc),
        # DescribeNatGateways names its filter parameter "Filter", not "Filters".
        "nats": lambda: _pages(ec2, "describe_nat_gateways", "NatGateways", Filter=by_vpc),
        "endpoints": lambda: _pages(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=by_vpc),
        "dns_support": lambda: _vpc_attribute(ec2, vpc_id, "enableDnsSupport"),
        "dns_hostnames": lambda: _vpc_attribute(ec2, vpc_id, "enableDnsHostnames"),
    }
    read = gather(reads, in_flight=reads_in_flight)
    vpcs = read["vpcs"]
    network = normalize_network(
        vpc_id, vpcs[0] if vpcs else {}, read["subnets"], read["tables"], read["nats"], read["endpoints"]
    )
    dns = {"dns_support": read["dns_support"], "dns_hostnames": read["dns_hostnames"]}
    return resolve_next_hops(
        network.model_copy(update={**dns, **_endpoint_security_groups(ec2, network)}),
        ec2,
        firewall=firewall,
        known_egress_tgws=known_egress_tgws,
    )


def _endpoint_security_groups(ec2: EC2Client, network: VpcNetwork) -> dict[str, Any]:
    """The ingress rules of the interface endpoints' security groups (DescribeSecurityGroups), with its own
    error boundary: a denied read leaves the endpoints' reachability unverified, not the network missing."""
    wanted = sorted(
        {
            sg
            for e in network.vpc_endpoints
            if e.type.lower() == "interface" and e.state.lower() not in GONE_ENDPOINT_STATES
            for sg in e.security_group_ids
        }
    )
    if not wanted:
        return {}
    try:
        groups = describe_security_groups(ec2, wanted)
    except (ClientError, BotoCoreError) as exc:
        reason = describe_error(exc, "ec2:DescribeSecurityGroups")
        return {"endpoint_security_groups_unread": reason}
    return {"endpoint_security_groups": groups}


def _vpc_attribute(ec2: EC2Client, vpc_id: str, attribute: str) -> bool | None:
    key = attribute[0].upper() + attribute[1:]
    try:
        answer = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)  # type: ignore[arg-type]
    except (ClientError, BotoCoreError):
        return None  # unknown: checks that need it say so
    value = (answer.get(key) or {}).get("Value")  # type: ignore[attr-defined]
    return bool(value) if value is not None else None


def resolve_next_hops(
    network: VpcNetwork,
    ec2: EC2Client,
    *,
    firewall: FirewallClientFactory | None = None,
    known_egress_tgws: frozenset[str] = frozenset(),
) -> VpcNetwork:
    """Follow default routes to `vpce-` targets the VPC does not list (Network Firewall endpoints) and to
    transit gateways. Each read has its own error boundary: a denied read makes that target unresolved
    (egress unverified), never the whole network part missing."""
    targets = {
        route.target_id: route.target_type
        for table in network.route_tables
        if (route := table.default_route()) is not None and route.target_type in ("vpce", "tgw")
    }
    listed = {e.id for e in network.vpc_endpoints if e.state.lower() not in GONE_ENDPOINT_STATES}
    unresolved: dict[str, str] = {}
    firewall_endpoints: dict[str, str] = {}
    unknown_vpce = sorted(t for t, kind in targets.items() if kind == "vpce" and t not in listed)
    if unknown_vpce:
        if firewall is None:
            unresolved.update(dict.fromkeys(unknown_vpce, "Network Firewall endpoints were not read"))
        else:
            try:
                firewall_endpoints = firewall_endpoint_subnets(firewall(), network.vpc_id)
            except (ClientError, BotoCoreError) as exc:
                reason = describe_error(exc, f"network-firewall:{getattr(exc, 'operation_name', '')}")
                unresolved.update(dict.fromkeys(unknown_vpce, reason))
    tgws: dict[str, TransitGatewayEgress] = {}
    for tgw_id in sorted(t for t, kind in targets.items() if kind == "tgw"):
        if tgw_id in known_egress_tgws:
            tgws[tgw_id] = TransitGatewayEgress(tgw_id=tgw_id, verdict="internet", via=KNOWN_EGRESS_REASON)
            continue
        try:
            tgws[tgw_id] = follow_transit_gateway(ec2, tgw_id, network.vpc_id)
        except (ClientError, BotoCoreError) as exc:
            unresolved[tgw_id] = describe_error(exc, f"ec2:{getattr(exc, 'operation_name', '')}")
    if not (unresolved or firewall_endpoints or tgws):
        return network
    return network.model_copy(
        update={"firewall_endpoints": firewall_endpoints, "transit_gateways": tgws, "unresolved": unresolved}
    )


def firewall_endpoint_subnets(client: Any, vpc_id: str) -> dict[str, str]:
    """Endpoint id -> subnet of every Network Firewall in the VPC (ListFirewalls, DescribeFirewall's
    FirewallStatus.SyncStates: one attachment per AZ). Firewall endpoints are not VPC endpoints."""
    found: dict[str, str] = {}
    for page in client.get_paginator("list_firewalls").paginate(VpcIds=[vpc_id]):
        for item in page.get("Firewalls", []):
            status = client.describe_firewall(FirewallArn=item["FirewallArn"]).get("FirewallStatus") or {}
            for state in (status.get("SyncStates") or {}).values():
                attachment = state.get("Attachment") or {}
                if attachment.get("EndpointId") and attachment.get("SubnetId"):
                    found[attachment["EndpointId"]] = attachment["SubnetId"]
    return found


def follow_transit_gateway(ec2: EC2Client, tgw_id: str, vpc_id: str) -> TransitGatewayEgress:
    """This VPC's attachment -> its associated TGW route table -> the 0.0.0.0/0 route's attachment ->
    that VPC's attachment subnets' default routes (one hop, NAT or IGW)."""
    attachments = ec2.describe_transit_gateway_attachments(
        Filters=[
            {"Name": "transit-gateway-id", "Values": [tgw_id]},
            {"Name": "resource-id", "Values": [vpc_id]},
        ]
    ).get("TransitGatewayAttachments", [])
    association = next(
        (
            a.get("Association")
            for a in attachments
            if (a.get("Association") or {}).get("State") == "associated"
        ),
        None,
    )
    if not association:
        return _tgw(tgw_id, "unverified", "", f"no associated attachment of {vpc_id} to {tgw_id} is visible")
    table_id = association["TransitGatewayRouteTableId"]
    routes = ec2.search_transit_gateway_routes(
        TransitGatewayRouteTableId=table_id,
        Filters=[{"Name": "route-search.exact-match", "Values": ["0.0.0.0/0"]}],
    ).get("Routes", [])
    route = next(iter(routes), None)
    if route is None:
        return _tgw(tgw_id, "none", table_id, f"TGW route table {table_id} has no 0.0.0.0/0 route")
    if route.get("State") == "blackhole":
        return _tgw(tgw_id, "none", table_id, f"0.0.0.0/0 in {table_id} is a blackhole")
    target: Mapping[str, Any] = next(iter(route.get("TransitGatewayAttachments") or ()), {})
    if target.get("ResourceType") != "vpc" or not target.get("ResourceId"):
        kind = target.get("ResourceType") or "unknown"
        return _tgw(tgw_id, "unverified", table_id, f"0.0.0.0/0 leaves through a {kind} attachment")
    egress_vpc, attachment_id = target["ResourceId"], target["TransitGatewayAttachmentId"]
    vpc_attachments = ec2.describe_transit_gateway_vpc_attachments(
        TransitGatewayAttachmentIds=[attachment_id]
    ).get("TransitGatewayVpcAttachments", [])
    subnet_ids = [s for a in vpc_attachments for s in a.get("SubnetIds") or ()]
    by_vpc = [{"Name": "vpc-id", "Values": [egress_vpc]}]
    egress_network = normalize_network(
        egress_vpc,
        {},
        (),
        _pages(ec2, "describe_route_tables", "RouteTables", Filters=by_vpc),
        _pages(ec2, "describe_nat_gateways", "NatGateways", Filter=by_vpc),
        (),
    )
    hops = [egress_network.egress(s) for s in subnet_ids]
    via = f"{table_id} -> {attachment_id} ({egress_vpc})"
    if not hops:
        return _tgw(tgw_id, "unverified", via, f"subnets of {attachment_id} not visible")
    for verdict in ("none", "unverified"):
        worst = next((h for h in hops if h.verdict == verdict), None)
        if worst is not None:
            return _tgw(tgw_id, verdict, f"{via} -> {worst.via}", worst.reason)
    return _tgw(tgw_id, "internet", f"{via} -> {hops[0].via}", "")


def _tgw(tgw_id: str, verdict: str, via: str, reason: str) -> TransitGatewayEgress:
    return TransitGatewayEgress.model_validate(
        {"tgw_id": tgw_id, "verdict": verdict, "via": via, "reason": reason}
    )


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
        security_group_ids=tuple(g["GroupId"] for g in raw.get("Groups") or () if g.get("GroupId")),
    )


class VpcNetworkCache:
    """Per-scan cache keyed by (region, vpc_id): clusters sharing a VPC reuse one collection.

    Single-flight per VPC: concurrent audits of clusters in one VPC wait for one fetch, while other VPCs
    are fetched in parallel. Failures are cached too, so a denied DescribeSubnets is not repeated for
    every cluster in the VPC.
    """

    def __init__(self, known_egress_tgws: frozenset[str] = frozenset(), reads_in_flight: int = 1) -> None:
        self._entries: SingleFlight[tuple[str, str], VpcNetwork] = SingleFlight(
            cached_errors=(ClientError, BotoCoreError)
        )
        self.known_egress_tgws = known_egress_tgws
        self.reads_in_flight = reads_in_flight

    def get(
        self, ec2: EC2Client, region: str, vpc_id: str, firewall: FirewallClientFactory | None = None
    ) -> VpcNetwork:
        return self._entries.get(
            (region, vpc_id),
            lambda: collect_vpc_network(
                ec2,
                vpc_id,
                firewall=firewall,
                known_egress_tgws=self.known_egress_tgws,
                reads_in_flight=self.reads_in_flight,
            ),
        )

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
                    source_groups=tuple(
                        p["GroupId"] for p in perm.get("UserIdGroupPairs", []) if p.get("GroupId")
                    ),
                    prefix_lists=tuple(
                        p["PrefixListId"] for p in perm.get("PrefixListIds", []) if p.get("PrefixListId")
                    ),
                )
                for perm in raw.get("IpPermissions", [])
            )
            groups[raw["GroupId"]] = SecurityGroup(id=raw["GroupId"], ingress=rules)
    return groups
