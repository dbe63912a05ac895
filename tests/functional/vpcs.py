"""A moto EC2 client and the smallest routable VPC, for the egress tests (collector and dispatch)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"


@contextmanager
def moto_ec2() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as env, mock_aws():
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        yield boto3.client("ec2", region_name=REGION)


def routed_vpc(ec2: Any, cidr: str) -> tuple[str, str, str]:
    """(vpc, subnet, route table explicitly associated with the subnet) for a /16 `cidr`."""
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace("/16", "/24"), AvailabilityZone="us-east-1a")
    subnet_id = subnet["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet_id)
    return vpc, subnet_id, table
