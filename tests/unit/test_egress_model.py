"""The egress model (DESIGN §2): each topology's verdict, and what the network checks make of it."""

from __future__ import annotations

import pytest
from eks_auditor.model.check import Result, Severity
from eks_auditor.model.network import (
    RouteTable,
    Subnet,
    TransitGatewayEgress,
    VpcEndpoint,
)
from eks_auditor.model.snapshot import ClusterSnapshot
from snapshots import (
    ARN,
    BASE,
    LOCAL,
    NAT_A,
    PRIVATE_A,
    PRIVATE_B,
    RTB_PRIVATE_A,
    RTB_PRIVATE_B,
    VPC,
    by_resource,
    default_route,
    only,
    replace_route_table,
    run,
    with_endpoint,
    with_nat,
    with_network,
)

FIREWALL_SUBNET = "subnet-0fw000000000000a"
RTB_FIREWALL = "rtb-0firewall0000000"
FW_ENDPOINT = "vpce-0fw0000000000000a"
GWLB_ENDPOINT = "vpce-0gwlb00000000000a"
TGW = "tgw-0123456789abcdef0"
PCX = "pcx-0123456789abcdef0"


def node_default(target_type: str, target_id: str, *, snapshot: ClusterSnapshot = BASE) -> ClusterSnapshot:
    """Both node subnets route 0.0.0.0/0 to the given target."""
    for table_id, subnet in ((RTB_PRIVATE_A, PRIVATE_A), (RTB_PRIVATE_B, PRIVATE_B)):
        table = RouteTable(
            id=table_id,
            main=False,
            subnet_ids=(subnet,),
            routes=(LOCAL, default_route(target_type, target_id)),
        )
        snapshot = replace_route_table(snapshot, table)
    return snapshot


def firewall(*, behind: str | None) -> ClusterSnapshot:
    """Nodes -> Network Firewall endpoint (not a VPC endpoint) whose subnet routes to `behind` (a NAT id)."""
    snapshot = node_default("vpce", FW_ENDPOINT)
    assert snapshot.network is not None
    routes = (LOCAL, default_route("nat", behind)) if behind else (LOCAL,)
    snapshot = replace_route_table(
        snapshot, RouteTable(id=RTB_FIREWALL, main=False, subnet_ids=(FIREWALL_SUBNET,), routes=routes)
    )
    subnet = Subnet(id=FIREWALL_SUBNET, vpc_id=VPC, cidr="10.0.2.0/28", availability_zone="us-east-1a",
                    available_ips=8)  # fmt: skip
    assert snapshot.network is not None
    return with_network(
        snapshot,
        firewall_endpoints={FW_ENDPOINT: FIREWALL_SUBNET},
        subnets={**snapshot.network.subnets, FIREWALL_SUBNET: subnet},
    )


def gwlb_endpoint() -> ClusterSnapshot:
    """A Gateway Load Balancer endpoint is listed by DescribeVpcEndpoints with its subnet."""
    snapshot = firewall(behind=NAT_A).model_copy(deep=True)
    endpoint = VpcEndpoint(
        id=GWLB_ENDPOINT,
        service_name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
        type="GatewayLoadBalancer",
        state="available",
        subnet_ids=(FIREWALL_SUBNET,),
    )
    return with_network(node_default("vpce", GWLB_ENDPOINT, snapshot=snapshot), firewall_endpoints={},
                        vpc_endpoints=(endpoint,))  # fmt: skip


def tgw(found: TransitGatewayEgress | None, unresolved: str | None = None) -> ClusterSnapshot:
    snapshot = node_default("tgw", TGW)
    return with_network(
        snapshot,
        transit_gateways={TGW: found} if found else {},
        unresolved={TGW: unresolved} if unresolved else {},
    )


def private_nat() -> ClusterSnapshot:
    return with_nat(with_nat(BASE, NAT_A, connectivity="private", public_ips=()), "nat-0bbbbbbbbbbbbbbbb",
                    connectivity="private", public_ips=())  # fmt: skip


TGW_EGRESS = TransitGatewayEgress(
    tgw_id=TGW, verdict="internet", via="tgw-rtb-0a -> tgw-attach-0e (vpc-0egress) -> nat:nat-0e"
)
DENIED = "UnauthorizedOperation on ec2:SearchTransitGatewayRoutes"

TOPOLOGIES = [
    ("igw", lambda: node_default("igw", "igw-0c0ffee0c0ffee000"), "internet", "igw:igw-0c0ffee0c0ffee000"),
    ("public NAT", lambda: BASE, "internet", f"nat:{NAT_A}"),
    ("private NAT", private_nat, "none", f"nat:{NAT_A}"),
    ("NAT instance", lambda: node_default("instance", "i-0abc"), "internet", "instance:i-0abc"),
    ("NAT ENI", lambda: node_default("eni", "eni-0abc"), "internet", "eni:eni-0abc"),
    ("firewall -> NAT", lambda: firewall(behind=NAT_A), "internet", f"vpce:{FW_ENDPOINT} -> nat:{NAT_A}"),
    ("firewall, nothing behind", lambda: firewall(behind=None), "none", f"vpce:{FW_ENDPOINT} -> none"),
    ("GWLB endpoint -> NAT", gwlb_endpoint, "internet", f"vpce:{GWLB_ENDPOINT} -> nat:{NAT_A}"),
    ("unknown vpce", lambda: node_default("vpce", "vpce-0nowhere"), "unverified", "vpce:vpce-0nowhere"),
    ("TGW readable", lambda: tgw(TGW_EGRESS), "internet", f"tgw:{TGW} -> {TGW_EGRESS.via}"),
    ("TGW unreadable", lambda: tgw(None, DENIED), "unverified", f"tgw:{TGW}"),
    (
        "TGW no default",
        lambda: tgw(TransitGatewayEgress(tgw_id=TGW, verdict="none", via="tgw-rtb-0a", reason="no route")),
        "none",
        f"tgw:{TGW} -> tgw-rtb-0a",
    ),
    ("peering", lambda: node_default("pcx", PCX), "none", f"pcx:{PCX}"),
]


@pytest.mark.parametrize(("name", "build", "verdict", "via"), TOPOLOGIES, ids=[t[0] for t in TOPOLOGIES])
def test_egress_verdict_per_topology(name: str, build: object, verdict: str, via: str) -> None:
    snapshot = build()  # type: ignore[operator]
    assert snapshot.network is not None
    egress = snapshot.network.egress(PRIVATE_A)
    assert (egress.verdict, egress.via) == (verdict, via)
    assert snapshot.network.is_isolated(PRIVATE_A) is (verdict == "none")


def test_peering_evidence_says_the_default_route_is_a_peering_connection() -> None:
    snapshot = node_default("pcx", PCX)
    assert snapshot.network is not None
    assert "VPC peering connection" in snapshot.network.egress(PRIVATE_A).reason


def test_unreadable_tgw_reason_names_the_denied_read() -> None:
    snapshot = tgw(None, DENIED)
    assert snapshot.network is not None
    assert snapshot.network.egress(PRIVATE_A).reason == DENIED


def missing(snapshot: ClusterSnapshot) -> dict[str, tuple[Result, Severity | None]]:
    prefix = f"{ARN}/vpc-endpoint/"
    return {
        r.removeprefix(prefix): (o.result, o.severity)
        for r, o in by_resource(run("vpc_endpoint_missing", snapshot)).items()
        if o.result is not Result.NOT_APPLICABLE
    }


def test_firewall_egress_cluster_is_quiet() -> None:
    assert missing(firewall(behind=NAT_A)) == {"egress-unverified": (Result.PASS, None)}


def test_firewall_without_nat_is_isolated_and_needs_endpoints() -> None:
    found = missing(firewall(behind=None))
    assert found["ecr.api"] == (Result.FAIL, Severity.CRITICAL)
    assert found["egress-unverified"] == (Result.PASS, None)


def test_unreadable_tgw_is_low_never_critical() -> None:
    outcomes = by_resource(run("vpc_endpoint_missing", tgw(None, DENIED)))
    unverified = outcomes[f"{ARN}/vpc-endpoint/egress-unverified"]
    assert (unverified.result, unverified.severity) == (Result.FAIL, Severity.LOW)
    assert unverified.evidence == {
        "unverified_subnets": [
            {"subnet_id": PRIVATE_A, "via": f"tgw:{TGW}", "not_verified": DENIED},
            {"subnet_id": PRIVATE_B, "via": f"tgw:{TGW}", "not_verified": DENIED},
        ]
    }
    others = [o for r, o in outcomes.items() if o is not unverified]
    assert {o.result for o in others} == {Result.NOT_APPLICABLE}


def test_readable_tgw_egress_is_quiet() -> None:
    assert missing(tgw(TGW_EGRESS)) == {"egress-unverified": (Result.PASS, None)}


def test_peering_is_isolated() -> None:
    found = missing(node_default("pcx", PCX))
    assert found["ecr.dkr"] == (Result.FAIL, Severity.CRITICAL)


def test_private_nat_blocks_a_public_only_endpoint() -> None:
    snapshot = with_endpoint(private_nat(), public=True, private=False, cidrs=("0.0.0.0/0",))
    outcome = only("endpoint_nodes_blocked_by_cidrs", snapshot)
    assert outcome.result is Result.FAIL
    assert (
        outcome.evidence["blocked_subnets"][0]["reason"] == "no route out (private NAT gateway: no internet)"
    )


def test_firewall_egress_reaches_a_world_open_public_endpoint() -> None:
    snapshot = with_endpoint(firewall(behind=NAT_A), public=True, private=False, cidrs=("0.0.0.0/0",))
    assert only("endpoint_nodes_blocked_by_cidrs", snapshot).result is Result.PASS
