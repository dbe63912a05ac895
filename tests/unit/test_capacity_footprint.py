"""The IPs a node holds, under each VPC CNI setting.

Expected figures come from the worked examples in aws/amazon-vpc-cni-k8s docs/eni-and-ip-target.md and
docs/prefix-and-ip-target.md (t3.small: 3 ENIs x 4 IPv4; p3dn.24xlarge: 15 ENIs x 50 IPv4), which list
attached ENIs and secondary IPs / prefixes per pod count. A node holds those plus each ENI's primary address.
"""

from __future__ import annotations

import pytest
from eks_auditor.capacity.footprint import (
    SOURCE_ASSUMED,
    SOURCE_READ,
    effective_settings,
    node_footprint,
)
from eks_auditor.model.kubernetes import AwsNodeSettings
from eks_auditor.model.snapshot import InstanceTypeInfo

T3_SMALL = InstanceTypeInfo(name="t3.small", vcpus=2, hypervisor="nitro", max_enis=3, ipv4_per_eni=4)
P3DN = InstanceTypeInfo(name="p3dn.24xlarge", vcpus=96, hypervisor="nitro", max_enis=15, ipv4_per_eni=50)
M5_LARGE = InstanceTypeInfo(name="m5.large", vcpus=2, hypervisor="nitro", max_enis=3, ipv4_per_eni=10)
M4_LARGE = InstanceTypeInfo(name="m4.large", vcpus=2, hypervisor="xen", max_enis=2, ipv4_per_eni=10)
C5_18XL = InstanceTypeInfo(name="c5.18xlarge", vcpus=72, hypervisor="nitro", max_enis=15, ipv4_per_eni=50)


@pytest.mark.parametrize(
    ("info", "pods", "enis", "secondary"),
    [
        (T3_SMALL, 0, 1, 3),
        (T3_SMALL, 5, 3, 9),
        (T3_SMALL, 9, 3, 9),
        (P3DN, 0, 1, 49),
        (P3DN, 3, 2, 98),
        (P3DN, 95, 3, 147),
    ],
)
def test_warm_eni_target_default_keeps_a_whole_spare_eni(
    info: InstanceTypeInfo, pods: int, enis: int, secondary: int
) -> None:
    footprint = node_footprint(info, AwsNodeSettings(warm_eni_target=1), pods=pods)
    assert (footprint.pod_enis, footprint.secondary_ips, footprint.prefixes) == (enis, secondary, 0)
    assert footprint.ips_per_node == secondary + enis == footprint.node_subnet_ips
    assert footprint.pod_subnet_ips == 0


@pytest.mark.parametrize(
    ("info", "warm_ip", "minimum_ip", "pods", "enis", "secondary"),
    [
        (T3_SMALL, 1, 1, 0, 1, 1),
        (T3_SMALL, 1, 1, 5, 2, 6),
        (T3_SMALL, 1, 1, 9, 3, 9),
        (T3_SMALL, 2, 5, 0, 2, 5),
        (T3_SMALL, 2, 5, 5, 3, 7),
        (T3_SMALL, 2, 5, 9, 3, 9),
        (P3DN, 5, 10, 0, 1, 10),
        (P3DN, 5, 10, 7, 1, 12),
        (P3DN, 5, 10, 15, 1, 20),
        (P3DN, 5, 10, 45, 2, 50),
    ],
)
def test_warm_ip_and_minimum_ip_targets_replace_the_spare_eni(
    info: InstanceTypeInfo, warm_ip: int, minimum_ip: int, pods: int, enis: int, secondary: int
) -> None:
    settings = AwsNodeSettings(warm_ip_target=warm_ip, minimum_ip_target=minimum_ip, warm_eni_target=1)
    footprint = node_footprint(info, settings, pods=pods)
    assert (footprint.pod_enis, footprint.secondary_ips) == (enis, secondary)
    assert footprint.ips_per_node == secondary + enis


def test_minimum_ip_target_alone_sets_the_floor() -> None:
    footprint = node_footprint(M5_LARGE, AwsNodeSettings(minimum_ip_target=12), pods=3)
    # max(3 + 0, 12) = 12 secondary IPs: the first ENI's 9 and 3 on a second ENI.
    assert (footprint.secondary_ips, footprint.pod_enis, footprint.ips_per_node) == (12, 2, 14)


def test_warm_ip_target_alone_follows_the_pods() -> None:
    footprint = node_footprint(M5_LARGE, AwsNodeSettings(warm_ip_target=2), pods=10)
    assert (footprint.secondary_ips, footprint.pod_enis, footprint.ips_per_node) == (12, 2, 14)


@pytest.mark.parametrize(
    ("warm_prefix", "pods", "prefixes", "enis"),
    [(1, 0, 1, 1), (1, 5, 2, 1), (1, 16, 2, 1), (1, 17, 3, 1), (1, 58, 5, 2)],
)
def test_prefix_delegation_with_warm_prefix_target(
    warm_prefix: int, pods: int, prefixes: int, enis: int
) -> None:
    settings = AwsNodeSettings(enable_prefix_delegation=True, warm_prefix_target=warm_prefix)
    footprint = node_footprint(T3_SMALL, settings, pods=pods)
    assert footprint.max_pods.mode == "prefix-delegation"
    assert (footprint.prefixes, footprint.pod_enis, footprint.secondary_ips) == (prefixes, enis, 0)
    assert footprint.ips_per_node == prefixes * 16 + enis


@pytest.mark.parametrize(
    ("warm_ip", "minimum_ip", "pods", "prefixes"),
    [(1, 1, 0, 1), (1, 1, 5, 1), (1, 1, 17, 2), (1, 1, 58, 4), (7, 20, 0, 2), (7, 20, 5, 2), (7, 20, 58, 5)],
)
def test_prefix_delegation_with_ip_targets_rounds_up_to_whole_prefixes(
    warm_ip: int, minimum_ip: int, pods: int, prefixes: int
) -> None:
    settings = AwsNodeSettings(
        enable_prefix_delegation=True,
        warm_prefix_target=1,
        warm_ip_target=warm_ip,
        minimum_ip_target=minimum_ip,
    )
    assert node_footprint(T3_SMALL, settings, pods=pods).prefixes == prefixes


def test_unset_warm_prefix_target_read_from_the_daemonset_is_ipamd_default_zero() -> None:
    settings = AwsNodeSettings(enable_prefix_delegation=True)
    # WARM_PREFIX_TARGET=0: a new prefix only when none is free.
    assert node_footprint(T3_SMALL, settings, pods=16).prefixes == 2
    assert node_footprint(T3_SMALL, settings, pods=15).prefixes == 1


def test_defaults_assumed_when_settings_were_not_read() -> None:
    footprint = node_footprint(M5_LARGE, None)
    assert footprint.settings.read is False
    assert footprint.settings.source == SOURCE_ASSUMED == "assumed defaults (aws-node settings not read)"
    # A full m5.large: 27 pods with VPC IPs fill 3 ENIs x 9 secondary IPs, plus 3 primaries.
    assert (footprint.pods, footprint.pod_enis, footprint.secondary_ips, footprint.ips_per_node) == (
        27,
        3,
        27,
        30,
    )
    assert footprint.explanation == (
        "m5.large, secondary-ip mode, 27 pods with VPC IPs (a full node: max pods 29 minus 2 host-network "
        "pods): WARM_ENI_TARGET=1 keeps 1 whole spare ENI(s) of 9 secondary IPs beyond the 3 ENI(s) in use, "
        "limited to 3 ENI(s) by the instance's ENI limit or max pods; holds 27 secondary IPs on 3 ENIs plus "
        "3 ENI primary address(es) = 30 IPs, 30 in the node subnet. CNI settings: "
        "ENABLE_PREFIX_DELEGATION=false, AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=false, WARM_ENI_TARGET=1; "
        "assumed defaults (aws-node settings not read)."
    )


def test_effective_settings_read_and_assumed() -> None:
    assumed = effective_settings(None)
    assert (assumed.warm_eni_target, assumed.warm_prefix_target, assumed.ip_targets) == (1, 1, False)
    read = effective_settings(AwsNodeSettings(warm_eni_target=2, warm_ip_target=-1))
    assert (read.warm_eni_target, read.warm_ip_target, read.warm_prefix_target) == (2, 0, 0)
    assert (read.read, read.source) == (True, SOURCE_READ)


def test_node_at_zero_pods_holds_one_eni_with_the_default() -> None:
    assert node_footprint(M5_LARGE, None, pods=0).ips_per_node == 10
    assert node_footprint(M5_LARGE, None, pods=5).ips_per_node == 20


def test_pool_stops_growing_at_max_pods() -> None:
    # c5.18xlarge: 250 max pods (capped from 737). 248 pods need 6 ENIs of 49 IPs (294 >= 250 max pods),
    # so the spare ENI WARM_ENI_TARGET asks for is not attached (aws/amazon-vpc-cni-k8s PR #2745).
    footprint = node_footprint(C5_18XL, None)
    assert (footprint.pods, footprint.pod_enis, footprint.ips_per_node) == (248, 6, 300)


def test_pods_beyond_max_pods_are_limited() -> None:
    footprint = node_footprint(M5_LARGE, None, pods=80)
    assert footprint.pods == 27
    assert footprint.explanation.endswith(
        "80 pods requested, limited to 27 by the node's max pods and address slots"
    )


def test_custom_networking_splits_node_and_pod_subnets() -> None:
    footprint = node_footprint(M5_LARGE, AwsNodeSettings(custom_network_cfg=True))
    # 2 pod ENIs (the primary carries none): 18 pods, 18 secondary IPs + 2 ENI primaries in the ENIConfig
    # subnet; the primary ENI's one address in the node subnet.
    assert (footprint.pods, footprint.pod_enis) == (18, 2)
    assert (footprint.node_subnet_ips, footprint.pod_subnet_ips, footprint.ips_per_node) == (1, 20, 21)


def test_custom_networking_flag_overrides_settings() -> None:
    footprint = node_footprint(M5_LARGE, None, custom_networking=True, pods=0)
    assert (footprint.node_subnet_ips, footprint.pod_subnet_ips) == (1, 10)


def test_prefix_delegation_full_m5_large() -> None:
    footprint = node_footprint(M5_LARGE, AwsNodeSettings(enable_prefix_delegation=True, warm_prefix_target=1))
    # 108 pods need 7 prefixes (112 IPs >= 110 max pods): the warm prefix is not added.
    assert (footprint.pods, footprint.prefixes, footprint.pod_enis, footprint.ips_per_node) == (
        108,
        7,
        1,
        113,
    )
    assert footprint.prefix_ips == 112


def test_prefix_delegation_on_xen_falls_back_to_secondary_ips() -> None:
    footprint = node_footprint(M4_LARGE, AwsNodeSettings(enable_prefix_delegation=True, warm_prefix_target=1))
    assert (footprint.max_pods.mode, footprint.prefixes, footprint.secondary_ips, footprint.ips_per_node) == (
        "secondary-ip",
        0,
        18,
        20,
    )
    assert "prefix delegation needs a Nitro instance type" in footprint.explanation


def test_warm_eni_target_two_keeps_two_spare_enis() -> None:
    footprint = node_footprint(P3DN, AwsNodeSettings(warm_eni_target=2), pods=10)
    assert (footprint.pod_enis, footprint.ips_per_node) == (3, 150)


def test_warm_eni_target_zero_adds_an_eni_only_when_none_is_free() -> None:
    settings = AwsNodeSettings(warm_eni_target=0)
    assert node_footprint(M5_LARGE, settings, pods=9).pod_enis == 2
    assert node_footprint(M5_LARGE, settings, pods=8).pod_enis == 1
