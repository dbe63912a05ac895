"""nodegroup_ssh_open on a self-managed node group: the ASG's launch template security groups (moto)."""

from __future__ import annotations

import boto3
from eks_auditor.audit import Auditor
from eks_auditor.collect.clients import AwsClients, CallCounter
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.model.check import Result
from moto import mock_aws

from eks_auditor_tools.demo.fleet import REGION, build_fleet


def _self_managed_group(session: boto3.Session, vpc: str, subnet: str, *, ssh_cidr: str) -> str:
    ec2 = session.client("ec2", region_name=REGION)
    sg = ec2.create_security_group(GroupName=f"legacy-nodes-{ssh_cidr[:3]}", Description="nodes", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=sg["GroupId"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": ssh_cidr}]}
        ],
    )
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName="legacy-nodes",
        LaunchTemplateData={"ImageId": image, "SecurityGroupIds": [sg["GroupId"]]},
    )
    session.client("autoscaling", region_name=REGION).create_auto_scaling_group(
        AutoScalingGroupName="legacy-nodes",
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet,
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateName": "legacy-nodes", "Version": "$Latest"},
                "Overrides": [{"InstanceType": "m5.large"}, {"InstanceType": "m5a.large"}],
            }
        },
        Tags=[{"Key": "kubernetes.io/cluster/platform", "Value": "owned", "PropagateAtLaunch": True}],
    )
    return str(sg["GroupId"])


def _audit(session: boto3.Session, counter: CallCounter) -> dict[str, Result]:
    collector = SnapshotCollector(AwsClients(session, counter=counter))
    result = Auditor(collector).audit(REGION, "platform", check_ids=["nodegroup_ssh_open"], source="test")
    return {_group_name(o.resource): o.result for o in result.outcomes}


def _group_name(resource: str) -> str:
    # Self-managed: the ASG ARN (:autoScalingGroupName/<name>); managed: .../nodegroup/<cluster>/<name>/<id>
    if ":autoScalingGroupName/" in resource:
        return resource.split(":autoScalingGroupName/")[-1]
    return resource.split("/")[-2]


def test_self_managed_group_with_ssh_open_to_the_world_fails() -> None:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        fleet = build_fleet(session, REGION)
        _self_managed_group(session, fleet.vpcs["shared"], fleet.subnets["private-a"], ssh_cidr="0.0.0.0/0")
        counter = CallCounter()
        outcomes = _audit(session, counter)
        assert outcomes["legacy-nodes"] is Result.FAIL
        assert (outcomes["system"], outcomes["spot-mixed"]) == (Result.PASS, Result.PASS)
        # One filtered DescribeSecurityGroups for the self-managed groups' security groups.
        assert counter["ec2:DescribeSecurityGroups"] == 1


def test_self_managed_group_with_ssh_from_an_office_range_passes() -> None:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        fleet = build_fleet(session, REGION)
        _self_managed_group(
            session, fleet.vpcs["shared"], fleet.subnets["private-a"], ssh_cidr="198.51.100.0/24"
        )
        outcomes = _audit(session, CallCounter())
        assert outcomes["legacy-nodes"] is Result.PASS
