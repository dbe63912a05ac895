"""What the network collector finds behind default routes to firewalls and transit gateways.

moto gaps, covered with recorded real-shaped responses (say so where used):
- Network Firewall: moto lacks the policy API and does not list firewall endpoints among VPC endpoints,
  so ListFirewalls / DescribeFirewall are answered by botocore's Stubber with the shapes of the
  Network Firewall API reference (FirewallStatus.SyncStates: one attachment per AZ).
- Transit gateways: moto keeps attachments and route-table associations (used here as is), but drops
  `TransitGatewayAttachments` from SearchTransitGatewayRoutes and shows no propagated routes, so that one
  operation is answered with a recorded-shape response (botocore's before-call hook, as Stubber does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from eks_auditor.collect.network import KNOWN_EGRESS_REASON, collect_vpc_network
from vpcs import REGION, moto_ec2, routed_vpc


@pytest.fixture
def ec2() -> Iterator[Any]:
    with moto_ec2() as client:
        yield client


def _nat_in(ec2: Any, vpc: str, table: str) -> str:
    """A public NAT gateway in its own subnet, and `table`'s default route to it."""
    public = ec2.create_subnet(VpcId=vpc, CidrBlock=_next_cidr(ec2, vpc), AvailabilityZone="us-east-1a")
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public["Subnet"]["SubnetId"], AllocationId=eip)
    nat_id = nat["NatGateway"]["NatGatewayId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)
    return str(nat_id)


def _next_cidr(ec2: Any, vpc: str) -> str:
    block = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["CidrBlock"]
    return block.replace(".0.0/16", ".9.0/24")


# --- Network Firewall ------------------------------------------------------------------------------


def _unlisted_endpoint(ec2: Any, vpc: str, table: str, subnet: str) -> str:
    """A `vpce-` route target that DescribeVpcEndpoints does not list as usable, like a firewall endpoint.

    moto validates CreateRoute's endpoint id and creates no firewall endpoints: route to a GWLB endpoint,
    then delete it (the route stays, as in AWS until it is replaced)."""
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc,
        VpcEndpointType="GatewayLoadBalancer",
        ServiceName="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
        SubnetIds=[subnet],
    )["VpcEndpoint"]["VpcEndpointId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", VpcEndpointId=endpoint)
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    return str(endpoint)


def _firewall_client(vpc: str, endpoint: str, subnet: str) -> Any:
    client = boto3.client("network-firewall", region_name=REGION)
    stub = Stubber(client)
    arn = f"arn:aws:network-firewall:{REGION}:123456789012:firewall/egress-inspection"
    stub.add_response(
        "list_firewalls",
        {"Firewalls": [{"FirewallName": "egress-inspection", "FirewallArn": arn}]},
        {"VpcIds": [vpc]},
    )
    stub.add_response(
        "describe_firewall",
        {
            "UpdateToken": "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
            "Firewall": {
                "FirewallName": "egress-inspection",
                "FirewallArn": arn,
                "FirewallPolicyArn": f"arn:aws:network-firewall:{REGION}:123456789012:firewall-policy/p",
                "VpcId": vpc,
                "SubnetMappings": [{"SubnetId": subnet}],
                "FirewallId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
            },
            "FirewallStatus": {
                "Status": "READY",
                "ConfigurationSyncStateSummary": "IN_SYNC",
                "SyncStates": {
                    "us-east-1a": {
                        "Attachment": {"SubnetId": subnet, "EndpointId": endpoint, "Status": "READY"},
                        "Config": {},
                    }
                },
            },
        },
        {"FirewallArn": arn},
    )
    stub.activate()
    return client


def test_firewall_endpoint_followed_to_the_nat_behind_it(ec2: Any) -> None:
    vpc, node_subnet, node_table = routed_vpc(ec2, "10.0.0.0/16")
    firewall_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/28", AvailabilityZone="us-east-1a")
    firewall_subnet_id = firewall_subnet["Subnet"]["SubnetId"]
    firewall_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=firewall_table, SubnetId=firewall_subnet_id)
    nat = _nat_in(ec2, vpc, firewall_table)
    endpoint = _unlisted_endpoint(ec2, vpc, node_table, firewall_subnet_id)
    client = _firewall_client(vpc, endpoint, firewall_subnet_id)

    network = collect_vpc_network(ec2, vpc, firewall=lambda: client)

    assert network.firewall_endpoints == {endpoint: firewall_subnet_id}
    egress = network.egress(node_subnet)
    assert (egress.verdict, egress.via) == ("internet", f"vpce:{endpoint} -> nat:{nat}")


def test_denied_firewall_read_leaves_egress_unverified(ec2: Any) -> None:
    vpc, node_subnet, node_table = routed_vpc(ec2, "10.0.0.0/16")
    _unlisted_endpoint(ec2, vpc, node_table, node_subnet)
    client = boto3.client("network-firewall", region_name=REGION)
    stub = Stubber(client)
    stub.add_client_error("list_firewalls", "AccessDeniedException", "not authorized", 400)
    stub.activate()

    network = collect_vpc_network(ec2, vpc, firewall=lambda: client)

    egress = network.egress(node_subnet)
    assert egress.verdict == "unverified"
    assert egress.reason == "AccessDeniedException on network-firewall:ListFirewalls: not authorized"


# --- transit gateways ------------------------------------------------------------------------------


def _tgw_world(ec2: Any) -> dict[str, str]:
    spoke, spoke_subnet, spoke_table = routed_vpc(ec2, "10.1.0.0/16")
    hub, hub_subnet, hub_table = routed_vpc(ec2, "10.2.0.0/16")
    nat = _nat_in(ec2, hub, hub_table)
    tgw = ec2.create_transit_gateway(
        Description="network account hub",
        Options={"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"},
    )["TransitGateway"]["TransitGatewayId"]
    tgw_table = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"][
        "TransitGatewayRouteTableId"
    ]
    attachments = {}
    for name, vpc, subnet in (("spoke", spoke, spoke_subnet), ("hub", hub, hub_subnet)):
        attachment = ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[subnet]
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        attachments[name] = attachment
    ec2.associate_transit_gateway_route_table(
        TransitGatewayRouteTableId=tgw_table, TransitGatewayAttachmentId=attachments["spoke"]
    )
    # moto may report the attachment under another table it created: use the association it reports.
    reported = ec2.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[attachments["spoke"]])
    tgw_table = reported["TransitGatewayAttachments"][0]["Association"]["TransitGatewayRouteTableId"]
    ec2.create_route(RouteTableId=spoke_table, DestinationCidrBlock="0.0.0.0/0", TransitGatewayId=tgw)
    return {
        "spoke": spoke,
        "spoke_subnet": spoke_subnet,
        "hub": hub,
        "hub_attachment": attachments["hub"],
        "tgw": tgw,
        "tgw_table": tgw_table,
        "nat": nat,
    }


def _recorded_search(ec2: Any, response: dict[str, Any]) -> None:
    def answer(**_: Any) -> tuple[Any, dict[str, Any]]:
        return AWSResponse("https://ec2.us-east-1.amazonaws.com/", 200, {}, None), response

    ec2.meta.events.register("before-call.ec2.SearchTransitGatewayRoutes", answer)


def test_transit_gateway_followed_to_the_egress_vpc_nat(ec2: Any) -> None:
    world = _tgw_world(ec2)
    _recorded_search(
        ec2,
        {
            "Routes": [
                {
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "TransitGatewayAttachments": [
                        {
                            "ResourceId": world["hub"],
                            "TransitGatewayAttachmentId": world["hub_attachment"],
                            "ResourceType": "vpc",
                        }
                    ],
                    "Type": "static",
                    "State": "active",
                }
            ],
            "AdditionalRoutesAvailable": False,
        },
    )

    network = collect_vpc_network(ec2, world["spoke"])

    egress = network.egress(world["spoke_subnet"])
    assert egress.verdict == "internet"
    assert egress.via == (
        f"tgw:{world['tgw']} -> {world['tgw_table']} -> {world['hub_attachment']} ({world['hub']}) "
        f"-> nat:{world['nat']}"
    )


def test_transit_gateway_without_a_default_route_is_isolated(ec2: Any) -> None:
    world = _tgw_world(ec2)
    _recorded_search(ec2, {"Routes": [], "AdditionalRoutesAvailable": False})
    egress = collect_vpc_network(ec2, world["spoke"]).egress(world["spoke_subnet"])
    assert (egress.verdict, egress.reason) == (
        "none",
        f"TGW route table {world['tgw_table']} has no 0.0.0.0/0 route",
    )


def test_transit_gateway_route_tables_unreadable_is_unverified(ec2: Any) -> None:
    world = _tgw_world(ec2)

    def denied(**_: Any) -> None:
        from botocore.exceptions import ClientError

        error = {"Error": {"Code": "UnauthorizedOperation", "Message": "not authorized"}}
        raise ClientError(error, "SearchTransitGatewayRoutes")  # type: ignore[arg-type]

    ec2.meta.events.register("before-call.ec2.SearchTransitGatewayRoutes", denied)
    egress = collect_vpc_network(ec2, world["spoke"]).egress(world["spoke_subnet"])
    assert (egress.verdict, egress.reason) == (
        "unverified",
        "UnauthorizedOperation on ec2:SearchTransitGatewayRoutes: not authorized",
    )


def test_declared_transit_gateway_is_egress_without_reading_it(ec2: Any) -> None:
    world = _tgw_world(ec2)
    network = collect_vpc_network(ec2, world["spoke"], known_egress_tgws=frozenset({world["tgw"]}))
    egress = network.egress(world["spoke_subnet"])
    assert (egress.verdict, egress.via) == ("internet", f"tgw:{world['tgw']} -> {KNOWN_EGRESS_REASON}")
