"""VPC network collection: normalization (moto), blackhole routes (botocore Stubber), per-VPC reuse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from eks_auditor.collect.clients import AwsClients, CallCounter
from eks_auditor.collect.network import collect_vpc_network, route_target
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.model.network import (
    IngressRule,
    NatGateway,
    Route,
    RouteTable,
    Subnet,
    VpcEndpoint,
    VpcNetwork,
)

from eks_auditor_tools.fleet import ClusterIds, Fleet, VpcIds

REGION = "us-east-1"
NETWORK = frozenset({"network"})
VPC_CALLS = (
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeRouteTables",
    "ec2:DescribeNatGateways",
    "ec2:DescribeVpcEndpoints",
)
# Two per VPC: enableDnsSupport and enableDnsHostnames are separate DescribeVpcAttribute calls; one
# DescribeSecurityGroups per VPC for its interface endpoints' groups.
DNS_CALLS = {"ec2:DescribeVpcAttribute": 4, "ec2:DescribeSecurityGroups": 2}


@dataclass(frozen=True)
class World:
    vpc: VpcIds
    endpoints: dict[str, str]
    other_vpc: VpcIds
    first: ClusterIds


@pytest.fixture(scope="module")
def world(module_aws: boto3.Session) -> World:
    fleet = Fleet(REGION, module_aws)
    vpc = fleet.create_vpc(isolated=True, secondary_cidrs=["100.64.0.0/16"])
    endpoints = fleet.add_endpoints(vpc, ["s3", "ecr.api", "ecr.dkr"])
    first = fleet.create_cluster("first", vpc.private_subnet_ids)
    fleet.create_cluster("second", vpc.isolated_subnet_ids, public=False, private=True)
    other = fleet.create_vpc(cidr="10.9.0.0/16", azs=("a",), nat="single")
    fleet.add_endpoints(other, ["sts"])
    fleet.create_cluster("elsewhere", other.private_subnet_ids)
    return World(vpc=vpc, endpoints=endpoints, other_vpc=other, first=first)


def collector(counter: CallCounter | None = None) -> SnapshotCollector:
    return SnapshotCollector(AwsClients(boto3.Session(region_name=REGION), counter=counter))


def network_of(cluster: str, counter: CallCounter | None = None) -> VpcNetwork:
    snapshot = collector(counter).collect(REGION, cluster, NETWORK)
    assert snapshot.gaps == {}
    assert snapshot.network is not None
    return snapshot.network


def test_subnets_and_cidrs(world: World) -> None:
    network = network_of("first")
    vpc = world.vpc
    assert network.vpc_id == vpc.vpc_id
    assert network.cidr_blocks == ("10.0.0.0/16", "100.64.0.0/16")
    assert set(network.subnets) == {*vpc.public_subnet_ids, *vpc.private_subnet_ids, *vpc.isolated_subnet_ids}
    public_a = network.subnets[vpc.public_subnet_ids[0]]
    assert public_a == Subnet(
        id=vpc.public_subnet_ids[0],
        vpc_id=vpc.vpc_id,
        cidr="10.0.0.0/24",
        availability_zone="us-east-1a",
        # /24: 256 - 5 reserved - the NAT gateway's ENI in this subnet.
        available_ips=250,
        map_public_ip_on_launch=True,
        tags={"Name": "public-us-east-1a"},
    )
    private_b = network.subnets[vpc.private_subnet_ids[1]]
    assert (private_b.cidr, private_b.availability_zone, private_b.map_public_ip_on_launch) == (
        "10.0.32.0/20",
        "us-east-1b",
        False,
    )


def test_route_tables_main_flag_associations_and_targets(world: World) -> None:
    network = network_of("first")
    vpc = world.vpc
    tables = {t.id: t for t in network.route_tables}
    assert tables[vpc.main_route_table_id] == RouteTable(
        id=vpc.main_route_table_id,
        main=True,
        subnet_ids=(),
        routes=(
            Route(destination="10.0.0.0/16", target_type="local", target_id="local"),
            Route(destination="100.64.0.0/16", target_type="local", target_id="local"),
        ),
    )
    assert vpc.public_route_table_id is not None
    public = tables[vpc.public_route_table_id]
    assert (public.main, public.subnet_ids) == (False, vpc.public_subnet_ids)
    assert public.default_route() == Route(
        destination="0.0.0.0/0", target_type="igw", target_id=vpc.internet_gateway_id or ""
    )
    for subnet_id, nat_id in zip(vpc.private_subnet_ids, vpc.nat_gateway_ids, strict=True):
        table = network.route_table_for(subnet_id)
        assert table is not None
        assert table.subnet_ids == (subnet_id,)
        assert table.default_route() == Route(destination="0.0.0.0/0", target_type="nat", target_id=nat_id)
        # The S3 gateway endpoint adds a prefix-list route to the tables it is associated with.
        assert [(r.target_type, r.target_id) for r in table.routes if r.destination.startswith("pl-")] == [
            ("vpce", world.endpoints["s3"])
        ]
    for subnet_id in vpc.isolated_subnet_ids:
        assert network.is_isolated(subnet_id)
        assert network.route_table_for(subnet_id) == tables[vpc.isolated_route_table_id or ""]


def test_subnet_without_explicit_association_uses_the_main_table(world: World) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    loose = ec2.create_subnet(VpcId=world.other_vpc.vpc_id, CidrBlock="10.9.200.0/24")["Subnet"]["SubnetId"]
    try:
        network = collect_vpc_network(ec2, world.other_vpc.vpc_id)
        table = network.route_table_for(loose)
        assert table is not None
        assert (table.id, table.main) == (world.other_vpc.main_route_table_id, True)
        assert network.is_isolated(loose)
    finally:
        ec2.delete_subnet(SubnetId=loose)


def test_nat_gateway_public_ips_are_their_elastic_ips(world: World) -> None:
    network = network_of("first")
    vpc = world.vpc
    assert network.nat_gateways == {
        nat_id: NatGateway(id=nat_id, subnet_id=subnet_id, state="available", public_ips=(ip,))
        for nat_id, subnet_id, ip in zip(
            vpc.nat_gateway_ids, vpc.public_subnet_ids, vpc.nat_public_ips, strict=True
        )
    }


def test_vpc_endpoints_of_this_vpc_only(world: World) -> None:
    network = network_of("first")
    vpc = world.vpc
    by_service = {e.service_name: e for e in network.vpc_endpoints}
    assert set(by_service) == {
        "com.amazonaws.us-east-1.s3",
        "com.amazonaws.us-east-1.ecr.api",
        "com.amazonaws.us-east-1.ecr.dkr",
    }
    s3 = by_service["com.amazonaws.us-east-1.s3"]
    assert (s3.type, s3.state, s3.subnet_ids) == ("Gateway", "available", ())
    assert set(s3.route_table_ids) == {*vpc.private_route_table_ids, vpc.isolated_route_table_id}
    ecr_api = by_service["com.amazonaws.us-east-1.ecr.api"]
    assert ecr_api == VpcEndpoint(
        id=world.endpoints["ecr.api"],
        service_name="com.amazonaws.us-east-1.ecr.api",
        type="Interface",
        state="available",
        private_dns_enabled=True,
        subnet_ids=vpc.isolated_subnet_ids,
        security_group_ids=ecr_api.security_group_ids,
    )
    # The fleet's endpoint group: HTTPS from both VPC CIDR blocks, read with the network.
    (group,) = ecr_api.security_group_ids
    assert network.endpoint_security_groups[group].ingress == (
        IngressRule(protocol="tcp", from_port=443, to_port=443, cidrs=("10.0.0.0/16", "100.64.0.0/16")),
    )
    assert network.endpoint_security_groups_unread == ""
    assert network.endpoints_for("ecr.dkr", REGION)[0].id == world.endpoints["ecr.dkr"]
    assert network.endpoints_for("sts", REGION) == ()


def test_two_clusters_in_one_vpc_share_one_network_collection(world: World) -> None:
    counter = CallCounter()
    scan = collector(counter)
    first = scan.collect(REGION, "first", NETWORK)
    second = scan.collect(REGION, "second", NETWORK)
    elsewhere = scan.collect(REGION, "elsewhere", NETWORK)
    assert first.network is second.network
    assert elsewhere.network is not None
    assert elsewhere.network.vpc_id == world.other_vpc.vpc_id
    # One call of each per VPC: two VPCs, three clusters.
    assert counter.calls == {"eks:DescribeCluster": 3, **dict.fromkeys(VPC_CALLS, 2), **DNS_CALLS}


def test_a_new_scan_reads_the_network_again(world: World) -> None:
    counter = CallCounter()
    scan = collector(counter)
    scan.collect(REGION, "first", NETWORK)
    scan.start_scan()
    scan.collect(REGION, "second", NETWORK)
    assert {call: counter[call] for call in VPC_CALLS} == dict.fromkeys(VPC_CALLS, 2)


def test_endpoint_groups_keep_source_groups_and_a_denied_read_is_recorded(world: World) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    node_sg = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=world.vpc.vpc_id)[
        "GroupId"
    ]
    endpoint_sg = ec2.create_security_group(
        GroupName="endpoints-from-nodes", Description="endpoints", VpcId=world.vpc.vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=endpoint_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": node_sg}]}
        ],
    )
    endpoint = ec2.create_vpc_endpoint(
        VpcId=world.vpc.vpc_id,
        ServiceName="com.amazonaws.us-east-1.eks",
        VpcEndpointType="Interface",
        SubnetIds=list(world.vpc.isolated_subnet_ids),
        SecurityGroupIds=[endpoint_sg],
    )["VpcEndpoint"]["VpcEndpointId"]
    try:
        network = collect_vpc_network(ec2, world.vpc.vpc_id)
        (rule,) = network.endpoint_security_groups[endpoint_sg].ingress
        assert (rule.source_groups, rule.cidrs) == ((node_sg,), ())

        def denied(**_: Any) -> None:
            error = {"Error": {"Code": "UnauthorizedOperation", "Message": "not authorized"}}
            raise ClientError(error, "DescribeSecurityGroups")  # type: ignore[arg-type]

        ec2.meta.events.register("before-call.ec2.DescribeSecurityGroups", denied)
        unread = collect_vpc_network(ec2, world.vpc.vpc_id)
        assert unread.endpoint_security_groups == {}
        assert unread.endpoint_security_groups_unread == (
            "UnauthorizedOperation on ec2:DescribeSecurityGroups: not authorized"
        )
        assert unread.subnets == network.subnets  # the rest of the network is still collected
    finally:
        ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])


# Shapes moto does not produce (blackhole routes, private NAT, every route target): botocore Stubber,
# with responses written from the EC2 API reference and the AWS CLI's describe-route-tables example.


def stubbed_network(
    route_tables: list[dict[str, Any]], nat_gateways: list[dict[str, Any]] | None = None
) -> VpcNetwork:
    ec2 = AwsClients(boto3.Session(region_name=REGION)).ec2(REGION)
    by_vpc = [{"Name": "vpc-id", "Values": ["vpc-0065acced4EXAMPLE"]}]
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_vpcs",
            {"Vpcs": [{"VpcId": "vpc-0065acced4EXAMPLE", "CidrBlock": "10.0.0.0/16"}]},
            {"VpcIds": ["vpc-0065acced4EXAMPLE"]},
        )
        stub.add_response("describe_subnets", {"Subnets": []}, {"Filters": by_vpc})
        stub.add_response("describe_route_tables", {"RouteTables": route_tables}, {"Filters": by_vpc})
        stub.add_response("describe_nat_gateways", {"NatGateways": nat_gateways or []}, {"Filter": by_vpc})
        stub.add_response("describe_vpc_endpoints", {"VpcEndpoints": []}, {"Filters": by_vpc})
        network = collect_vpc_network(ec2, "vpc-0065acced4EXAMPLE")
        stub.assert_no_pending_responses()
    return network


def test_blackhole_route_is_inactive_and_the_subnet_isolated() -> None:
    network = stubbed_network(
        [
            {
                "RouteTableId": "rtb-09ba434c1bEXAMPLE",
                "VpcId": "vpc-0065acced4EXAMPLE",
                "Associations": [
                    {
                        "Main": False,
                        "RouteTableAssociationId": "rtbassoc-1",
                        "RouteTableId": "rtb-09ba434c1bEXAMPLE",
                        "SubnetId": "subnet-0d3d002af8EXAMPLE",
                        "AssociationState": {"State": "associated"},
                    }
                ],
                "Routes": [
                    {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                    # The NAT gateway was deleted: EC2 keeps the route, in state blackhole.
                    {
                        "DestinationCidrBlock": "0.0.0.0/0",
                        "NatGatewayId": "nat-06c018cbd8EXAMPLE",
                        "Origin": "CreateRoute",
                        "State": "blackhole",
                    },
                ],
            }
        ]
    )
    (table,) = network.route_tables
    assert table.routes[1] == Route(
        destination="0.0.0.0/0", target_type="nat", target_id="nat-06c018cbd8EXAMPLE", active=False
    )
    assert table.default_route() is None
    assert network.is_isolated("subnet-0d3d002af8EXAMPLE")


def test_disassociated_association_and_main_flag() -> None:
    network = stubbed_network(
        [
            {
                "RouteTableId": "rtb-main",
                "Associations": [
                    {"Main": True, "RouteTableAssociationId": "rtbassoc-m", "RouteTableId": "rtb-main"}
                ],
                "Routes": [],
            },
            {
                "RouteTableId": "rtb-old",
                "Associations": [
                    {
                        "Main": False,
                        "RouteTableAssociationId": "rtbassoc-o",
                        "SubnetId": "subnet-a",
                        "AssociationState": {"State": "disassociating"},
                    },
                    {
                        "Main": False,
                        "RouteTableAssociationId": "rtbassoc-g",
                        "GatewayId": "igw-1",
                        "AssociationState": {"State": "associated"},
                    },
                ],
                "Routes": [],
            },
        ]
    )
    assert [(t.id, t.main, t.subnet_ids) for t in network.route_tables] == [
        ("rtb-main", True, ()),
        ("rtb-old", False, ()),
    ]
    assert network.route_table_for("subnet-a") == network.route_tables[0]


def test_private_nat_gateway_has_no_public_ip() -> None:
    # Shape of the AWS CLI's describe-nat-gateways example 2 (a private NAT gateway).
    network = stubbed_network(
        [],
        [
            {
                "NatGatewayId": "nat-1234567890abcdef0",
                "SubnetId": "subnet-08fc749671EXAMPLE",
                "VpcId": "vpc-0065acced4EXAMPLE",
                "State": "available",
                "ConnectivityType": "private",
                "NatGatewayAddresses": [
                    {
                        "NetworkInterfaceId": "eni-0065a61b324d1897a",
                        "PrivateIp": "10.0.20.240",
                        "IsPrimary": True,
                    }
                ],
            }
        ],
    )
    assert network.nat_gateways["nat-1234567890abcdef0"] == NatGateway(
        id="nat-1234567890abcdef0",
        subnet_id="subnet-08fc749671EXAMPLE",
        state="available",
        public_ips=(),
        connectivity="private",
    )


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ({"GatewayId": "local"}, ("local", "local")),
        ({"GatewayId": "igw-1"}, ("igw", "igw-1")),
        ({"GatewayId": "vpce-1"}, ("vpce", "vpce-1")),
        ({"GatewayId": "vgw-1"}, ("other", "vgw-1")),
        ({"NatGatewayId": "nat-1"}, ("nat", "nat-1")),
        ({"EgressOnlyInternetGatewayId": "eigw-1"}, ("eigw", "eigw-1")),
        ({"TransitGatewayId": "tgw-1"}, ("tgw", "tgw-1")),
        ({"VpcPeeringConnectionId": "pcx-1"}, ("pcx", "pcx-1")),
        ({"NetworkInterfaceId": "eni-1"}, ("eni", "eni-1")),
        # A route to an instance names its ENI as well: the instance is the target.
        ({"InstanceId": "i-1", "InstanceOwnerId": "1", "NetworkInterfaceId": "eni-1"}, ("instance", "i-1")),
        ({"CarrierGatewayId": "cagw-1"}, ("other", "cagw-1")),
    ],
)
def test_route_target_types(route: dict[str, str], expected: tuple[str, str]) -> None:
    assert route_target(route) == expected


@pytest.mark.parametrize("cluster", ["first", "elsewhere"])
def test_reads_made_together_give_the_network_read_one_at_a_time(world: World, cluster: str) -> None:
    # The runtime reads a VPC's network with its independent calls together (VPC_READS_IN_FLIGHT);
    # `scan --max-concurrency 1` reads them in turn. Same calls, same network.
    together, in_turn = CallCounter(), CallCounter()
    parallel = SnapshotCollector(
        AwsClients(boto3.Session(region_name=REGION), counter=together), network_reads_in_flight=7
    ).collect(REGION, cluster, NETWORK)
    sequential = collector(in_turn).collect(REGION, cluster, NETWORK)
    assert parallel.gaps == sequential.gaps == {}
    assert parallel.network == sequential.network
    assert together.calls == in_turn.calls
