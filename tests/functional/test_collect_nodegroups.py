"""Node groups: managed (ListNodegroups + DescribeNodegroup) and self-managed (tagged ASGs), against moto.

One moto account per module (moto's first calls per account are slow); one cluster per scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from eks_auditor.collect import cluster as cluster_module
from eks_auditor.collect.clients import AwsClients, CallCounter
from eks_auditor.collect.cluster import describe_self_managed_groups_of, normalize_self_managed_group
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.model.snapshot import NodeGroup

from eks_auditor_tools.fleet import Fleet, NodegroupIds, VpcIds

REGION = "us-east-1"
NODEGROUPS = frozenset({"nodegroups"})


@dataclass(frozen=True)
class World:
    vpc: VpcIds
    spot_workers: NodegroupIds


@pytest.fixture(scope="module")
def world(module_aws: boto3.Session) -> World:
    fleet = Fleet(REGION, module_aws)
    vpc = fleet.create_vpc(nat="single")
    subnets = vpc.private_subnet_ids
    for cluster in ("managed", "selfmanaged", "other", "empty"):
        fleet.create_cluster(cluster, subnets)
    spot_workers = fleet.create_nodegroup(
        "managed",
        "spot-workers",
        subnets,
        instance_types=["m5.large", "m5a.large"],
        capacity_type="SPOT",
        min_size=1,
        max_size=10,
        desired_size=3,
        ssh_key="ops",
        source_security_groups=["sg-0bastion"],
        labels={"role": "worker"},
        tags={"team": "platform"},
    )
    fleet.create_nodegroup("managed", "plain", subnets)
    fleet.create_nodegroup("managed", "lt", subnets, launch_template_instance_type="c5.xlarge")

    fleet.create_self_managed_group(
        "selfmanaged",
        "sm-spot",
        subnets,
        instance_types=["r5.large", "r5a.large", "r4.large"],
        spot=True,
        min_size=0,
        max_size=20,
        desired_size=2,
        tags={"k8s.io/cluster-autoscaler/enabled": "true"},
    )
    fleet.create_self_managed_group("selfmanaged", "sm-od", subnets, instance_types=["m5.large"])
    fleet.create_self_managed_group(
        "selfmanaged", "sm-lt", subnets, instance_types=["c5.large"], spot=True, launch="template"
    )
    fleet.create_self_managed_group(
        "selfmanaged", "sm-lc", subnets, instance_types=["t3.large"], spot=True, launch="configuration"
    )
    fleet.create_self_managed_group(
        "selfmanaged", "sm-lc-od", subnets, instance_types=["t3.xlarge"], launch="configuration"
    )
    fleet.create_self_managed_group("selfmanaged", "sm-shared", subnets, cluster_tag_value="shared")
    # EKS tags its own ASG with kubernetes.io/cluster/<name> too; eks:nodegroup-name tells them apart.
    fleet.create_nodegroup("selfmanaged", "mng", subnets, with_asg=True)
    fleet.create_self_managed_group("other", "theirs", subnets)
    return World(vpc=vpc, spot_workers=spot_workers)


def nodegroups(cluster: str, counter: CallCounter | None = None) -> dict[str, NodeGroup]:
    clients = AwsClients(boto3.Session(region_name=REGION), counter=counter)
    snapshot = SnapshotCollector(clients).collect(REGION, cluster, NODEGROUPS)
    assert snapshot.gaps == {}
    assert snapshot.nodegroups is not None
    return {group.name: group for group in snapshot.nodegroups}


def test_managed_nodegroup_fields(world: World) -> None:
    ids = world.spot_workers
    assert nodegroups("managed")["spot-workers"] == NodeGroup(
        name="spot-workers",
        kind="managed",
        arn=ids.arn,
        status="ACTIVE",
        capacity_type="SPOT",
        instance_types=("m5.large", "m5a.large"),
        subnet_ids=world.vpc.private_subnet_ids,
        min_size=1,
        max_size=10,
        desired_size=3,
        ami_type="AL2_x86_64",
        ssh_key="ops",
        ssh_source_security_groups=("sg-0bastion",),
        asg_names=(ids.asg_name,),
        labels={"role": "worker"},
        tags={"team": "platform"},
    )


def test_managed_nodegroup_without_remote_access_has_no_ssh_key(world: World) -> None:
    group = nodegroups("managed")["plain"]
    assert (group.ssh_key, group.ssh_source_security_groups, group.capacity_type) == (None, (), "ON_DEMAND")


def test_managed_nodegroup_instance_type_from_its_launch_template(world: World) -> None:
    counter = CallCounter()
    groups = nodegroups("managed", counter)
    assert groups["lt"].instance_types == ("c5.xlarge",)
    # Only the group without instanceTypes needs its launch template.
    assert counter.calls == {
        "eks:DescribeCluster": 1,
        "eks:ListNodegroups": 1,
        "eks:DescribeNodegroup": 3,
        "autoscaling:DescribeAutoScalingGroups": 1,
        "ec2:DescribeLaunchTemplateVersions": 1,
    }


def test_self_managed_spot_asg_with_mixed_instances(world: World) -> None:
    group = nodegroups("selfmanaged")["sm-spot"]
    assert group.model_dump(exclude={"arn"}) == NodeGroup(
        name="sm-spot",
        kind="self-managed",
        capacity_type="SPOT",
        instance_types=("r5.large", "r5a.large", "r4.large"),
        subnet_ids=world.vpc.private_subnet_ids,
        min_size=0,
        max_size=20,
        desired_size=2,
        asg_names=("sm-spot",),
        tags={"kubernetes.io/cluster/selfmanaged": "owned", "k8s.io/cluster-autoscaler/enabled": "true"},
    ).model_dump(exclude={"arn"})
    assert group.arn is not None
    assert group.arn.endswith(":autoScalingGroupName/sm-spot")


def test_self_managed_kinds_capacity_and_types(world: World) -> None:
    groups = nodegroups("selfmanaged")
    assert {name: (g.kind, g.capacity_type, g.instance_types) for name, g in groups.items()} == {
        "mng": ("managed", "ON_DEMAND", ("m5.large",)),
        "sm-spot": ("self-managed", "SPOT", ("r5.large", "r5a.large", "r4.large")),
        "sm-od": ("self-managed", "ON_DEMAND", ("m5.large",)),
        "sm-lt": ("self-managed", "SPOT", ("c5.large",)),
        "sm-lc": ("self-managed", "SPOT", ("t3.large",)),
        "sm-lc-od": ("self-managed", "ON_DEMAND", ("t3.xlarge",)),
        "sm-shared": ("self-managed", "ON_DEMAND", ("m5.large",)),
    }


def test_self_managed_calls_are_batched(world: World) -> None:
    counter = CallCounter()
    nodegroups("selfmanaged", counter)
    assert counter.calls == {
        "eks:DescribeCluster": 1,
        "eks:ListNodegroups": 1,
        "eks:DescribeNodegroup": 1,
        # One filtered call, not a listing of every ASG in the region.
        "autoscaling:DescribeAutoScalingGroups": 1,
        # One per distinct template of the self-managed groups: their security groups live there
        # (nodegroup_ssh_open), even when the mixed groups' overrides name the types.
        "ec2:DescribeLaunchTemplateVersions": 4,
        # sm-lc and sm-lc-od in one batched call.
        "autoscaling:DescribeLaunchConfigurations": 1,
    }


def test_asgs_of_other_clusters_are_left_out(world: World) -> None:
    assert sorted(nodegroups("other")) == ["theirs"]


def test_cluster_without_node_groups_has_empty_tuple(world: World) -> None:
    assert nodegroups("empty") == {}


def test_attribute_based_overrides_record_no_instance_type() -> None:
    # InstanceRequirements overrides name no type: record what is known (nothing), not a guess.
    raw = {
        "AutoScalingGroupName": "abs",
        "MinSize": 0,
        "MaxSize": 5,
        "DesiredCapacity": 1,
        "VPCZoneIdentifier": "subnet-1, subnet-2",
        "MixedInstancesPolicy": {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1", "Version": "$Default"},
                "Overrides": [
                    {"InstanceRequirements": {"VCpuCount": {"Min": 2}, "MemoryMiB": {"Min": 4096}}}
                ],
            },
            "InstancesDistribution": {"OnDemandBaseCapacity": 1, "OnDemandPercentageAboveBaseCapacity": 0},
        },
        "Tags": [{"Key": "kubernetes.io/cluster/prod", "Value": "owned"}],
    }
    group = normalize_self_managed_group(raw)
    assert (group.instance_types, group.capacity_type, group.subnet_ids) == (
        (),
        "SPOT",
        ("subnet-1", "subnet-2"),
    )


ALL_CLUSTERS = ("managed", "selfmanaged", "other", "empty")


def test_expected_clusters_share_one_read_of_their_self_managed_groups(world: World) -> None:
    # A scan announces the clusters it lists (expect_clusters): the first audit that reads node groups
    # reads the self-managed ASGs of them all, one call instead of one per cluster; same node groups.
    counter = CallCounter()
    scan = SnapshotCollector(AwsClients(boto3.Session(region_name=REGION), counter=counter))
    scan.expect_clusters(REGION, ALL_CLUSTERS)
    together = {cluster: scan.collect(REGION, cluster, NODEGROUPS).nodegroups for cluster in ALL_CLUSTERS}
    assert counter["autoscaling:DescribeAutoScalingGroups"] == 1
    assert together == {cluster: tuple(nodegroups(cluster).values()) for cluster in ALL_CLUSTERS}


def test_the_shared_read_goes_fifty_clusters_a_call(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_module, "SELF_MANAGED_TAG_KEYS_PER_CALL", 3)
    counter = CallCounter()
    scan = SnapshotCollector(AwsClients(boto3.Session(region_name=REGION), counter=counter))
    scan.expect_clusters(REGION, ALL_CLUSTERS)
    groups = scan.collect(REGION, "other", NODEGROUPS).nodegroups
    assert groups is not None and [g.name for g in groups] == ["theirs"]
    assert counter["autoscaling:DescribeAutoScalingGroups"] == 2  # 4 clusters, 3 tag keys a call


def test_a_failed_shared_read_leaves_each_cluster_its_own(world: World) -> None:
    # The shared read is an optimization: when it fails (here: throttled beyond retries), every audit
    # reads its own cluster's groups, and an error then would be that cluster's alone.
    counter = CallCounter()
    aws = AwsClients(boto3.Session(region_name=REGION), counter=counter)

    def fail_shared_read(params: dict[str, Any], **_: Any) -> None:
        if len(params["Filters"][0]["Values"]) > 1:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Describe")

    aws.autoscaling(REGION).meta.events.register(
        "before-parameter-build.auto-scaling.DescribeAutoScalingGroups", fail_shared_read
    )
    scan = SnapshotCollector(aws)
    scan.expect_clusters(REGION, ALL_CLUSTERS)
    collected = {cluster: scan.collect(REGION, cluster, NODEGROUPS) for cluster in ALL_CLUSTERS}
    assert {cluster: s.gaps for cluster, s in collected.items()} == {cluster: {} for cluster in ALL_CLUSTERS}
    assert {c: s.nodegroups for c, s in collected.items()} == {
        cluster: tuple(nodegroups(cluster).values()) for cluster in ALL_CLUSTERS
    }
    # One failed shared read, then one read per cluster.
    assert counter["autoscaling:DescribeAutoScalingGroups"] == 1 + len(ALL_CLUSTERS)


def test_an_asg_tagged_for_two_clusters_belongs_to_both() -> None:
    client = boto3.client("autoscaling", region_name=REGION, aws_access_key_id="k", aws_secret_access_key="s")

    def asg(name: str, *tags: str) -> dict[str, Any]:
        return {
            "AutoScalingGroupName": name,
            "MinSize": 0,
            "MaxSize": 1,
            "DesiredCapacity": 0,
            "DefaultCooldown": 300,
            "AvailabilityZones": ["us-east-1a"],
            "HealthCheckType": "EC2",
            "CreatedTime": "2026-01-01T00:00:00Z",
            "Tags": [{"Key": tag, "Value": "owned"} for tag in tags],
        }

    with Stubber(client) as stub:
        stub.add_response(
            "describe_auto_scaling_groups",
            {
                "AutoScalingGroups": [
                    asg("shared", "kubernetes.io/cluster/a", "kubernetes.io/cluster/b"),
                    asg("eks-ng", "kubernetes.io/cluster/a", "eks:nodegroup-name"),
                    asg("b-only", "kubernetes.io/cluster/b"),
                ]
            },
            {
                "Filters": [
                    {"Name": "tag-key", "Values": ["kubernetes.io/cluster/a", "kubernetes.io/cluster/b"]}
                ]
            },
        )
        found = describe_self_managed_groups_of(client, ["a", "b"])
    assert {name: [g["AutoScalingGroupName"] for g in groups] for name, groups in found.items()} == {
        "a": ["shared"],
        "b": ["shared", "b-only"],
    }
