"""The forecast and ip_capacity_exhaustion_risk on subnets moto creates and fills with ENIs.

moto computes AvailableIpAddressCount like EC2: the CIDR size minus the 5 reserved addresses minus every
address its ENIs hold (primary and secondary). A node in place today is simulated by the ENIs an m5.large
holds when full: 3 ENIs x (1 primary + 9 secondary IPs). Instance limits come from moto's
DescribeInstanceTypes through the collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from eks_auditor.capacity.forecast import forecast_subnets
from eks_auditor.checks.capacity import check_ip_capacity_exhaustion_risk
from eks_auditor.collect.instance_types import clear_cache, describe_instance_types
from eks_auditor.model.check import Result, Severity
from eks_auditor.model.kubernetes import AwsNodeSettings, EniConfig, KubernetesState, Workload
from eks_auditor.model.network import Subnet, VpcNetwork
from eks_auditor.model.snapshot import ClusterInfo, ClusterSnapshot, EndpointAccess, NodeGroup

REGION = "us-east-1"
ARN = f"arn:aws:eks:{REGION}:123456789012:cluster/prod"


@pytest.fixture
def ec2(aws: None) -> Iterator[Any]:
    clear_cache()
    yield boto3.client("ec2", region_name=REGION)
    clear_cache()


def make_subnet(ec2: Any, vpc_id: str, cidr: str, zone: str) -> str:
    return str(ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"])


def place_full_m5_large(ec2: Any, subnet_id: str) -> None:
    for _ in range(3):
        ec2.create_network_interface(SubnetId=subnet_id, SecondaryPrivateIpAddressCount=9)


def read_network(ec2: Any, vpc_id: str) -> VpcNetwork:
    raw = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    subnets = {
        s["SubnetId"]: Subnet(
            id=s["SubnetId"],
            vpc_id=vpc_id,
            cidr=s["CidrBlock"],
            availability_zone=s["AvailabilityZone"],
            available_ips=s["AvailableIpAddressCount"],
        )
        for s in raw
    }
    return VpcNetwork(vpc_id=vpc_id, subnets=subnets)


def snapshot(
    ec2: Any, vpc_id: str, groups: list[NodeGroup], kubernetes: KubernetesState | None = None
) -> ClusterSnapshot:
    types = {t for g in groups for t in g.instance_types}
    return ClusterSnapshot(
        account="123456789012",
        region=REGION,
        name="prod",
        arn=ARN,
        collected_at=datetime(2026, 9, 1, tzinfo=UTC),
        cluster=ClusterInfo(
            status="ACTIVE", endpoint_access=EndpointAccess(public=False, private=True), vpc_id=vpc_id
        ),
        network=read_network(ec2, vpc_id),
        nodegroups=tuple(groups),
        instance_types=describe_instance_types(ec2, REGION, types),
        kubernetes=kubernetes,
        gaps={} if kubernetes else {"kubernetes": "not reachable from the auditor"},
    )


def workers(subnet_ids: tuple[str, ...], **fields: Any) -> NodeGroup:
    base: dict[str, Any] = {
        "name": "workers",
        "instance_types": ("m5.large",),
        "subnet_ids": subnet_ids,
        "min_size": 2,
        "desired_size": 2,
        "max_size": 10,
    }
    base.update(fields)
    return NodeGroup.model_validate(base)


def test_moto_computes_available_ip_address_count(ec2: Any) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_id = make_subnet(ec2, vpc_id, "10.0.0.0/26", "us-east-1a")
    assert read_network(ec2, vpc_id).subnets[subnet_id].available_ips == 64 - 5
    place_full_m5_large(ec2, subnet_id)
    assert read_network(ec2, vpc_id).subnets[subnet_id].available_ips == 64 - 5 - 30


def test_tight_fleet_on_moto_subnets(ec2: Any) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    a = make_subnet(ec2, vpc_id, "10.0.0.0/26", "us-east-1a")
    b = make_subnet(ec2, vpc_id, "10.0.0.64/26", "us-east-1b")
    for subnet_id in (a, b):
        place_full_m5_large(ec2, subnet_id)
    snap = snapshot(ec2, vpc_id, [workers((a, b))])

    forecast = forecast_subnets(snap)
    assert [
        (s.subnet_id, s.free_ips, s.ips_needed_at_max, s.nodes_that_fit, s.fits_at_max)
        for s in forecast.subnets
    ] == [(a, 29, 120, 0, False), (b, 29, 120, 0, False)]

    outcomes = check_ip_capacity_exhaustion_risk(snap)
    assert [(o.resource, o.result, o.severity) for o in outcomes] == [
        (a, Result.FAIL, Severity.CRITICAL),
        (b, Result.FAIL, Severity.CRITICAL),
    ]
    assert outcomes[0].description == (
        "At max size the node groups workers add 4 nodes here needing 120 IPs; 29 are free, "
        "enough for 0 more node(s)."
    )
    assert outcomes[0].evidence["cni_settings_source"] == (
        "assumed defaults (aws-node settings not read): not reachable from the auditor"
    )


def test_27_subnets_with_a_smaller_group(ec2: Any) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    a = make_subnet(ec2, vpc_id, "10.0.0.0/27", "us-east-1a")
    b = make_subnet(ec2, vpc_id, "10.0.0.32/27", "us-east-1b")
    # Empty /27s: 27 free each; one more m5.large per AZ (30 IPs) does not fit.
    snap = snapshot(ec2, vpc_id, [workers((a, b), min_size=0, desired_size=0, max_size=2)])
    outcomes = check_ip_capacity_exhaustion_risk(snap)
    assert [(o.resource, o.result, o.severity, o.evidence["nodes_that_still_fit"]) for o in outcomes] == [
        (a, Result.FAIL, Severity.CRITICAL, 0),
        (b, Result.FAIL, Severity.CRITICAL, 0),
    ]


def test_roomy_fleet_on_moto_subnets(ec2: Any) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    a = make_subnet(ec2, vpc_id, "10.0.0.0/20", "us-east-1a")
    b = make_subnet(ec2, vpc_id, "10.0.16.0/20", "us-east-1b")
    for subnet_id in (a, b):
        place_full_m5_large(ec2, subnet_id)
    snap = snapshot(ec2, vpc_id, [workers((a, b))])
    outcomes = check_ip_capacity_exhaustion_risk(snap)
    assert [(o.resource, o.result) for o in outcomes] == [(a, Result.PASS), (b, Result.PASS)]
    assert {
        k: outcomes[0].evidence[k] for k in ("free_ips", "ips_needed_at_max", "nodes_that_still_fit")
    } == {
        "free_ips": 4096 - 5 - 30,
        "ips_needed_at_max": 120,
        "nodes_that_still_fit": 135,
    }


def test_custom_networking_with_a_secondary_cidr_on_moto(ec2: Any) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="100.64.0.0/16")
    a = make_subnet(ec2, vpc_id, "10.0.0.0/27", "us-east-1a")
    b = make_subnet(ec2, vpc_id, "10.0.0.32/27", "us-east-1b")
    pod_a = make_subnet(ec2, vpc_id, "100.64.0.0/24", "us-east-1a")
    pod_b = make_subnet(ec2, vpc_id, "100.64.1.0/26", "us-east-1b")
    kubernetes = KubernetesState(
        endpoint="https://example.eks",
        aws_node=Workload(kind="DaemonSet", namespace="kube-system", name="aws-node"),
        aws_node_settings=AwsNodeSettings(custom_network_cfg=True, warm_eni_target=1),
        eni_configs=(
            EniConfig(name="us-east-1a", subnet_id=pod_a),
            EniConfig(name="us-east-1b", subnet_id=pod_b),
        ),
    )
    snap = snapshot(ec2, vpc_id, [workers((a, b))], kubernetes)
    outcomes = check_ip_capacity_exhaustion_risk(snap)
    # Node subnets hold 1 IP per node (4 more per AZ); pod subnets 20 per node (18 pods on 2 ENIs):
    # 80 more in each; the /26 has 59 free.
    assert [
        (o.resource, o.result, o.evidence["subnet_role"], o.evidence["ips_needed_at_max"]) for o in outcomes
    ] == [
        (a, Result.PASS, "node", 4),
        (pod_a, Result.PASS, "pod", 80),
        (b, Result.PASS, "node", 4),
        (pod_b, Result.FAIL, "pod", 80),
    ]
    assert outcomes[3].severity == Severity.CRITICAL
    assert outcomes[3].evidence["nodes_that_still_fit"] == 2
    assert outcomes[3].evidence["cni_settings_source"] == "read from the aws-node DaemonSet"
