"""nodegroup_ssh_open and nodes_public_subnet: one outcome per node group."""

from __future__ import annotations

from eks_auditor.checks.nodegroup import nodegroup_resource
from eks_auditor.model.check import Result
from eks_auditor.model.network import IngressRule, RouteTable, SecurityGroup
from eks_auditor.model.snapshot import ClusterSnapshot, NodeGroup
from snapshots import (
    ARN,
    BASE,
    IGW,
    LOCAL,
    NODEGROUP_ARN,
    PRIVATE_A,
    PRIVATE_B,
    PUBLIC_A,
    RTB_MAIN,
    RTB_PRIVATE_A,
    RTB_PUBLIC,
    by_resource,
    default_route,
    only,
    replace_route_table,
    run,
    with_nodegroup,
    with_nodegroups,
    with_subnet,
    without,
)

SSH = "nodegroup_ssh_open"
PUBLIC = "nodes_public_subnet"


def ssh_open() -> ClusterSnapshot:
    return with_nodegroup(BASE, ssh_key="ops-key")


def in_public_subnet() -> ClusterSnapshot:
    return with_nodegroup(BASE, subnet_ids=(PUBLIC_A, PRIVATE_A))


SG_NODES = "sg-0123456789abcdef0"
SG_BASTION = "sg-0fedcba9876543210"


def self_managed(*rules: IngressRule, collected: bool = True) -> ClusterSnapshot:
    group = NodeGroup(name="legacy", kind="self-managed", security_group_ids=(SG_NODES, SG_BASTION))
    snapshot = with_nodegroups(BASE, group)
    if not collected:
        return snapshot.model_copy(
            update={"gaps": {"node_security_groups": "AccessDenied on ec2:DescribeSecurityGroups"}}
        )
    return snapshot.model_copy(
        update={
            "node_security_groups": {
                SG_NODES: SecurityGroup(id=SG_NODES, ingress=rules),
                SG_BASTION: SecurityGroup(id=SG_BASTION),
            }
        }
    )


SSH_FROM_WORLD = IngressRule(protocol="tcp", from_port=22, to_port=22, cidrs=("0.0.0.0/0",))
SSH_FROM_OFFICE = IngressRule(protocol="tcp", from_port=22, to_port=22, cidrs=("198.51.100.0/24",))


COVERAGE = [
    (SSH, Result.FAIL, lambda: self_managed(SSH_FROM_WORLD)),
    (SSH, Result.FAIL, lambda: managed_with_groups(template=(SG_NODES,), open_sg=SG_NODES)),
    (SSH, Result.PASS, lambda: managed_with_groups(template=(SG_NODES,), open_sg=SG_CLUSTER)),
    (SSH, Result.PASS, lambda: self_managed(SSH_FROM_OFFICE)),
    (SSH, Result.FAIL, ssh_open),
    (SSH, Result.PASS, lambda: BASE),
    (SSH, Result.NOT_APPLICABLE, lambda: with_nodegroups(BASE)),
    (SSH, Result.ERROR, lambda: without(BASE, "nodegroups")),
    (PUBLIC, Result.FAIL, in_public_subnet),
    (PUBLIC, Result.PASS, lambda: BASE),
    (PUBLIC, Result.ERROR, lambda: without(BASE, "network")),
]


# --- nodegroup_ssh_open ----------------------------------------------------------------------------


def test_no_ssh_key_passes() -> None:
    outcome = only(SSH, BASE)
    assert outcome.result is Result.PASS
    assert outcome.resource == NODEGROUP_ARN
    assert outcome.evidence == {"nodegroup": "general", "ec2_ssh_key": None, "source_security_groups": []}


def test_ssh_key_without_source_groups_fails() -> None:
    outcome = only(SSH, ssh_open())
    assert outcome.result is Result.FAIL
    assert outcome.severity is None  # the spec's HIGH
    assert outcome.evidence == {
        "nodegroup": "general",
        "ec2_ssh_key": "ops-key",
        "source_security_groups": [],
        "port": 22,
        "open_to": "0.0.0.0/0",
    }


def test_windows_nodes_expose_rdp() -> None:
    outcome = only(SSH, with_nodegroup(BASE, ssh_key="ops-key", ami_type="WINDOWS_CORE_2022_x86_64"))
    assert outcome.evidence["port"] == 3389


def test_ssh_key_with_source_group_passes() -> None:
    snapshot = with_nodegroup(BASE, ssh_key="ops-key", ssh_source_security_groups=("sg-0bastion000000000",))
    outcome = only(SSH, snapshot)
    assert outcome.result is Result.PASS
    assert outcome.evidence["source_security_groups"] == ["sg-0bastion000000000"]


def test_one_outcome_per_group_and_self_managed_not_applicable() -> None:
    groups = (
        NodeGroup(name="a", ssh_key="k"),
        NodeGroup(name="b"),
        NodeGroup(name="asg-legacy", kind="self-managed", ssh_key="k"),
    )
    outcomes = by_resource(run(SSH, with_nodegroups(BASE, *groups)))
    assert {r: o.result for r, o in outcomes.items()} == {
        f"{ARN}/nodegroup/a": Result.FAIL,
        f"{ARN}/nodegroup/b": Result.PASS,
        f"{ARN}/nodegroup/asg-legacy": Result.NOT_APPLICABLE,
    }


def test_no_node_groups_is_one_not_applicable_on_the_cluster() -> None:
    outcome = only(SSH, with_nodegroups(BASE))
    assert (outcome.result, outcome.resource) == (Result.NOT_APPLICABLE, ARN)
    assert only(SSH, without(BASE, "nodegroups")).result is Result.ERROR


def test_resource_id_falls_back_to_the_cluster_arn_and_name() -> None:
    assert nodegroup_resource(BASE, NodeGroup(name="x")) == f"{ARN}/nodegroup/x"
    assert nodegroup_resource(BASE, NodeGroup(name="x", arn="arn:aws:eks:...:nodegroup/p/x/1")) == (
        "arn:aws:eks:...:nodegroup/p/x/1"
    )


# --- nodes_public_subnet ---------------------------------------------------------------------------


def test_private_subnets_pass() -> None:
    outcome = only(PUBLIC, BASE)
    assert outcome.result is Result.PASS
    assert outcome.resource == NODEGROUP_ARN
    assert outcome.evidence == {"nodegroup": "general", "subnet_ids": [PRIVATE_A, PRIVATE_B]}


def test_public_subnet_fails_with_both_reasons() -> None:
    outcome = only(PUBLIC, in_public_subnet())
    assert outcome.result is Result.FAIL
    assert outcome.evidence == {
        "nodegroup": "general",
        "subnet_ids": [PUBLIC_A, PRIVATE_A],
        "public_subnets": [
            {
                "subnet_id": PUBLIC_A,
                "map_public_ip_on_launch": True,
                "route_table_id": RTB_PUBLIC,
                "internet_gateway_id": IGW,
            }
        ],
        "unknown_subnets": [],
    }


def test_auto_assigned_public_ip_alone_fails() -> None:
    outcome = only(PUBLIC, with_subnet(BASE, PRIVATE_B, map_public_ip_on_launch=True))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["public_subnets"] == [{"subnet_id": PRIVATE_B, "map_public_ip_on_launch": True}]


def test_igw_route_alone_fails() -> None:
    table = RouteTable(
        id=RTB_PRIVATE_A, main=False, subnet_ids=(PRIVATE_A,), routes=(LOCAL, default_route("igw", IGW))
    )
    outcome = only(PUBLIC, replace_route_table(BASE, table))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["public_subnets"] == [
        {"subnet_id": PRIVATE_A, "route_table_id": RTB_PRIVATE_A, "internet_gateway_id": IGW}
    ]


def test_blackholed_igw_route_is_not_public() -> None:
    table = RouteTable(
        id=RTB_PRIVATE_A,
        main=False,
        subnet_ids=(PRIVATE_A,),
        routes=(LOCAL, default_route("igw", IGW, active=False)),
    )
    assert only(PUBLIC, replace_route_table(BASE, table)).result is Result.PASS


def test_public_main_table_is_inherited_by_unassociated_subnet() -> None:
    main = RouteTable(id=RTB_MAIN, main=True, routes=(LOCAL, default_route("igw", IGW)))
    unassociated = RouteTable(id=RTB_PRIVATE_A, main=False, subnet_ids=(), routes=(LOCAL,))
    snapshot = replace_route_table(replace_route_table(BASE, main), unassociated)
    outcome = only(PUBLIC, snapshot)
    assert outcome.result is Result.FAIL
    assert outcome.evidence["public_subnets"] == [
        {"subnet_id": PRIVATE_A, "route_table_id": RTB_MAIN, "internet_gateway_id": IGW}
    ]


def test_unknown_subnet_is_error_unless_something_else_is_public() -> None:
    unknown = with_nodegroup(BASE, subnet_ids=(PRIVATE_A, "subnet-0unknown00000000"))
    outcome = only(PUBLIC, unknown)
    assert outcome.result is Result.ERROR
    assert outcome.resource == NODEGROUP_ARN
    assert outcome.reason == "subnets not in the snapshot: subnet-0unknown00000000"
    mixed = only(PUBLIC, with_nodegroup(BASE, subnet_ids=(PUBLIC_A, "subnet-0unknown00000000")))
    assert mixed.result is Result.FAIL
    assert mixed.evidence["unknown_subnets"] == ["subnet-0unknown00000000"]


def test_group_without_subnets_is_error() -> None:
    outcome = only(PUBLIC, with_nodegroup(BASE, subnet_ids=()))
    assert outcome.result is Result.ERROR


def test_missing_parts_are_errors() -> None:
    assert only(PUBLIC, without(BASE, "network")).result is Result.ERROR
    assert only(PUBLIC, without(BASE, "nodegroups")).result is Result.ERROR
    assert only(PUBLIC, with_nodegroups(BASE)).result is Result.NOT_APPLICABLE


# --- self-managed node groups: their security groups ----------------------------------------------


def test_self_managed_group_with_ssh_from_the_world_fails() -> None:
    outcome = only(SSH, self_managed(SSH_FROM_OFFICE, SSH_FROM_WORLD))
    assert outcome.result is Result.FAIL
    assert outcome.evidence == {
        "nodegroup": "legacy",
        "security_groups": [SG_NODES, SG_BASTION],
        "port": 22,
        "open_rules": [
            {
                "security_group_id": SG_NODES,
                "protocol": "tcp",
                "from_port": 22,
                "to_port": 22,
                "open_to": ["0.0.0.0/0"],
            }
        ],
    }


def test_all_traffic_or_a_port_range_from_ipv6_anywhere_counts() -> None:
    everything = IngressRule(protocol="-1", cidrs=("::/0",))
    low_ports = IngressRule(protocol="tcp", from_port=0, to_port=1024, cidrs=("0.0.0.0/0", "10.0.0.0/8"))
    assert only(SSH, self_managed(everything)).result is Result.FAIL
    assert only(SSH, self_managed(low_ports)).evidence["open_rules"][0]["open_to"] == ["0.0.0.0/0"]


def test_other_ports_or_udp_from_the_world_pass() -> None:
    https = IngressRule(protocol="tcp", from_port=443, to_port=443, cidrs=("0.0.0.0/0",))
    udp = IngressRule(protocol="udp", from_port=22, to_port=22, cidrs=("0.0.0.0/0",))
    assert only(SSH, self_managed(https, udp, SSH_FROM_OFFICE)).result is Result.PASS


def test_security_groups_not_collected_is_error_not_pass() -> None:
    outcome = only(SSH, self_managed(collected=False))
    assert outcome.result is Result.ERROR
    assert outcome.reason == "node security groups: AccessDenied on ec2:DescribeSecurityGroups"


# --- managed node groups: launch-template security groups, else the cluster security group ---------

SG_CLUSTER = "sg-0c1a2b3c4d5e6f708"


def managed_with_groups(
    *, template: tuple[str, ...] = (), open_sg: str | None = None, collected: bool = True
) -> ClusterSnapshot:
    """BASE's managed group with these launch-template security groups; the cluster SG is SG_CLUSTER."""
    snapshot = with_nodegroup(BASE, security_group_ids=template)
    snapshot = snapshot.model_copy(
        update={"cluster": snapshot.cluster.model_copy(update={"cluster_security_group_id": SG_CLUSTER})}
    )
    if not collected:
        return snapshot.model_copy(
            update={"gaps": {"node_security_groups": "AccessDenied on ec2:DescribeSecurityGroups"}}
        )
    sgs = {
        sg: SecurityGroup(id=sg, ingress=(SSH_FROM_WORLD,) if sg == open_sg else (SSH_FROM_OFFICE,))
        for sg in (SG_NODES, SG_CLUSTER)
    }
    return snapshot.model_copy(update={"node_security_groups": sgs})


def test_managed_group_launch_template_sg_open_to_the_world_fails() -> None:
    outcome = only(SSH, managed_with_groups(template=(SG_NODES,), open_sg=SG_NODES))
    assert outcome.result is Result.FAIL
    assert outcome.resource == NODEGROUP_ARN
    assert outcome.evidence == {
        "nodegroup": "general",
        "security_groups": [SG_NODES],
        "port": 22,
        "open_rules": [
            {
                "security_group_id": SG_NODES,
                "protocol": "tcp",
                "from_port": 22,
                "to_port": 22,
                "open_to": ["0.0.0.0/0"],
            }
        ],
    }


def test_managed_group_without_template_sgs_is_judged_by_the_cluster_sg() -> None:
    outcome = only(SSH, managed_with_groups(open_sg=SG_CLUSTER))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["security_groups"] == [SG_CLUSTER]
    assert outcome.evidence["open_rules"][0]["security_group_id"] == SG_CLUSTER


def test_managed_group_with_template_sgs_does_not_carry_the_cluster_sg() -> None:
    # EKS adds the cluster security group only when the launch template names no security group.
    outcome = only(SSH, managed_with_groups(template=(SG_NODES,), open_sg=SG_CLUSTER))
    assert outcome.result is Result.PASS
    assert outcome.evidence == {
        "nodegroup": "general",
        "ec2_ssh_key": None,
        "source_security_groups": [],
        "security_groups": [SG_NODES],
    }


def test_managed_group_security_groups_not_collected_is_error() -> None:
    outcome = only(SSH, managed_with_groups(template=(SG_NODES,), collected=False))
    assert outcome.result is Result.ERROR
    assert outcome.reason == "node security groups: AccessDenied on ec2:DescribeSecurityGroups"


def test_managed_group_remote_access_still_fails_first() -> None:
    snapshot = managed_with_groups(template=(SG_NODES,)).model_copy()
    snapshot = with_nodegroup(snapshot, ssh_key="ops-key")
    assert only(SSH, snapshot).evidence["open_to"] == "0.0.0.0/0"
