"""A route change inside an egress VPC re-audits the VPCs a transit gateway sends 0.0.0.0/0 to it.

The world: spokes A and B associated with one TGW route table whose 0.0.0.0/0 leads to the hub's
attachment, spoke C associated with a table without a default route, and the hub (the egress VPC, its NAT
gateway behind its attachment subnet's route table).

moto keeps attachments, route tables and associations (used as they are) but drops
`TransitGatewayAttachments` from SearchTransitGatewayRoutes, so that one operation is answered with a
recorded-shape response (botocore's before-call hook, as Stubber does), the shape used in
test_collect_egress.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from eks_auditor.dispatch import Scope, resolve_scope
from eks_auditor.triggers import VpcReference
from vpcs import moto_ec2, routed_vpc


@pytest.fixture
def ec2() -> Iterator[Any]:
    with moto_ec2() as client:
        yield client


@pytest.fixture
def world(ec2: Any) -> dict[str, Any]:
    tgw = ec2.create_transit_gateway(
        Options={"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"}
    )["TransitGateway"]["TransitGatewayId"]
    vpcs: dict[str, tuple[str, str, str]] = {}
    attachments: dict[str, str] = {}
    cidrs = {"a": "10.1.0.0/16", "b": "10.2.0.0/16", "c": "10.3.0.0/16", "hub": "10.9.0.0/16"}
    for name, cidr in cidrs.items():
        vpcs[name] = routed_vpc(ec2, cidr)
        attachments[name] = ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw, VpcId=vpcs[name][0], SubnetIds=[vpcs[name][1]]
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
    spokes, isolated = (
        ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"][
            "TransitGatewayRouteTableId"
        ]
        for _ in range(2)
    )
    for name, table in (("a", spokes), ("b", spokes), ("c", isolated)):
        ec2.associate_transit_gateway_route_table(
            TransitGatewayRouteTableId=table, TransitGatewayAttachmentId=attachments[name]
        )
    unrelated = routed_vpc(ec2, "10.7.0.0/16")  # no attachment: not an egress VPC
    return {"tgw": tgw, "vpcs": vpcs, "attachments": attachments, "spokes": spokes, "unrelated": unrelated}


def _recorded_search(ec2: Any, world: dict[str, Any]) -> list[str]:
    """SearchTransitGatewayRoutes as AWS answers it: the spokes' table sends 0.0.0.0/0 to the hub's
    attachment; the other table has no default route. Returns the tables searched."""
    searched: list[str] = []
    hub_vpc, attachment = world["vpcs"]["hub"][0], world["attachments"]["hub"]

    def answer(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        table = params["body"]["TransitGatewayRouteTableId"]  # the serialized query request
        searched.append(table)
        routes = (
            [
                {
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "TransitGatewayAttachments": [
                        {
                            "ResourceId": hub_vpc,
                            "TransitGatewayAttachmentId": attachment,
                            "ResourceType": "vpc",
                        }
                    ],
                    "Type": "static",
                    "State": "active",
                }
            ]
            if table == world["spokes"]
            else []
        )
        response = {"Routes": routes, "AdditionalRoutesAvailable": False}
        return AWSResponse("https://ec2.us-east-1.amazonaws.com/", 200, {}, None), response

    ec2.meta.events.register("before-call.ec2.SearchTransitGatewayRoutes", answer)
    return searched


def _scope(ec2: Any, **ids: tuple[str, ...]) -> Scope | None:
    return resolve_scope(VpcReference(ids=ids), ec2)


def test_route_change_in_the_egress_vpc_reaches_its_spokes(ec2: Any, world: dict[str, Any]) -> None:
    searched = _recorded_search(ec2, world)
    hub, a, b = (world["vpcs"][n][0] for n in ("hub", "a", "b"))

    scope = _scope(ec2, route_table=(world["vpcs"]["hub"][2],))

    assert scope == Scope(vpcs=frozenset({hub, a, b}))
    assert world["spokes"] in searched
    # Spoke C's table has no default route to the hub: C's egress did not change.
    assert world["vpcs"]["c"][0] not in scope.vpcs


def test_nat_gateway_change_in_the_egress_vpc_reaches_the_spokes(ec2: Any, world: dict[str, Any]) -> None:
    _recorded_search(ec2, world)
    hub_vpc, hub_subnet, _ = world["vpcs"]["hub"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=hub_subnet, AllocationId=eip)["NatGateway"]["NatGatewayId"]

    scope = _scope(ec2, nat_gateway=(nat,))

    assert scope is not None
    assert scope.vpcs == {hub_vpc, world["vpcs"]["a"][0], world["vpcs"]["b"][0]}


def test_route_change_in_a_spoke_does_not_fan_out(ec2: Any, world: dict[str, Any]) -> None:
    _recorded_search(ec2, world)
    # A's routes: no TGW route table sends 0.0.0.0/0 to A's attachment.
    assert _scope(ec2, route_table=(world["vpcs"]["a"][2],)) == Scope(vpcs=frozenset({world["vpcs"]["a"][0]}))
    # A VPC attached to nothing: no transit gateway read beyond the attachment lookup.
    unrelated_vpc, _, unrelated_table = world["unrelated"]
    assert _scope(ec2, route_table=(unrelated_table,)) == Scope(vpcs=frozenset({unrelated_vpc}))


def test_unsearchable_routes_take_every_vpc_attached_to_the_gateway(ec2: Any, world: dict[str, Any]) -> None:
    def denied(**_: Any) -> None:
        error = {"Error": {"Code": "UnauthorizedOperation", "Message": "not authorized"}}
        raise ClientError(error, "SearchTransitGatewayRoutes")  # type: ignore[arg-type]

    ec2.meta.events.register("before-call.ec2.SearchTransitGatewayRoutes", denied)

    scope = _scope(ec2, route_table=(world["vpcs"]["hub"][2],))

    assert scope is not None
    assert scope.vpcs == {world["vpcs"][n][0] for n in ("a", "b", "c", "hub")}
