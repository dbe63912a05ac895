"""dispatch.resolve_scope under moto: transit gateways, peering, Auto Scaling groups, launch templates and
firewalls resolved to the VPCs or clusters whose verdicts they can change.

The account: clusters `alpha` (VPC A, with a self-managed group on a `$Latest` launch template) and `beta`
(VPC B), both attached to one transit gateway, peered with each other, and a firewall in VPC B. An unused
launch template and an untagged Auto Scaling group are not any cluster's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from eks_auditor.collect.clients import AwsClients
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.dispatch import AccountAccess, Dispatcher, Scope, resolve_scope
from eks_auditor.triggers import VpcReference, requests_from_event
from recording import RecordingAuditor

from eks_auditor_tools.fleet import Fleet

REGION = "us-east-1"
EVENTS = Path(__file__).resolve().parents[2] / "events"
POLICY = f"arn:aws:network-firewall:{REGION}:123456789012:firewall-policy/egress"


@dataclass
class Account:
    session: boto3.Session
    vpc_a: str
    vpc_b: str
    vpc_c: str  # attached to nothing, runs no cluster
    tgw: str
    attachment_a: str
    table_a: str  # associated with A's attachment only
    table_b: str  # associated with B's attachment only
    peering: str
    firewall_arn: str
    template: str  # alpha's self-managed group follows its $Latest
    unused_template: str

    def ec2(self) -> Any:
        return self.session.client("ec2", region_name=REGION)

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=REGION)


@pytest.fixture(scope="module")
def account(module_aws: boto3.Session) -> Account:
    fleet = Fleet(REGION, module_aws)
    a = fleet.create_vpc(cidr="10.20.0.0/16", public=False, nat="none")
    b = fleet.create_vpc(cidr="10.21.0.0/16", public=False, nat="none")
    c = fleet.create_vpc(cidr="10.22.0.0/16", public=False, nat="none")
    fleet.create_cluster("alpha", a.private_subnet_ids)
    fleet.create_cluster("beta", b.private_subnet_ids)
    group = fleet.create_self_managed_group("alpha", "alpha-workers", a.private_subnet_ids, launch="mixed")
    mixed = fleet.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    template = mixed[0]["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    fleet.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web-frontend",
        MinSize=0,
        MaxSize=2,
        VPCZoneIdentifier=",".join(b.private_subnet_ids),
        LaunchConfigurationName=_launch_configuration(fleet),
    )
    ec2 = fleet.ec2
    # No default association: each attachment gets its own table, as a segmented network has.
    tgw = ec2.create_transit_gateway(Options={"DefaultRouteTableAssociation": "disable"})["TransitGateway"][
        "TransitGatewayId"
    ]
    attachments = [
        ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw, VpcId=vpc.vpc_id, SubnetIds=[vpc.private_subnet_ids[0]]
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        for vpc in (a, b)
    ]
    tables = []
    for attachment in attachments:
        table = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)["TransitGatewayRouteTable"]
        ec2.associate_transit_gateway_route_table(
            TransitGatewayAttachmentId=attachment,
            TransitGatewayRouteTableId=table["TransitGatewayRouteTableId"],
        )
        tables.append(table["TransitGatewayRouteTableId"])
    peering = ec2.create_vpc_peering_connection(VpcId=a.vpc_id, PeerVpcId=b.vpc_id)["VpcPeeringConnection"]
    firewall = module_aws.client("network-firewall", region_name=REGION).create_firewall(
        FirewallName="egress-inspection",
        FirewallPolicyArn=POLICY,
        VpcId=b.vpc_id,
        SubnetMappings=[{"SubnetId": b.private_subnet_ids[1]}],
    )
    unused = fleet.create_launch_template("nobody-uses-me", "m5.large")
    return Account(
        session=module_aws,
        vpc_a=a.vpc_id,
        vpc_b=b.vpc_id,
        vpc_c=c.vpc_id,
        tgw=tgw,
        attachment_a=attachments[0],
        table_a=tables[0],
        table_b=tables[1],
        peering=peering["VpcPeeringConnectionId"],
        firewall_arn=firewall["Firewall"]["FirewallArn"],
        template=template["LaunchTemplateId"],
        unused_template=unused,
    )


def _launch_configuration(fleet: Fleet) -> str:
    fleet.autoscaling.create_launch_configuration(
        LaunchConfigurationName="web-frontend-lc", ImageId="ami-12c6146b", InstanceType="t3.small"
    )
    return "web-frontend-lc"


def scope(account: Account, ids: dict[str, tuple[str, ...]]) -> Scope | None:
    return resolve_scope(VpcReference(ids=ids), account.ec2(), account.client)


def test_transit_gateway_ids_resolve_to_the_vpcs_they_route(account: Account) -> None:
    both = Scope(vpcs=frozenset({account.vpc_a, account.vpc_b}))
    # A gateway or one of its attachments: every attached VPC (an egress attachment serves them all).
    assert scope(account, {"transit_gateway": (account.tgw,)}) == both
    assert scope(account, {"transit_gateway_attachment": (account.attachment_a,)}) == both
    # A route table: only the VPCs whose attachment it routes.
    assert scope(account, {"transit_gateway_route_table": (account.table_a,)}) == Scope(
        vpcs=frozenset({account.vpc_a})
    )
    assert scope(account, {"transit_gateway_route_table": (account.table_b,)}) == Scope(
        vpcs=frozenset({account.vpc_b})
    )


def test_peering_connection_resolves_to_both_vpcs(account: Account) -> None:
    assert scope(account, {"vpc_peering_connection": (account.peering,)}) == Scope(
        vpcs=frozenset({account.vpc_a, account.vpc_b})
    )


def test_firewall_resolves_to_its_vpc_by_arn_or_name(account: Account) -> None:
    expected = Scope(vpcs=frozenset({account.vpc_b}))
    assert scope(account, {"firewall": (account.firewall_arn,)}) == expected
    assert scope(account, {"firewall": ("egress-inspection",)}) == expected
    # A firewall already gone: nothing resolved, the caller widens to the region.
    assert scope(account, {"firewall": ("deleted-long-ago",)}) is None


def test_auto_scaling_group_resolves_to_the_cluster_its_tags_name(account: Account) -> None:
    assert scope(account, {"auto_scaling_group": ("alpha-workers",)}) == Scope(clusters=frozenset({"alpha"}))
    # Found, but no cluster's node group: nothing to audit (never "every cluster in the region").
    assert scope(account, {"auto_scaling_group": ("web-frontend",)}) == Scope()
    # Gone (deleted): whose it was is unknown; tags on the event, when present, still name the cluster.
    assert scope(account, {"auto_scaling_group": ("deleted-group",)}) is None
    assert scope(account, {"auto_scaling_group": ("deleted-group",), "cluster": ("beta",)}) == Scope(
        clusters=frozenset({"beta"})
    )


def test_launch_template_resolves_to_the_clusters_of_the_groups_that_follow_it(account: Account) -> None:
    assert scope(account, {"launch_template": (account.template,)}) == Scope(clusters=frozenset({"alpha"}))
    assert scope(account, {"launch_template": ("alpha-workers-lt",)}) == Scope(clusters=frozenset({"alpha"}))
    assert scope(account, {"launch_template": (account.unused_template,)}) == Scope()


def test_without_the_other_services_only_ec2_references_resolve(account: Account) -> None:
    refs = VpcReference(ids={"auto_scaling_group": ("alpha-workers",), "vpc": (account.vpc_c,)})
    assert resolve_scope(refs, account.ec2()) == Scope(vpcs=frozenset({account.vpc_c}))
    assert resolve_scope(VpcReference(ids={"auto_scaling_group": ("alpha-workers",)}), account.ec2()) is None


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def dispatched(account: Account, event: dict[str, Any]) -> list[tuple[str, frozenset[str] | None]]:
    collector = SnapshotCollector(AwsClients(account.session))
    collector.unregister("kubernetes")
    auditor = RecordingAuditor(collector)
    home = AccountAccess(
        list_clusters=collector.list_clusters,
        cluster_vpc=collector.cluster_vpc,
        ec2_client=lambda region: account.session.client("ec2", region_name=region),
        eks_client=lambda region: account.session.client("eks", region_name=region),
        client=lambda service, region: account.session.client(service, region_name=region),
    )
    dispatcher = Dispatcher(auditor, lambda account: home)
    for request in requests_from_event(event):
        dispatcher.handle(request)
    return auditor.audits


def test_an_auto_scaling_event_audits_only_the_cluster_of_its_group(account: Account) -> None:
    event = load_event("autoscaling-update-auto-scaling-group.json")
    event["detail"]["requestParameters"]["autoScalingGroupName"] = "alpha-workers"
    [(cluster, checks)] = dispatched(account, event)
    assert cluster == "alpha"
    assert checks is not None and {"ip_capacity_exhaustion_risk", "nodes_public_subnet"} <= checks


def test_a_firewall_event_audits_the_clusters_of_its_vpc(account: Account) -> None:
    event = load_event("network-firewall-associate-subnets.json")
    event["detail"]["requestParameters"] = {"firewallArn": account.firewall_arn}
    event["detail"]["responseElements"] = None
    assert [cluster for cluster, _ in dispatched(account, event)] == ["beta"]


def test_a_template_no_group_follows_audits_nothing(account: Account) -> None:
    event = load_event("ec2-create-launch-template-version.json")
    request = event["detail"]["requestParameters"]["CreateLaunchTemplateVersionRequest"]
    request["LaunchTemplateId"] = account.unused_template
    event["detail"]["responseElements"] = None
    assert dispatched(account, event) == []
