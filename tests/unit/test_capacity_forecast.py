"""Subnet headroom forecast: node groups spread over AZs, footprints per subnet, /28 blocks, ENIConfigs."""

from __future__ import annotations

from datetime import UTC, datetime

from eks_auditor.capacity.forecast import forecast_subnets
from eks_auditor.model.kubernetes import AwsNodeSettings, EniConfig, KubernetesState
from eks_auditor.model.network import Subnet, VpcNetwork
from eks_auditor.model.snapshot import (
    ClusterInfo,
    ClusterSnapshot,
    EndpointAccess,
    InstanceTypeInfo,
    NodeGroup,
)

ARN = "arn:aws:eks:us-east-1:111122223333:cluster/prod"
M5_LARGE = InstanceTypeInfo(name="m5.large", vcpus=2, hypervisor="nitro", max_enis=3, ipv4_per_eni=10)
M5_XLARGE = InstanceTypeInfo(name="m5.xlarge", vcpus=4, hypervisor="nitro", max_enis=4, ipv4_per_eni=15)
TYPES = {t.name: t for t in (M5_LARGE, M5_XLARGE)}


def subnet(subnet_id: str, cidr: str, zone: str, free: int) -> Subnet:
    return Subnet(id=subnet_id, vpc_id="vpc-1", cidr=cidr, availability_zone=zone, available_ips=free)


def group(name: str = "workers", **fields: object) -> NodeGroup:
    base: dict[str, object] = {
        "name": name,
        "instance_types": ("m5.large",),
        "subnet_ids": ("subnet-a", "subnet-b"),
        "min_size": 2,
        "desired_size": 2,
        "max_size": 10,
    }
    base.update(fields)
    return NodeGroup.model_validate(base)


def snapshot(
    subnets: list[Subnet],
    groups: list[NodeGroup],
    *,
    kubernetes: KubernetesState | None = None,
    types: dict[str, InstanceTypeInfo] | None = None,
) -> ClusterSnapshot:
    return ClusterSnapshot(
        account="111122223333",
        region="us-east-1",
        name="prod",
        arn=ARN,
        collected_at=datetime(2026, 9, 1, tzinfo=UTC),
        cluster=ClusterInfo(
            status="ACTIVE", endpoint_access=EndpointAccess(public=False, private=True), vpc_id="vpc-1"
        ),
        network=VpcNetwork(vpc_id="vpc-1", subnets={s.id: s for s in subnets}),
        nodegroups=tuple(groups),
        instance_types=TYPES if types is None else types,
        kubernetes=kubernetes,
        gaps={} if kubernetes else {"kubernetes": "endpoint private, auditor outside the VPC"},
    )


def k8s(
    settings: AwsNodeSettings | None, eni_configs: tuple[EniConfig, ...] | None = None
) -> KubernetesState:
    return KubernetesState(
        endpoint="https://example.eks", aws_node_settings=settings, eni_configs=eni_configs
    )


def test_tight_fleet_two_26_subnets() -> None:
    snap = snapshot(
        [
            subnet("subnet-a", "10.0.0.0/26", "us-east-1a", 29),
            subnet("subnet-b", "10.0.0.64/26", "us-east-1b", 29),
        ],
        [group()],
    )
    forecast = forecast_subnets(snap)
    assert forecast.gaps == ()
    assert [s.subnet_id for s in forecast.subnets] == ["subnet-a", "subnet-b"]
    a = forecast.subnet("subnet-a")
    assert a is not None
    assert (a.usable_ips, a.free_ips, a.percent_free) == (59, 29, 49.2)
    assert (a.nodes_now, a.nodes_at_max, a.additional_nodes) == (1, 5, 4)
    assert (a.ips_per_node, a.ips_needed_at_max, a.nodes_that_fit) == (30, 120, 0)
    assert a.fits_at_max is False
    assert a.role == "node+pod"
    assert a.prefix_delegation is False and a.free_prefix_blocks is None
    assert forecast.settings.read is False


def test_roomy_fleet_two_20_subnets() -> None:
    snap = snapshot(
        [
            subnet("subnet-a", "10.0.0.0/20", "us-east-1a", 4031),
            subnet("subnet-b", "10.0.16.0/20", "us-east-1b", 4031),
        ],
        [group()],
    )
    b = forecast_subnets(snap).subnet("subnet-b")
    assert b is not None
    assert (b.ips_needed_at_max, b.nodes_that_fit, b.percent_free, b.fits_at_max) == (120, 134, 98.5, True)


def test_three_azs_share_is_ceil_of_max_and_floor_of_desired() -> None:
    snap = snapshot(
        [
            subnet("subnet-a", "10.0.0.0/24", "us-east-1a", 200),
            subnet("subnet-b", "10.0.1.0/24", "us-east-1b", 200),
            subnet("subnet-c", "10.0.2.0/24", "us-east-1c", 200),
        ],
        [group(subnet_ids=("subnet-a", "subnet-b", "subnet-c"), desired_size=4, max_size=10)],
    )
    for result in forecast_subnets(snap).subnets:
        # ceil(10 / 3) = 4 at max, floor(4 / 3) = 1 now: 3 more nodes x 30 IPs.
        assert (result.nodes_now, result.nodes_at_max, result.ips_needed_at_max) == (1, 4, 90)


def test_two_subnets_in_one_az_each_take_the_whole_az_share() -> None:
    snap = snapshot(
        [
            subnet("subnet-a", "10.0.0.0/24", "us-east-1a", 200),
            subnet("subnet-a2", "10.0.1.0/24", "us-east-1a", 200),
            subnet("subnet-b", "10.0.2.0/24", "us-east-1b", 200),
        ],
        [group(subnet_ids=("subnet-a", "subnet-a2", "subnet-b"))],
    )
    forecast = forecast_subnets(snap)
    assert [(s.subnet_id, s.additional_nodes) for s in forecast.subnets] == [
        ("subnet-a", 4),
        ("subnet-a2", 4),
        ("subnet-b", 4),
    ]


def test_node_groups_sharing_a_subnet_add_up_and_widest_footprint_sets_nodes_that_fit() -> None:
    snap = snapshot(
        [subnet("subnet-a", "10.0.0.0/24", "us-east-1a", 240)],
        [
            group("small", subnet_ids=("subnet-a",), desired_size=1, max_size=3),
            group(
                "mixed",
                instance_types=("m5.large", "m5.xlarge"),
                subnet_ids=("subnet-a",),
                desired_size=0,
                max_size=2,
            ),
        ],
    )
    forecast = forecast_subnets(snap)
    result = forecast.subnet("subnet-a")
    assert result is not None
    # small: 2 more x 30; mixed, modeled by m5.xlarge (56 pods on 4 ENIs: 56 + 4 = 60): 2 more x 60.
    assert result.ips_needed_at_max == 2 * 30 + 2 * 60
    assert (result.ips_per_node, result.nodes_that_fit) == (60, 4)
    assert result.nodegroups == ("small", "mixed")
    mixed = next(p for p in forecast.nodegroups if p.nodegroup == "mixed")
    assert mixed.instance_type == "m5.xlarge"
    assert mixed.notes == ("modeled by m5.xlarge, the type that holds the most IPs per node",)


def test_pods_per_node_assumption() -> None:
    snap = snapshot(
        [
            subnet("subnet-a", "10.0.0.0/26", "us-east-1a", 29),
            subnet("subnet-b", "10.0.0.64/26", "us-east-1b", 29),
        ],
        [group()],
    )
    a = forecast_subnets(snap, pods_per_node=5).subnet("subnet-a")
    assert a is not None
    # 5 pods: 1 ENI in use + 1 spare = 2 ENIs = 20 IPs per node.
    assert (a.ips_per_node, a.ips_needed_at_max, a.nodes_that_fit) == (20, 80, 1)


def test_prefix_delegation_counts_whole_28_blocks_conservatively() -> None:
    settings = AwsNodeSettings(enable_prefix_delegation=True, warm_prefix_target=1)
    # /24 = 16 blocks; one node per AZ today holds 7 prefixes + 1 primary (113): 256 - 5 - 113 = 138 free.
    snap = snapshot(
        [
            subnet("subnet-a", "10.0.0.0/24", "us-east-1a", 138),
            subnet("subnet-b", "10.0.1.0/24", "us-east-1b", 138),
        ],
        [group(desired_size=2, max_size=4)],
        kubernetes=k8s(settings),
    )
    a = forecast_subnets(snap).subnet("subnet-a")
    assert a is not None
    assert a.prefix_delegation is True
    assert (a.ips_per_node, a.ips_needed_at_max) == (113, 113)
    # Strays: the 5 reserved addresses (2 blocks) + the node's primary (1 block) hide up to 45 free addresses:
    # ceil((138 - 45) / 16) = 6 whole blocks assumed; one more node needs 7 prefixes + 1 for its primary.
    assert (a.free_prefix_blocks, a.prefix_blocks_needed) == (6, 8)
    assert a.fits_at_max is False
    assert a.nodes_that_fit == 0
    assert a.notes[0] == (
        "prefix delegation needs whole free /28 blocks; AvailableIpAddressCount cannot show them, so 6 free "
        "/28 block(s) are assumed (worst-case fragmentation); a subnet CIDR reservation for prefixes removes "
        "the doubt"
    )


def test_prefix_delegation_unattributed_addresses_break_blocks() -> None:
    settings = AwsNodeSettings(enable_prefix_delegation=True, warm_prefix_target=1)
    # /22 = 64 blocks. 1 node (113 IPs) + 40 other addresses in use (load balancers, endpoints...).
    free = 1024 - 5 - 113 - 40
    snap = snapshot(
        [subnet("subnet-a", "10.0.0.0/22", "us-east-1a", free)],
        [group(subnet_ids=("subnet-a",), desired_size=1, max_size=3)],
        kubernetes=k8s(settings),
    )
    a = forecast_subnets(snap).subnet("subnet-a")
    assert a is not None
    # strays = 1024 - 866 - 5 - 112 = 41 (40 + the primary), + 2 reserved blocks = 43 blocks hiding 645.
    assert a.free_prefix_blocks == 14  # ceil((866 - 645) / 16)
    assert a.prefix_blocks_needed == 16  # 2 more nodes x (7 prefixes + 1)
    assert (a.fits_at_max, a.nodes_that_fit) == (False, 1)


def test_custom_networking_splits_node_and_eniconfig_subnets() -> None:
    settings = AwsNodeSettings(custom_network_cfg=True)
    configs = (
        EniConfig(name="us-east-1a", subnet_id="subnet-pa"),
        EniConfig(name="us-east-1b", subnet_id="subnet-pb"),
    )
    snap = snapshot(
        [
            subnet("subnet-a", "10.0.0.0/27", "us-east-1a", 26),
            subnet("subnet-b", "10.0.0.32/27", "us-east-1b", 26),
            subnet("subnet-pa", "100.64.0.0/24", "us-east-1a", 230),
            subnet("subnet-pb", "100.64.1.0/24", "us-east-1b", 40),
        ],
        [group()],
        kubernetes=k8s(settings, configs),
    )
    forecast = forecast_subnets(snap)
    assert forecast.gaps == ()
    by_id = {s.subnet_id: s for s in forecast.subnets}
    assert (by_id["subnet-a"].role, by_id["subnet-a"].ips_per_node, by_id["subnet-a"].ips_needed_at_max) == (
        "node",
        1,
        4,
    )
    # m5.large with custom networking: 18 pods on 2 pod ENIs = 20 IPs per node in the ENIConfig subnet.
    assert (
        by_id["subnet-pa"].role,
        by_id["subnet-pa"].ips_per_node,
        by_id["subnet-pa"].ips_needed_at_max,
    ) == (
        "pod",
        20,
        80,
    )
    assert by_id["subnet-pa"].fits_at_max is True
    assert (by_id["subnet-pb"].fits_at_max, by_id["subnet-pb"].nodes_that_fit) == (False, 2)


def test_custom_networking_without_eniconfigs_is_a_gap() -> None:
    snap = snapshot(
        [
            subnet("subnet-a", "10.0.0.0/27", "us-east-1a", 26),
            subnet("subnet-b", "10.0.0.32/27", "us-east-1b", 26),
        ],
        [group()],
        kubernetes=k8s(AwsNodeSettings(custom_network_cfg=True), None),
    )
    forecast = forecast_subnets(snap)
    assert [(g.resource, g.reason, g.subnet_ids) for g in forecast.gaps] == [
        ("eniconfigs", "custom networking is on but the pods' subnets are unknown: ENIConfigs not read", ())
    ]
    assert [s.role for s in forecast.subnets] == ["node", "node"]


def test_custom_networking_az_without_eniconfig_is_a_gap() -> None:
    snap = snapshot(
        [
            subnet("subnet-a", "10.0.0.0/27", "us-east-1a", 26),
            subnet("subnet-b", "10.0.0.32/27", "us-east-1b", 26),
            subnet("subnet-pa", "100.64.0.0/24", "us-east-1a", 230),
        ],
        [group()],
        kubernetes=k8s(
            AwsNodeSettings(custom_network_cfg=True), (EniConfig(name="a", subnet_id="subnet-pa"),)
        ),
    )
    assert [g.reason for g in forecast_subnets(snap).gaps] == [
        "node group workers runs in us-east-1b, where no ENIConfig subnet is known: its pods' subnet there "
        "cannot be forecast"
    ]


def test_unknown_instance_type_and_unknown_subnet_are_gaps() -> None:
    snap = snapshot(
        [subnet("subnet-a", "10.0.0.0/24", "us-east-1a", 200)],
        [
            group("ghost", instance_types=("x9.huge",), subnet_ids=("subnet-a",)),
            group("lost", subnet_ids=("subnet-a", "subnet-gone")),
        ],
    )
    forecast = forecast_subnets(snap)
    assert [(g.resource, g.subnet_ids) for g in forecast.gaps] == [
        ("ghost", ("subnet-a",)),
        ("subnet-gone", ("subnet-gone",)),
    ]
    assert forecast.gaps[0].reason == "instance types x9.huge of node group ghost were not described"
    result = forecast.subnet("subnet-a")
    assert result is not None and result.nodegroups == ("lost",)
    # lost: one AZ known -> all 10 at max, 2 now.
    assert result.additional_nodes == 8
    assert [g.resource for g in forecast.gaps_for("subnet-a")] == ["ghost"]


def test_node_group_without_instance_types_is_a_gap() -> None:
    snap = snapshot(
        [subnet("subnet-a", "10.0.0.0/24", "us-east-1a", 200)],
        [group(instance_types=(), subnet_ids=("subnet-a",))],
    )
    forecast = forecast_subnets(snap)
    assert forecast.subnets == ()
    assert forecast.gaps[0].reason == "instance types of node group workers are unknown (launch template?)"
