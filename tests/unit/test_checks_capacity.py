"""ip_capacity_exhaustion_risk and ip_prefix_delegation_recommended: exact outcomes, tight and roomy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from eks_auditor.audit import evaluate
from eks_auditor.checks.capacity import (
    CHECKS,
    Headroom,
    check_ip_capacity_exhaustion_risk,
    check_ip_prefix_delegation_recommended,
    make_checks,
)
from eks_auditor.model.check import Outcome, Result, Severity
from eks_auditor.model.kubernetes import AwsNodeSettings, EniConfig, KubernetesState, Workload
from eks_auditor.model.network import Subnet, VpcNetwork
from eks_auditor.model.snapshot import (
    ClusterInfo,
    ClusterSnapshot,
    EndpointAccess,
    InstanceTypeInfo,
    NodeGroup,
)

ARN = "arn:aws:eks:us-east-1:111122223333:cluster/prod"
NG_ARN = "arn:aws:eks:us-east-1:111122223333:nodegroup/prod/workers/0ec5a1b2-0b7e-2f3a-9e6c-1f0c8e0d2a11"
M5_LARGE = InstanceTypeInfo(name="m5.large", vcpus=2, hypervisor="nitro", max_enis=3, ipv4_per_eni=10)
M4_LARGE = InstanceTypeInfo(name="m4.large", vcpus=2, hypervisor="xen", max_enis=2, ipv4_per_eni=10)
C5_9XL = InstanceTypeInfo(name="c5.9xlarge", vcpus=36, hypervisor="nitro", max_enis=8, ipv4_per_eni=30)
M5_8XL = InstanceTypeInfo(name="m5.8xlarge", vcpus=32, hypervisor="nitro", max_enis=8, ipv4_per_eni=30)
C5_18XL = InstanceTypeInfo(name="c5.18xlarge", vcpus=72, hypervisor="nitro", max_enis=15, ipv4_per_eni=50)
TYPES = {t.name: t for t in (M5_LARGE, M4_LARGE, C5_9XL, M5_8XL, C5_18XL)}
NO_K8S = "Kubernetes API unreachable: endpoint private"
AWS_NODE = Workload(kind="DaemonSet", namespace="kube-system", name="aws-node")


def subnet(subnet_id: str, cidr: str, zone: str, free: int) -> Subnet:
    return Subnet(id=subnet_id, vpc_id="vpc-1", cidr=cidr, availability_zone=zone, available_ips=free)


def workers(**fields: Any) -> NodeGroup:
    base: dict[str, Any] = {
        "name": "workers",
        "arn": NG_ARN,
        "instance_types": ("m5.large",),
        "subnet_ids": ("subnet-a", "subnet-b"),
        "min_size": 2,
        "desired_size": 2,
        "max_size": 10,
    }
    base.update(fields)
    return NodeGroup.model_validate(base)


TIGHT = [
    subnet("subnet-a", "10.0.0.0/26", "us-east-1a", 29),
    subnet("subnet-b", "10.0.0.64/26", "us-east-1b", 29),
]
ROOMY = [
    subnet("subnet-a", "10.0.0.0/20", "us-east-1a", 4031),
    subnet("subnet-b", "10.0.16.0/20", "us-east-1b", 4031),
]


def snapshot(
    subnets: list[Subnet],
    groups: list[NodeGroup] | None = None,
    *,
    settings: AwsNodeSettings | None = None,
    eni_configs: tuple[EniConfig, ...] | None = None,
    **fields: Any,
) -> ClusterSnapshot:
    kubernetes = (
        KubernetesState(
            endpoint="https://example.eks",
            aws_node=AWS_NODE,
            aws_node_settings=settings,
            eni_configs=eni_configs,
        )
        if settings is not None
        else None
    )
    base: dict[str, Any] = {
        "account": "111122223333",
        "region": "us-east-1",
        "name": "prod",
        "arn": ARN,
        "collected_at": datetime(2026, 9, 1, tzinfo=UTC),
        "cluster": ClusterInfo(
            status="ACTIVE", endpoint_access=EndpointAccess(public=False, private=True), vpc_id="vpc-1"
        ),
        "network": VpcNetwork(vpc_id="vpc-1", subnets={s.id: s for s in subnets}),
        "nodegroups": tuple(groups if groups is not None else [workers()]),
        "instance_types": TYPES,
        "kubernetes": kubernetes,
        "gaps": {} if kubernetes else {"kubernetes": NO_K8S},
    }
    base.update(fields)
    return ClusterSnapshot.model_validate(base)


def summary(outcomes: list[Outcome]) -> list[tuple[str, str, Result, Severity | None]]:
    return [(o.check_id, o.resource, o.result, o.severity) for o in outcomes]


ASSUMED = f"assumed defaults (aws-node settings not read): {NO_K8S}"


def tight_fleet() -> ClusterSnapshot:
    return snapshot(TIGHT)


def roomy_fleet() -> ClusterSnapshot:
    return snapshot(ROOMY)


def undescribed_type() -> ClusterSnapshot:
    return snapshot(ROOMY, [workers(instance_types=("x9.huge",))])


def no_nodegroups() -> ClusterSnapshot:
    return snapshot(ROOMY, [])


def prefix_delegation_on() -> ClusterSnapshot:
    return snapshot(ROOMY, settings=AwsNodeSettings(enable_prefix_delegation=True, warm_prefix_target=1))


def xen_fleet() -> ClusterSnapshot:
    return snapshot(ROOMY, [workers(instance_types=("m4.large",))])


def ipv6_cluster(subnets: list[Subnet]) -> ClusterSnapshot:
    cluster = ClusterInfo(
        status="ACTIVE",
        endpoint_access=EndpointAccess(public=False, private=True),
        vpc_id="vpc-1",
        ip_family="ipv6",
    )
    return snapshot(subnets, cluster=cluster)


# The check catalog's coverage convention (tests/unit/test_check_catalog.py).
COVERAGE = [
    ("ip_capacity_exhaustion_risk", Result.FAIL, tight_fleet),
    ("ip_capacity_exhaustion_risk", Result.PASS, roomy_fleet),
    ("ip_capacity_exhaustion_risk", Result.ERROR, undescribed_type),
    ("ip_capacity_exhaustion_risk", Result.NOT_APPLICABLE, no_nodegroups),
    ("ip_prefix_delegation_recommended", Result.FAIL, tight_fleet),
    ("ip_prefix_delegation_recommended", Result.PASS, prefix_delegation_on),
    ("ip_prefix_delegation_recommended", Result.NOT_APPLICABLE, xen_fleet),
    ("ip_capacity_exhaustion_risk", Result.PASS, lambda: ipv6_cluster(TIGHT)),
    ("ip_prefix_delegation_recommended", Result.NOT_APPLICABLE, lambda: ipv6_cluster(TIGHT)),
    ("ip_prefix_delegation_recommended", Result.ERROR, undescribed_type),
]


def test_tight_fleet_is_critical_in_both_subnets_with_the_figures() -> None:
    outcomes = check_ip_capacity_exhaustion_risk(snapshot(TIGHT))
    assert summary(outcomes) == [
        ("ip_capacity_exhaustion_risk", "subnet-a", Result.FAIL, Severity.CRITICAL),
        ("ip_capacity_exhaustion_risk", "subnet-b", Result.FAIL, Severity.CRITICAL),
    ]
    first = outcomes[0]
    assert (
        first.title
        == "Subnet subnet-a (10.0.0.0/26, us-east-1a) cannot hold the node groups at their maximum"
    )
    assert first.description == (
        "At max size the node groups workers add 4 nodes here needing 120 IPs; 29 are free, "
        "enough for 0 more node(s)."
    )
    evidence = dict(first.evidence)
    footprint = evidence.pop("nodegroups")["workers"]
    assert evidence == {
        "subnet_id": "subnet-a",
        "cidr": "10.0.0.0/26",
        "availability_zone": "us-east-1a",
        "subnet_role": "node+pod",
        "free_ips": 29,
        "usable_ips": 59,
        "percent_free": 49.2,
        "ips_needed_at_max": 120,
        "additional_nodes_at_max": 4,
        "nodes_that_still_fit": 0,
        "ips_per_node": 30,
        "cni_settings": (
            "ENABLE_PREFIX_DELEGATION=false, AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=false, WARM_ENI_TARGET=1"
        ),
        "cni_settings_source": ASSUMED,
        "pods_per_node": "max pods",
        "headroom": {"min_free_percent": 20.0, "min_spare_nodes": 5},
        "notes": ["balanced share of each node group here (workers: 1 now, 5 at max)"],
    }
    assert {k: v for k, v in footprint.items() if k != "footprint"} == {
        "instance_type": "m5.large",
        "desired_size": 2,
        "max_size": 10,
        "availability_zones": ["us-east-1a", "us-east-1b"],
        "max_pods": 29,
    }
    assert footprint["footprint"].startswith("m5.large, secondary-ip mode, 27 pods with VPC IPs")
    remediation = first.remediation or ""
    assert remediation.startswith(
        "1. Add a larger or additional subnet in us-east-1a and run the node groups workers"
    )
    assert "2. On the Nitro node groups (workers) enable prefix delegation" in remediation
    assert (
        "3. Move pod IPs off the node subnets: associate a secondary VPC CIDR such as 100.64.0.0/16"
        in remediation
    )
    assert "4. Shrink the warm pool: WARM_ENI_TARGET=1 keeps a whole spare ENI per node" in remediation


def test_roomy_fleet_passes() -> None:
    outcomes = check_ip_capacity_exhaustion_risk(snapshot(ROOMY))
    assert summary(outcomes) == [
        ("ip_capacity_exhaustion_risk", "subnet-a", Result.PASS, None),
        ("ip_capacity_exhaustion_risk", "subnet-b", Result.PASS, None),
    ]
    assert (outcomes[0].evidence["nodes_that_still_fit"], outcomes[0].evidence["ips_needed_at_max"]) == (
        134,
        120,
    )


def test_high_when_free_share_and_spare_nodes_are_low() -> None:
    # /24: 251 usable, 45 free (17.9%); one more node per AZ at max (30 IPs) still fits; room for 1 node.
    subnets = [
        subnet("subnet-a", "10.0.0.0/24", "us-east-1a", 45),
        subnet("subnet-b", "10.0.1.0/24", "us-east-1b", 45),
    ]
    outcomes = check_ip_capacity_exhaustion_risk(snapshot(subnets, [workers(desired_size=6, max_size=8)]))
    assert summary(outcomes) == [
        ("ip_capacity_exhaustion_risk", "subnet-a", Result.FAIL, Severity.HIGH),
        ("ip_capacity_exhaustion_risk", "subnet-b", Result.FAIL, Severity.HIGH),
    ]
    assert outcomes[0].title == "Subnet subnet-a (10.0.0.0/24, us-east-1a) is low on pod IPs"
    assert outcomes[0].description == (
        "45 IPs free: 17.9% free (< 20.0%) and room for 1 more node(s) (< 5). "
        "The node groups workers hold 30 IPs per node here."
    )


def test_high_on_spare_nodes_alone() -> None:
    subnets = [subnet("subnet-a", "10.0.0.0/24", "us-east-1a", 100)]
    outcomes = check_ip_capacity_exhaustion_risk(
        snapshot(subnets, [workers(subnet_ids=("subnet-a",), desired_size=3, max_size=4)])
    )
    assert summary(outcomes) == [("ip_capacity_exhaustion_risk", "subnet-a", Result.FAIL, Severity.HIGH)]
    assert outcomes[0].description == (
        "100 IPs free: room for 3 more node(s) (< 5). The node groups workers hold 30 IPs per node here."
    )


def test_headroom_is_configurable() -> None:
    subnets = [subnet("subnet-a", "10.0.0.0/24", "us-east-1a", 100)]
    snap = snapshot(subnets, [workers(subnet_ids=("subnet-a",), desired_size=3, max_size=4)])
    relaxed = check_ip_capacity_exhaustion_risk(
        snap, headroom=Headroom(min_free_percent=10, min_spare_nodes=3)
    )
    assert summary(relaxed) == [("ip_capacity_exhaustion_risk", "subnet-a", Result.PASS, None)]
    strict = make_checks(Headroom(min_free_percent=50, min_spare_nodes=1))[0].run(snap)
    assert strict[0].description == (
        "100 IPs free: 39.8% free (< 50.0%). The node groups workers hold 30 IPs per node here."
    )


def test_pods_per_node_assumption_changes_the_footprint() -> None:
    # At 5 pods per node an m5.large holds 20 IPs: 4 more nodes need 80, 29 free -> still CRITICAL, 1 fits.
    outcomes = make_checks(pods_per_node=5)[0].run(snapshot(TIGHT))
    assert outcomes[0].evidence["ips_per_node"] == 20
    assert outcomes[0].evidence["nodes_that_still_fit"] == 1
    assert outcomes[0].evidence["pods_per_node"] == 5


def test_settings_read_from_aws_node_are_named_in_the_evidence() -> None:
    settings = AwsNodeSettings(warm_ip_target=2, minimum_ip_target=10)
    outcomes = check_ip_capacity_exhaustion_risk(snapshot(TIGHT, settings=settings))
    assert outcomes[0].evidence["cni_settings_source"] == "read from the aws-node DaemonSet"
    assert outcomes[0].evidence["cni_settings"] == (
        "ENABLE_PREFIX_DELEGATION=false, AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=false, "
        "WARM_IP_TARGET=2, MINIMUM_IP_TARGET=10"
    )
    assert "4. Shrink the warm pool" not in (outcomes[0].remediation or "")


def test_custom_networking_checks_node_and_eniconfig_subnets() -> None:
    subnets = [
        subnet("subnet-a", "10.0.0.0/27", "us-east-1a", 25),
        subnet("subnet-b", "10.0.0.32/27", "us-east-1b", 25),
        subnet("subnet-pa", "100.64.0.0/22", "us-east-1a", 960),
        subnet("subnet-pb", "100.64.4.0/26", "us-east-1b", 40),
    ]
    configs = (
        EniConfig(name="us-east-1a", subnet_id="subnet-pa"),
        EniConfig(name="us-east-1b", subnet_id="subnet-pb"),
    )
    outcomes = check_ip_capacity_exhaustion_risk(
        snapshot(subnets, settings=AwsNodeSettings(custom_network_cfg=True), eni_configs=configs)
    )
    assert summary(outcomes) == [
        ("ip_capacity_exhaustion_risk", "subnet-a", Result.PASS, None),
        ("ip_capacity_exhaustion_risk", "subnet-pa", Result.PASS, None),
        ("ip_capacity_exhaustion_risk", "subnet-b", Result.PASS, None),
        ("ip_capacity_exhaustion_risk", "subnet-pb", Result.FAIL, Severity.CRITICAL),
    ]
    pb = outcomes[3]
    assert (
        pb.evidence["subnet_role"],
        pb.evidence["ips_needed_at_max"],
        pb.evidence["nodes_that_still_fit"],
    ) == (
        "pod",
        80,
        2,
    )
    assert (pb.remediation or "").startswith("1. Give the ENIConfig for us-east-1b a larger subnet")
    assert "secondary VPC CIDR such as 100.64.0.0/16" not in (pb.remediation or "")


def test_custom_networking_with_unreadable_eniconfigs_is_an_error_not_a_pass() -> None:
    snap = snapshot(
        ROOMY,
        settings=AwsNodeSettings(custom_network_cfg=True),
        eni_configs=None,
        gaps={"kubernetes.eni_configs": "403 Forbidden (list eniconfigs)"},
    )
    outcomes = check_ip_capacity_exhaustion_risk(snap)
    assert summary(outcomes) == [
        ("ip_capacity_exhaustion_risk", "subnet-a", Result.PASS, None),
        ("ip_capacity_exhaustion_risk", "subnet-b", Result.PASS, None),
        ("ip_capacity_exhaustion_risk", f"{ARN}/eniconfigs", Result.ERROR, None),
    ]
    assert outcomes[2].reason == (
        "custom networking is on but the pods' subnets are unknown: 403 Forbidden (list eniconfigs)"
    )


def test_undescribed_instance_type_makes_its_subnets_errors() -> None:
    snap = snapshot(ROOMY, [workers(instance_types=("x9.huge",))])
    outcomes = check_ip_capacity_exhaustion_risk(snap)
    reason = "instance types x9.huge of node group workers were not described"
    assert [(o.resource, o.result, o.reason) for o in outcomes] == [
        ("subnet-a", Result.ERROR, reason),
        ("subnet-b", Result.ERROR, reason),
    ]


def test_a_gap_does_not_hide_a_known_exhaustion() -> None:
    snap = snapshot(TIGHT, [workers(), workers(name="ghost", arn=None, instance_types=("x9.huge",))])
    outcomes = check_ip_capacity_exhaustion_risk(snap)
    assert summary(outcomes) == [
        ("ip_capacity_exhaustion_risk", "subnet-a", Result.FAIL, Severity.CRITICAL),
        ("ip_capacity_exhaustion_risk", "subnet-b", Result.FAIL, Severity.CRITICAL),
    ]
    assert outcomes[0].evidence["incomplete"] == [
        "instance types x9.huge of node group ghost were not described"
    ]


def test_gap_on_a_subnet_with_a_passing_forecast_is_an_error() -> None:
    snap = snapshot(ROOMY, [workers(), workers(name="ghost", arn=None, instance_types=("x9.huge",))])
    outcomes = check_ip_capacity_exhaustion_risk(snap)
    assert [(o.resource, o.result) for o in outcomes] == [
        ("subnet-a", Result.ERROR),
        ("subnet-b", Result.ERROR),
    ]


def test_subnet_missing_from_the_vpc_is_an_error() -> None:
    outcomes = check_ip_capacity_exhaustion_risk(snapshot(ROOMY[:1]))
    assert [(o.resource, o.result, o.reason) for o in outcomes] == [
        ("subnet-a", Result.PASS, None),
        ("subnet-b", Result.ERROR, "node group workers uses subnet subnet-b, not found in the VPC"),
    ]


def test_missing_snapshot_parts_are_errors() -> None:
    # The engine's gate decides it from the declared parts; the checks never see the snapshot.
    snap = snapshot(ROOMY, network=None, gaps={"network": "AccessDenied on ec2:DescribeSubnets"})
    assert [(o.resource, o.result, o.reason) for o in evaluate(snap, CHECKS[:1])] == [
        (ARN, Result.ERROR, "could not collect network: AccessDenied on ec2:DescribeSubnets")
    ]
    snap = snapshot(ROOMY, instance_types=None, gaps={"instance_types": "AccessDenied"})
    for check in CHECKS:
        assert [(o.result, o.reason) for o in evaluate(snap, [check])] == [
            (Result.ERROR, "could not collect instance_types: AccessDenied")
        ]


def test_no_node_groups_is_not_applicable() -> None:
    for check in CHECKS:
        outcomes = check.run(snapshot(ROOMY, []))
        assert [(o.resource, o.result, o.reason) for o in outcomes] == [
            (ARN, Result.NOT_APPLICABLE, "the cluster has no node groups")
        ]


def test_another_cni_is_not_applicable() -> None:
    kubernetes = KubernetesState(endpoint="https://example.eks", aws_node=None, aws_node_settings=None)
    snap = snapshot(TIGHT, kubernetes=kubernetes, gaps={})
    reason = "no aws-node DaemonSet in kube-system: the cluster does not run the Amazon VPC CNI"
    for check in CHECKS:
        assert [(o.result, o.reason) for o in check.run(snap)] == [(Result.NOT_APPLICABLE, reason)]


def test_unreadable_aws_node_assumes_defaults_and_says_why() -> None:
    kubernetes = KubernetesState(endpoint="https://example.eks", aws_node=None, aws_node_settings=None)
    snap = snapshot(
        TIGHT, kubernetes=kubernetes, gaps={"kubernetes.aws_node": "403 Forbidden (get daemonsets)"}
    )
    outcomes = check_ip_capacity_exhaustion_risk(snap)
    assert outcomes[0].result == Result.FAIL
    assert outcomes[0].evidence["cni_settings_source"] == (
        "assumed defaults (aws-node settings not read): 403 Forbidden (get daemonsets)"
    )


# --- ip_prefix_delegation_recommended -------------------------------------------------------------------


def test_prefix_delegation_recommended_for_m5_large_with_defaults_assumed() -> None:
    outcomes = check_ip_prefix_delegation_recommended(snapshot(TIGHT))
    assert summary(outcomes) == [("ip_prefix_delegation_recommended", NG_ARN, Result.FAIL, None)]
    assert (
        outcomes[0].title
        == "Node group workers: m5.large runs at most 29 pods without prefix delegation (110 with it)"
    )
    assert outcomes[0].evidence == {
        "nodegroup": "workers",
        "instance_types": {
            "m5.large": {
                "secondary_ip_max_pods": 29,
                "prefix_delegation_max_pods": 110,
                "ceiling": 110,
                "vcpus": 2,
            }
        },
        "prefix_delegation": False,
        "custom_networking": False,
        "cni_settings_source": ASSUMED,
        "limited_instance_types": ["m5.large"],
    }


def test_prefix_delegation_on_passes() -> None:
    snap = snapshot(TIGHT, settings=AwsNodeSettings(enable_prefix_delegation=True, warm_prefix_target=1))
    outcomes = check_ip_prefix_delegation_recommended(snap)
    assert summary(outcomes) == [("ip_prefix_delegation_recommended", NG_ARN, Result.PASS, None)]
    assert outcomes[0].evidence["cni_settings_source"] == "read from the aws-node DaemonSet"


def test_xen_node_group_is_not_applicable() -> None:
    snap = snapshot(TIGHT, [workers(instance_types=("m4.large",))])
    outcomes = check_ip_prefix_delegation_recommended(snap)
    assert [(o.result, o.reason) for o in outcomes] == [
        (Result.NOT_APPLICABLE, "no Nitro instance type (xen): prefix delegation does not apply")
    ]


@pytest.mark.parametrize(
    ("instance_type", "result"),
    [
        ("c5.18xlarge", Result.PASS),  # 737 secondary-IP pods already exceed the 250 ceiling
        ("m5.8xlarge", Result.FAIL),  # 234 < 250 (32 vCPUs)
        ("c5.9xlarge", Result.FAIL),  # 234 < 250 (36 vCPUs)
    ],
)
def test_only_types_below_the_ceiling_are_limited(instance_type: str, result: Result) -> None:
    outcomes = check_ip_prefix_delegation_recommended(
        snapshot(TIGHT, [workers(instance_types=(instance_type,))])
    )
    assert [o.result for o in outcomes] == [result]


def test_custom_networking_lowers_the_secondary_ip_figure() -> None:
    snap = snapshot(
        TIGHT, [workers(instance_types=("c5.18xlarge",))], settings=AwsNodeSettings(custom_network_cfg=True)
    )
    outcomes = check_ip_prefix_delegation_recommended(snap)
    assert outcomes[0].result == Result.PASS
    assert outcomes[0].evidence["instance_types"]["c5.18xlarge"]["secondary_ip_max_pods"] == 14 * 49 + 2


def test_prefix_delegation_unknown_types_is_an_error() -> None:
    snap = snapshot(
        TIGHT,
        [workers(instance_types=("m5.large", "x9.huge")), workers(name="lt", arn=None, instance_types=())],
    )
    outcomes = check_ip_prefix_delegation_recommended(snap)
    assert [(o.resource, o.result, o.reason) for o in outcomes] == [
        (NG_ARN, Result.ERROR, "instance types x9.huge of node group workers were not described"),
        (
            f"{ARN}/nodegroup/lt",
            Result.ERROR,
            "instance types of node group lt are unknown (launch template?)",
        ),
    ]


def test_checks_export_both_specs_with_requirements() -> None:
    assert [(c.spec.id, c.spec.severity, c.spec.requires, c.spec.reads) for c in CHECKS] == [
        (
            "ip_capacity_exhaustion_risk",
            Severity.CRITICAL,
            ("cluster", "network", "nodegroups", "instance_types"),
            ("kubernetes",),  # aws-node settings and ENIConfigs, defaults assumed when unread
        ),
        (
            "ip_prefix_delegation_recommended",
            Severity.LOW,
            ("cluster", "nodegroups", "instance_types"),
            ("kubernetes",),
        ),
    ]


# --- IPv6 clusters: only the nodes' own IPv4 addresses come from the subnets -----------------------


def test_ipv6_cluster_counts_one_ipv4_address_per_node() -> None:
    # The same subnets are CRITICAL for an IPv4 cluster (30 IPs per node, 120 needed for 4 more nodes).
    outcomes = check_ip_capacity_exhaustion_risk(ipv6_cluster(TIGHT))
    assert summary(outcomes) == [
        ("ip_capacity_exhaustion_risk", "subnet-a", Result.PASS, None),
        ("ip_capacity_exhaustion_risk", "subnet-b", Result.PASS, None),
    ]
    evidence = outcomes[0].evidence
    assert (evidence["ips_per_node"], evidence["ips_needed_at_max"], evidence["nodes_that_still_fit"]) == (
        1,
        4,
        29,
    )
    assert evidence["nodegroups"]["workers"]["footprint"] == (
        "m5.large, IPv6 cluster: pods take IPv6 addresses, not the subnet's IPv4 pool; the node holds "
        "only its primary IPv4 address = 1 IP in the node subnet."
    )


def test_ipv6_cluster_needs_no_prefix_delegation_advice() -> None:
    outcomes = check_ip_prefix_delegation_recommended(ipv6_cluster(TIGHT))
    assert [(o.resource, o.result, o.reason) for o in outcomes] == [
        (workers().arn, Result.NOT_APPLICABLE, "IPv6 cluster: pods use IPv6 prefixes")
    ]


# --- VPC CNI subnet discovery: kubernetes.io/role/cni subnets join the AZ's pod IP pool -------------

# Node subnets with room for 5 more nodes' primary ENIs (10 IPs each for m5.large), far from the 120 IPs
# the 4 more nodes per AZ hold in all (30 each): CRITICAL unless discovery adds the tagged subnets.
SMALL = [
    subnet("subnet-a", "10.0.0.0/26", "us-east-1a", 50),
    subnet("subnet-b", "10.0.0.64/26", "us-east-1b", 50),
]
CNI_VERSION = "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v{}-eksbuild.1"


def cni_subnet(subnet_id: str, zone: str, free: int = 4000, **tags: str) -> Subnet:
    cidr = "100.64.0.0/20" if zone.endswith("a") else "100.64.16.0/20"
    base = subnet(subnet_id, cidr, zone, free)
    return base.model_copy(update={"tags": tags or {"kubernetes.io/role/cni": "1"}})


POOL = [cni_subnet("subnet-cni-a", "us-east-1a"), cni_subnet("subnet-cni-b", "us-east-1b")]


def aws_node(version: str = "1.23.1", **fields: Any) -> AwsNodeSettings:
    return AwsNodeSettings(warm_eni_target=1, image=CNI_VERSION.format(version), **fields)


def results(outcomes: list[Outcome]) -> dict[str, tuple[Result, Severity | None]]:
    return {o.resource: (o.result, o.severity) for o in outcomes}


def test_tagged_cni_subnets_count_in_the_headroom_and_are_audited() -> None:
    assert results(check_ip_capacity_exhaustion_risk(snapshot(SMALL))) == {
        "subnet-a": (Result.FAIL, Severity.CRITICAL),
        "subnet-b": (Result.FAIL, Severity.CRITICAL),
    }
    outcomes = check_ip_capacity_exhaustion_risk(snapshot([*SMALL, *POOL], settings=aws_node()))
    assert results(outcomes) == {
        "subnet-a": (Result.PASS, None),
        "subnet-b": (Result.PASS, None),
        "subnet-cni-a": (Result.PASS, None),
        "subnet-cni-b": (Result.PASS, None),
    }
    evidence = next(o for o in outcomes if o.resource == "subnet-a").evidence
    assert evidence["pool_subnets"] == ["subnet-a", "subnet-cni-a"]
    assert (evidence["free_ips"], evidence["ips_needed_at_max"]) == (4050, 120)
    assert (evidence["own_free_ips"], evidence["own_ips_needed_at_max"]) == (50, 40)
    assert evidence["subnet_discovery"] == "on (VPC CNI v1.23.1, ENABLE_SUBNET_DISCOVERY not false)"
    cni = next(o for o in outcomes if o.resource == "subnet-cni-a").evidence
    assert (cni["subnet_role"], cni["nodegroups"].keys()) == ("cni", {"workers"})


def test_discovery_is_assumed_on_when_aws_node_is_unread_and_said() -> None:
    outcomes = check_ip_capacity_exhaustion_risk(snapshot([*SMALL, *POOL]))
    assert results(outcomes)["subnet-a"] == (Result.PASS, None)
    assert outcomes[0].evidence["subnet_discovery"].startswith("assumed on: aws-node not read")


def test_a_new_nodes_primary_eni_still_needs_its_own_subnet() -> None:
    # 29 free: 4 more nodes need 40 addresses for their primary ENIs there, whatever the pool holds.
    outcomes = check_ip_capacity_exhaustion_risk(snapshot([*TIGHT, *POOL], settings=aws_node()))
    failed = next(o for o in outcomes if o.resource == "subnet-a")
    assert (failed.result, failed.severity) == (Result.FAIL, Severity.CRITICAL)
    assert (failed.evidence["own_free_ips"], failed.evidence["own_ips_needed_at_max"]) == (29, 40)
    assert failed.evidence["nodes_that_still_fit"] == 2


def test_an_exhausted_pool_fails_on_the_cni_subnet_too() -> None:
    small_pool = [cni_subnet("subnet-cni-a", "us-east-1a", free=20), cni_subnet("subnet-cni-b", "us-east-1b")]
    outcomes = results(
        check_ip_capacity_exhaustion_risk(snapshot([*SMALL, *small_pool], settings=aws_node()))
    )
    assert outcomes["subnet-a"] == outcomes["subnet-cni-a"] == (Result.FAIL, Severity.CRITICAL)
    assert outcomes["subnet-b"] == outcomes["subnet-cni-b"] == (Result.PASS, None)


@pytest.mark.parametrize(
    ("settings", "tags"),
    [
        (aws_node(enable_subnet_discovery=False), {"kubernetes.io/role/cni": "1"}),
        (aws_node("1.17.1"), {"kubernetes.io/role/cni": "1"}),  # before v1.18.0
        (aws_node(custom_network_cfg=True), {"kubernetes.io/role/cni": "1"}),  # ENIConfigs take precedence
        (aws_node("1.22.0"), {"kubernetes.io/role/cni": "0"}),  # "0" excludes since v1.22.0
        (aws_node("1.23.1"), {"kubernetes.io/role/cni": ""}),
        (aws_node(), {"kubernetes.io/role/cni": "1", "kubernetes.io/cluster/other": "shared"}),
        (aws_node(), {"kubernetes.io/role/elb": "1"}),
    ],
)
def test_subnets_discovery_does_not_use_stay_out_of_the_pool(
    settings: AwsNodeSettings, tags: dict[str, str]
) -> None:
    pool = [
        cni_subnet("subnet-cni-a", "us-east-1a", **tags),
        cni_subnet("subnet-cni-b", "us-east-1b", **tags),
    ]
    outcomes = results(
        check_ip_capacity_exhaustion_risk(snapshot([*SMALL, *pool], settings=settings, eni_configs=()))
    )
    assert "subnet-cni-a" not in outcomes
    if not settings.custom_network_cfg:  # with ENIConfigs the node subnet holds the primary ENI only
        assert outcomes["subnet-a"] == (Result.FAIL, Severity.CRITICAL)


@pytest.mark.parametrize(
    ("version", "tags"),
    [
        ("1.19.2", {"kubernetes.io/role/cni": "0"}),  # v1.18-v1.21: the key alone includes the subnet
        ("1.23.1", {"kubernetes.io/role/cni": "1", "kubernetes.io/cluster/prod": "shared"}),
    ],
)
def test_tag_semantics_by_vpc_cni_version(version: str, tags: dict[str, str]) -> None:
    pool = [
        cni_subnet("subnet-cni-a", "us-east-1a", **tags),
        cni_subnet("subnet-cni-b", "us-east-1b", **tags),
    ]
    outcomes = results(
        check_ip_capacity_exhaustion_risk(snapshot([*SMALL, *pool], settings=aws_node(version)))
    )
    assert outcomes["subnet-a"] == outcomes["subnet-cni-a"] == (Result.PASS, None)


def test_ipv6_clusters_do_not_pool() -> None:
    outcomes = check_ip_capacity_exhaustion_risk(
        snapshot([*SMALL, *POOL], cluster=ipv6_cluster(SMALL).cluster)
    )
    assert {o.resource for o in outcomes} == {"subnet-a", "subnet-b"}
