"""Max pods per instance type: the EKS AMI calculator's rules, checked against the eni-max-pods table.

Instance facts (vCPUs, hypervisor, default-card ENIs, IPv4 per ENI) are those DescribeInstanceTypes returns
(the aws-cli example for t2.micro, moto's instance type data for the rest). `table` is the row of
aws/amazon-vpc-cni-k8s misc/eni-max-pods.txt, which is ENIs x (IPv4 per ENI - 1) + 2, uncapped.
"""

from __future__ import annotations

import pytest
from eks_auditor.capacity.max_pods import compute_max_pods, recommended_ceiling
from eks_auditor.model.snapshot import InstanceTypeInfo

# name, vCPUs, hypervisor, bare metal, ENIs of the default network card, IPv4 per ENI, eni-max-pods.txt row
FACTS: tuple[tuple[str, int, str | None, bool, int, int, int], ...] = (
    ("t2.micro", 1, "xen", False, 2, 2, 4),
    ("t3.nano", 2, "nitro", False, 2, 2, 4),
    ("t3.small", 2, "nitro", False, 3, 4, 11),
    ("t3.medium", 2, "nitro", False, 3, 6, 17),
    ("m3.medium", 1, "xen", False, 2, 6, 12),
    ("m4.large", 2, "xen", False, 2, 10, 20),
    ("m4.10xlarge", 40, "xen", False, 8, 30, 234),
    ("m5.large", 2, "nitro", False, 3, 10, 29),
    ("m5.xlarge", 4, "nitro", False, 4, 15, 58),
    ("m5.4xlarge", 16, "nitro", False, 8, 30, 234),
    ("m5.8xlarge", 32, "nitro", False, 8, 30, 234),
    ("c5.9xlarge", 36, "nitro", False, 8, 30, 234),
    ("c5.18xlarge", 72, "nitro", False, 15, 50, 737),
    ("m5.metal", 96, None, True, 15, 50, 737),
    # 64 ENIs over 32 network cards, 2 on card 0: the table counts card 0 only.
    ("p5.48xlarge", 192, "nitro", False, 2, 50, 100),
)

TYPES = {
    name: InstanceTypeInfo(
        name=name, vcpus=vcpus, hypervisor=hypervisor, bare_metal=metal, max_enis=enis, ipv4_per_eni=ips
    )
    for name, vcpus, hypervisor, metal, enis, ips, _ in FACTS
}


@pytest.mark.parametrize(("name", "table"), [(f[0], f[6]) for f in FACTS])
def test_secondary_ip_raw_figure_reproduces_the_official_table(name: str, table: int) -> None:
    result = compute_max_pods(TYPES[name])
    assert result.raw == table
    assert result.mode == "secondary-ip"


@pytest.mark.parametrize(
    ("name", "max_pods", "raw", "ceiling"),
    [
        ("t3.medium", 17, 17, 110),
        ("m5.large", 29, 29, 110),
        ("m5.xlarge", 58, 58, 110),
        ("c5.18xlarge", 250, 737, 250),
        ("m5.8xlarge", 234, 234, 250),
    ],
)
def test_secondary_ip_mode_with_ceiling(name: str, max_pods: int, raw: int, ceiling: int) -> None:
    result = compute_max_pods(TYPES[name])
    assert (result.max_pods, result.raw, result.ceiling) == (max_pods, raw, ceiling)
    assert result.limited_by_ceiling is (raw > ceiling)
    assert result.notes == ()


def test_prefix_delegation_m5_large_is_capped_at_110_from_434() -> None:
    result = compute_max_pods(TYPES["m5.large"], prefix_delegation=True)
    assert result.mode == "prefix-delegation"
    assert result.raw == 3 * (10 - 1) * 16 + 2 == 434
    assert result.max_pods == 110
    assert result.limited_by_ceiling is True


@pytest.mark.parametrize(
    ("name", "raw", "max_pods"),
    [
        ("t3.medium", 3 * 5 * 16 + 2, 110),
        ("m5.xlarge", 4 * 14 * 16 + 2, 110),
        ("c5.18xlarge", 15 * 49 * 16 + 2, 250),
        ("m5.metal", 15 * 49 * 16 + 2, 250),  # bare metal reports no hypervisor but is Nitro
        ("t3.nano", 2 * 1 * 16 + 2, 34),  # below the ceiling even with prefixes
    ],
)
def test_prefix_delegation_on_nitro(name: str, raw: int, max_pods: int) -> None:
    result = compute_max_pods(TYPES[name], prefix_delegation=True)
    assert (result.mode, result.raw, result.max_pods) == ("prefix-delegation", raw, max_pods)
    assert result.nitro is True


@pytest.mark.parametrize("name", ["m4.large", "m3.medium", "t2.micro", "m4.10xlarge"])
def test_prefix_delegation_is_ignored_on_xen_types(name: str) -> None:
    secondary = compute_max_pods(TYPES[name])
    result = compute_max_pods(TYPES[name], prefix_delegation=True)
    assert result.mode == "secondary-ip"
    assert result.prefix_delegation_requested is True
    assert (result.raw, result.max_pods) == (secondary.raw, secondary.max_pods)
    assert result.notes == (
        f"prefix delegation needs a Nitro instance type; {name} runs on xen, "
        "so the secondary-IP figure applies",
    )


def test_m4_large_prefix_delegation_stays_at_20() -> None:
    result = compute_max_pods(TYPES["m4.large"], prefix_delegation=True)
    assert (result.mode, result.max_pods, result.raw) == ("secondary-ip", 20, 20)


@pytest.mark.parametrize(
    ("vcpus", "ceiling"), [(1, 110), (29, 110), (30, 110), (31, 250), (32, 250), (192, 250)]
)
def test_ceiling_boundary_at_30_vcpus(vcpus: int, ceiling: int) -> None:
    assert recommended_ceiling(vcpus) == ceiling


def test_exactly_30_vcpus_caps_at_110_and_31_at_250() -> None:
    # No current EC2 type has exactly 30 vCPUs; the calculator's rule is "> 30 vCPUs -> 250".
    thirty = InstanceTypeInfo(name="x.30vcpu", vcpus=30, hypervisor="nitro", max_enis=8, ipv4_per_eni=30)
    thirty_one = thirty.model_copy(update={"name": "x.31vcpu", "vcpus": 31})
    assert compute_max_pods(thirty).max_pods == 110  # raw 234
    assert compute_max_pods(thirty_one).max_pods == 234  # raw 234 is under 250
    assert compute_max_pods(thirty, prefix_delegation=True).max_pods == 110
    assert compute_max_pods(thirty_one, prefix_delegation=True).max_pods == 250


def test_over_30_vcpus_secondary_ip_under_the_ceiling_is_not_capped() -> None:
    result = compute_max_pods(TYPES["c5.9xlarge"])
    assert (result.raw, result.ceiling, result.max_pods) == (234, 250, 234)


@pytest.mark.parametrize(
    ("name", "prefix", "raw", "max_pods"),
    [
        ("m5.large", False, 2 * 9 + 2, 20),
        ("t3.medium", False, 2 * 5 + 2, 12),
        ("m5.large", True, 2 * 9 * 16 + 2, 110),
        ("c5.18xlarge", False, 14 * 49 + 2, 250),
        ("m4.large", False, 1 * 9 + 2, 11),
    ],
)
def test_custom_networking_uses_one_eni_fewer(name: str, prefix: bool, raw: int, max_pods: int) -> None:
    result = compute_max_pods(TYPES[name], prefix_delegation=prefix, custom_networking=True)
    assert (result.raw, result.max_pods) == (raw, max_pods)
    assert result.pod_enis == TYPES[name].max_enis - 1
    assert result.custom_networking is True


def test_custom_networking_on_a_single_eni_type_leaves_only_host_network_pods() -> None:
    single = InstanceTypeInfo(name="x.one", vcpus=2, hypervisor="nitro", max_enis=1, ipv4_per_eni=4)
    result = compute_max_pods(single, custom_networking=True)
    assert (result.pod_enis, result.raw, result.max_pods) == (0, 2, 2)
    assert result.notes == ("x.one has a single ENI: with custom networking no ENI is left for pods",)
