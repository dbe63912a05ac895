"""Dispatcher under moto with the demo fleet: which clusters an event audits, with which checks, how often.

The fleet (eks_auditor_tools.demo.fleet) has prod-web, analytics, batch and platform in the shared VPC and
payments alone in the isolated VPC. No Kubernetes API is served here: the collector has no
"kubernetes" part, so the checks that need it are audit_incomplete (never a pass).
Deletion tests use their own clusters in us-west-2 so the us-east-1 fleet stays as built.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from eks_auditor.audit import AuditResult
from eks_auditor.collect.clients import AwsClients
from eks_auditor.collect.errors import ClusterUnavailable
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.dispatch import AccountAccess, Dispatcher, resolve_vpcs
from eks_auditor.entrypoints import parse_queued_cluster
from eks_auditor.model.check import Result, Severity
from eks_auditor.model.finding import ChangeKind, Status
from eks_auditor.store import FindingQuery, FindingStore
from eks_auditor.triggers import EKS_EVENT_CHECKS, AuditRequest, VpcReference, requests_from_event
from recording import RecordingAuditor
from table import create_table

from eks_auditor_tools.demo.fleet import ACCOUNT, Fleet
from eks_auditor_tools.fleet import Fleet as FleetBuilder

REGION = "us-east-1"
OTHER_REGION = "us-west-2"
EVENTS = Path(__file__).resolve().parents[2] / "events"
SHARED = {"prod-web", "analytics", "batch", "platform", "ipv6-api"}
EVERYONE = SHARED | {"payments", "inspected"}


@dataclass
class World:
    session: boto3.Session
    fleet: Fleet
    store: FindingStore
    other: FleetBuilder
    other_subnets: tuple[str, ...]


@pytest.fixture(scope="module")
def world(demo_fleet: tuple[boto3.Session, Fleet]) -> World:
    session, fleet = demo_fleet
    store = FindingStore(create_table(session.client("dynamodb")), client=session.client("dynamodb"))
    other = FleetBuilder(OTHER_REGION, session)
    vpc = other.create_vpc(cidr="10.9.0.0/16")
    return World(session, fleet, store, other, vpc.private_subnet_ids)


def make_dispatcher(world: World, *, store: bool = False) -> tuple[Dispatcher, RecordingAuditor]:
    collector = SnapshotCollector(AwsClients(world.session))
    collector.unregister("kubernetes")
    auditor = RecordingAuditor(collector, store=world.store if store else None)
    home = AccountAccess(
        list_clusters=collector.list_clusters,
        cluster_vpc=collector.cluster_vpc,
        ec2_client=lambda region: world.session.client("ec2", region_name=region),
        eks_client=lambda region: world.session.client("eks", region_name=region),
    )
    dispatcher = Dispatcher(auditor, lambda account: home)
    return dispatcher, auditor


def sample(name: str, replacements: dict[str, str] | None = None) -> dict[str, Any]:
    text = (EVENTS / name).read_text(encoding="utf-8")
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    event: dict[str, Any] = json.loads(text)
    return event


def dispatch(dispatcher: Dispatcher, event: dict[str, Any]) -> list[AuditResult]:
    results: list[AuditResult] = []
    for request in requests_from_event(event):
        results += dispatcher.handle(request)
    return results


def request(cluster: str | None, checks: Iterable[str] | None = None, **extra: Any) -> AuditRequest:
    return AuditRequest(
        source=extra.pop("source", "evt-1"),
        event_name=extra.pop("event_name", "UpdateClusterConfig"),
        account=ACCOUNT,
        region=extra.pop("region", REGION),
        cluster=cluster,
        check_ids=None if checks is None else frozenset(checks),
        **extra,
    )


# --- targeted re-audits ------------------------------------------------------------------------------


def test_targeted_reaudit_runs_only_the_requested_checks(world: World) -> None:
    dispatcher, auditor = make_dispatcher(world)
    wanted = {"endpoint_public_unrestricted", "control_plane_logging_disabled"}
    [result] = dispatcher.handle(request("prod-web", wanted))
    assert result.evaluation is not None
    assert set(result.evaluation.checks_run) == wanted
    assert {o.check_id for o in result.outcomes} == wanted
    assert {f.check_id for f in result.failing} == wanted
    assert {(o.check_id, o.result) for o in result.outcomes} == {(c, Result.FAIL) for c in wanted}
    # Only DescribeCluster was needed: no network or node group part was collected.
    assert result.snapshot is not None
    assert (result.snapshot.network, result.snapshot.nodegroups) == (None, None)
    assert auditor.audits == [("prod-web", frozenset(wanted))]


def test_update_cluster_config_event_audits_its_cluster_with_the_event_checks(world: World) -> None:
    dispatcher, auditor = make_dispatcher(world)
    event = sample("eks-update-cluster-config-public-cidrs.json", {"demo-public": "analytics"})
    [result] = dispatch(dispatcher, event)
    # The checks that declare UpdateClusterConfig run (the catalog decides; test_trigger_routing pins
    # the routing of these), and this test is about the ones named here: a check added later that
    # declares the call runs too without changing this test.
    named = {
        "endpoint_public_unrestricted",
        "endpoint_private_access_disabled",
        "endpoint_nodes_blocked_by_cidrs",
        "vpc_endpoint_missing",
        "vpc_endpoint_private_dns_disabled",
        "autoscaler_dynamic_instance_list",
        "cluster_admin_broad",
        "control_plane_logging_disabled",
        # The cluster's subnets are part of its VPC config: UpdateClusterConfig can change them.
        "cluster_subnet_ip_low",
    }
    expected = EKS_EVENT_CHECKS["UpdateClusterConfig"]
    assert expected is not None and named <= expected
    assert result.evaluation is not None
    assert (result.cluster, set(result.evaluation.checks_run)) == ("analytics", expected)
    assert {o.check_id for o in result.outcomes} == expected
    assert result.evaluation.source == event["id"]
    assert sorted({f.check_id for f in result.failing} & named) == [
        "endpoint_nodes_blocked_by_cidrs",
        "endpoint_private_access_disabled",
    ]
    # Without a Kubernetes API these are unknown, not passing.
    assert sorted(result.evaluation.errored_checks) == [
        "autoscaler_dynamic_instance_list",
        "cluster_admin_broad",
    ]
    assert [c for c, _ in auditor.audits] == ["analytics"]


# --- VPC-scoped events -------------------------------------------------------------------------------


def test_route_change_in_the_isolated_vpc_audits_only_its_cluster(world: World) -> None:
    dispatcher, auditor = make_dispatcher(world)
    event = sample("ec2-delete-route.json", {"rtb-0c3d4e5f60718293a": world.fleet.route_tables["isolated-b"]})
    results = dispatch(dispatcher, event)
    assert [r.cluster for r in results] == ["payments"]
    node_network = {
        "endpoint_nodes_blocked_by_cidrs",
        "nodes_public_subnet",
        "vpc_endpoint_missing",
        "vpc_endpoint_private_dns_disabled",
        "autoscaler_dynamic_instance_list",
    }
    assert auditor.audits == [("payments", frozenset(node_network))]


CNI_REGION = "eu-west-1"  # a region of its own: the us-east-1 fleet stays as built
IP = "ip_capacity_exhaustion_risk"


def capacity_verdicts(result: AuditResult) -> dict[str, tuple[Result, Severity | None, str | None]]:
    return {
        o.resource: (o.result, o.severity if o.result is Result.FAIL else None, o.evidence.get("subnet_role"))
        for o in result.outcomes
        if o.check_id == IP
    }


def test_a_subnet_tagged_for_the_vpc_cni_reaudits_capacity_in_its_vpc(world: World) -> None:
    # Two /26 node subnets (59 free each): one more m5.large per AZ (30 IPs) fits, with room for 1 node
    # only, under the 5 spare nodes: HIGH. Tagging a roomy subnet of AZ a kubernetes.io/role/cni adds it
    # to AZ a's pod IP pool (VPC CNI subnet discovery, assumed on: no Kubernetes API here). Secondary ENIs
    # draw on the pool (310 free: 10 nodes), a node's primary ENI (10 IPs) still on its own subnet (5
    # nodes), so AZ a passes; AZ b is unchanged.
    builder = FleetBuilder(CNI_REGION, world.session)
    vpc = builder.create_vpc(cidr="10.20.0.0/16", public=False, nat="none", private_prefix=26)
    node_a, node_b = vpc.private_subnet_ids
    pool_a = builder.create_subnet(vpc.vpc_id, "10.20.1.0/24", "a", "cni-a")
    builder.create_cluster("cni-pool", vpc.private_subnet_ids)
    builder.create_nodegroup(
        "cni-pool", "workers", vpc.private_subnet_ids, min_size=0, desired_size=0, max_size=2
    )
    elsewhere = builder.create_vpc(cidr="10.30.0.0/16", public=False, nat="none")
    builder.create_cluster("cni-elsewhere", elsewhere.private_subnet_ids)

    # A dispatcher per invocation: within one, a cluster audited with these checks is not audited again.
    dispatcher, auditor = make_dispatcher(world)
    [before] = dispatcher.handle(request("cni-pool", [IP], region=CNI_REGION, source="scan-1"))
    assert capacity_verdicts(before) == {
        node_a: (Result.FAIL, Severity.HIGH, "node+pod"),
        node_b: (Result.FAIL, Severity.HIGH, "node+pod"),
    }

    ec2 = world.session.client("ec2", region_name=CNI_REGION)
    ec2.create_tags(Resources=[pool_a], Tags=[{"Key": "kubernetes.io/role/cni", "Value": "1"}])
    event = sample(
        "ec2-create-tags-subnet.json", {"subnet-0e4f5a6b7c8d9e0f1": pool_a, "us-east-1": CNI_REGION}
    )
    dispatcher, auditor = make_dispatcher(world)
    [after] = dispatch(dispatcher, event)
    # Only the cluster in the tagged subnet's VPC, only the check that reads subnet tags.
    assert auditor.audits == [("cni-pool", frozenset({IP}))]
    assert capacity_verdicts(after) == {
        node_a: (Result.PASS, None, "node+pod"),
        pool_a: (Result.PASS, None, "cni"),
        node_b: (Result.FAIL, Severity.HIGH, "node+pod"),
    }

    # Value "0" takes the subnet out again (VPC CNI v1.22+; assumed current when aws-node is not read).
    ec2.create_tags(Resources=[pool_a], Tags=[{"Key": "kubernetes.io/role/cni", "Value": "0"}])
    event["detail"]["requestParameters"]["tagSet"]["items"][0]["value"] = "0"
    dispatcher, auditor = make_dispatcher(world)
    [excluded] = dispatch(dispatcher, event)
    assert auditor.audits == [("cni-pool", frozenset({IP}))]
    assert capacity_verdicts(excluded) == capacity_verdicts(before)

    # Tagged again, then the tag deleted: DeleteTags moves the verdict back the same way.
    ec2.create_tags(Resources=[pool_a], Tags=[{"Key": "kubernetes.io/role/cni", "Value": "1"}])
    event["detail"]["requestParameters"]["tagSet"]["items"][0]["value"] = "1"
    dispatcher, _ = make_dispatcher(world)
    [retagged] = dispatch(dispatcher, event)
    assert capacity_verdicts(retagged) == capacity_verdicts(after)
    ec2.delete_tags(Resources=[pool_a], Tags=[{"Key": "kubernetes.io/role/cni"}])
    deleted = json.loads(json.dumps(event))
    deleted["detail"]["eventName"] = "DeleteTags"
    deleted["detail"]["requestParameters"]["tagSet"]["items"] = [{"key": "kubernetes.io/role/cni"}]
    dispatcher, auditor = make_dispatcher(world)
    [untagged] = dispatch(dispatcher, deleted)
    assert auditor.audits == [("cni-pool", frozenset({IP}))]
    assert capacity_verdicts(untagged) == capacity_verdicts(before)

    # Tags put on an instance only: the router drops the call (the template does not even forward it).
    instance = event["detail"]["requestParameters"]["resourcesSet"]["items"]
    instance[:] = [{"resourceId": "i-0a1b2c3d4e5f60718"}]
    dispatcher, auditor = make_dispatcher(world)
    assert dispatch(dispatcher, event) == []
    assert auditor.audits == []


def test_route_change_in_the_shared_vpc_audits_its_five_clusters(world: World) -> None:
    dispatcher, auditor = make_dispatcher(world)
    event = sample("ec2-delete-route.json", {"rtb-0c3d4e5f60718293a": world.fleet.route_tables["private"]})
    results = dispatch(dispatcher, event)
    assert {r.cluster for r in results} == SHARED
    assert len(auditor.audits) == 5


def test_deleted_vpc_endpoints_resolve_to_their_vpc(world: World) -> None:
    dispatcher, _ = make_dispatcher(world)
    event = sample(
        "ec2-delete-vpc-endpoints.json",
        {
            "vpce-0a11b22c33d44e55f": world.fleet.endpoints["ecr.dkr"],
            "vpce-0f66e77d88c99b00a": world.fleet.endpoints["sts"],
        },
    )
    assert [r.cluster for r in dispatch(dispatcher, event)] == ["payments"]


def _eni_of(ec2: Any, instance_id: str) -> str:
    reservation = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    return str(reservation["Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"])


def test_resolve_vpcs_by_kind(world: World) -> None:
    ec2 = world.session.client("ec2", region_name=REGION)
    fleet = world.fleet
    shared, isolated = fleet.vpcs["shared"], fleet.vpcs["isolated"]
    cases = [
        ({"subnet": (fleet.subnets["tight-a"],)}, {shared}),
        ({"route_table": (fleet.route_tables["isolated-a"],)}, {isolated}),
        ({"vpc_endpoint": (fleet.endpoints["s3"],)}, {isolated}),
        ({"nat_gateway": (fleet.nat_gateway,)}, {shared}),
        # AssociateAddress names an instance or a network interface.
        ({"instance": (fleet.instances["spot-0"],)}, {shared}),
        ({"network_interface": (_eni_of(ec2, fleet.instances["spot-1"]),)}, {shared}),
        ({"vpc": (isolated,), "subnet": (fleet.subnets["private-a"],)}, {shared, isolated}),
        # One unknown id fails that kind's lookup; the other kinds still resolve.
        ({"subnet": ("subnet-00000000000000000",), "route_table": (fleet.route_tables["public"],)}, {shared}),
    ]
    for ids, expected in cases:
        assert resolve_vpcs(ec2, VpcReference(ids=ids)) == frozenset(expected), ids
    assert resolve_vpcs(ec2, VpcReference(ids={"route_table": ("rtb-00000000000000000",)})) is None
    assert resolve_vpcs(ec2, VpcReference(ids={})) is None


def test_unresolvable_reference_widens_to_the_region(world: World) -> None:
    dispatcher, _ = make_dispatcher(world)
    event = sample("ec2-delete-route.json", {"rtb-0c3d4e5f60718293a": "rtb-00000000000000000"})
    assert {r.cluster for r in dispatch(dispatcher, event)} == EVERYONE


def test_call_without_references_widens_to_the_region(world: World) -> None:
    dispatcher, _ = make_dispatcher(world)
    event = sample("ec2-delete-route.json")
    event["detail"]["eventName"] = "DisassociateRouteTable"
    event["detail"]["requestParameters"] = {"associationId": "rtbassoc-0a1b2c3d4e5f60718"}
    assert {r.cluster for r in dispatch(dispatcher, event)} == EVERYONE


def test_a_vpc_without_clusters_audits_nothing(world: World) -> None:
    dispatcher, auditor = make_dispatcher(world)
    # The sample's VPC does not exist in this account; it is named, so nothing widens.
    assert dispatch(dispatcher, sample("ec2-create-subnet.json")) == []
    assert auditor.audits == []


def test_oidc_provider_event_audits_every_cluster_of_the_issuer_region(world: World) -> None:
    dispatcher, auditor = make_dispatcher(world)
    results = dispatch(dispatcher, sample("iam-create-oidc-provider.json"))
    assert {r.cluster for r in results} == EVERYONE
    # IRSA also decides whether isolated nodes need the sts endpoint.
    assert {checks for _, checks in auditor.audits} == {
        frozenset({"oidc_provider_missing", "vpc_endpoint_missing"})
    }
    failing = {r.cluster for r in results for f in r.failing if f.check_id == "oidc_provider_missing"}
    assert failing == {"prod-web"}


# --- de-duplication within one batch -----------------------------------------------------------------


def test_same_cluster_twice_in_one_batch_is_audited_once(world: World) -> None:
    dispatcher, auditor = make_dispatcher(world)
    event = sample("eks-update-cluster-config-public-cidrs.json", {"demo-public": "platform"})
    assert len(dispatch(dispatcher, event)) == 1
    assert dispatch(dispatcher, {**event, "id": "another-event-same-cluster"}) == []
    assert [c for c, _ in auditor.audits] == ["platform"]


def test_dedup_covers_subsets_and_reaudits_for_new_checks(world: World) -> None:
    dispatcher, auditor = make_dispatcher(world)
    both = {"endpoint_public_unrestricted", "control_plane_logging_disabled"}
    assert len(dispatcher.handle(request("prod-web", both))) == 1
    assert dispatcher.handle(request("prod-web", {"endpoint_public_unrestricted"})) == []
    assert len(dispatcher.handle(request("prod-web", {"secrets_encryption_disabled"}))) == 1
    # Now everything asked so far is covered; a full audit is not.
    assert dispatcher.handle(request("prod-web", both | {"secrets_encryption_disabled"})) == []
    assert len(dispatcher.handle(request("prod-web", None))) == 1
    assert dispatcher.handle(request("prod-web", {"nodegroup_ssh_open"})) == []
    assert auditor.audits == [
        ("prod-web", frozenset(both)),
        ("prod-web", frozenset({"secrets_encryption_disabled"})),
        ("prod-web", None),
    ]


def test_vpc_event_after_cluster_event_skips_what_was_audited(world: World) -> None:
    dispatcher, auditor = make_dispatcher(world)
    dispatcher.handle(request("payments", None))
    event = sample("ec2-delete-route.json", {"rtb-0c3d4e5f60718293a": world.fleet.route_tables["isolated-a"]})
    assert dispatch(dispatcher, event) == []
    assert [c for c, _ in auditor.audits] == ["payments"]


def test_a_new_batch_audits_again(world: World) -> None:
    first, first_auditor = make_dispatcher(world)
    second, second_auditor = make_dispatcher(world)
    for dispatcher in (first, second):
        assert len(dispatcher.handle(request("batch", {"spot_single_instance_type"}))) == 1
    assert len(first_auditor.audits) == len(second_auditor.audits) == 1


# --- deleted and missing clusters --------------------------------------------------------------------


def open_findings(world: World, cluster: str) -> list[Any]:
    page = world.store.query(
        FindingQuery(cluster=cluster, account=ACCOUNT, region=OTHER_REGION, status=Status.OPEN, limit=100)
    )
    return page.items


def test_delete_cluster_event_resolves_the_clusters_findings(world: World) -> None:
    world.other.create_cluster("retired", world.other_subnets)
    dispatcher, auditor = make_dispatcher(world, store=True)
    audited = dispatcher.handle(request("retired", None, region=OTHER_REGION, source="scan-1"))
    opened = {c.finding.id for c in audited[0].changes if c.kind is ChangeKind.OPENED}
    # Parts moto cannot answer (404, not AccessDenied) are audit_incomplete: recorded OPEN, not alerted yet.
    held = {f.id for f in audited[0].failing if f.check_id == "audit_incomplete"} - opened
    assert held and {f.id for f in open_findings(world, "retired")} == opened | held
    assert "endpoint_public_unrestricted" in {f.check_id for f in open_findings(world, "retired")}

    world.session.client("eks", region_name=OTHER_REGION).delete_cluster(name="retired")
    event = sample("eks-delete-cluster.json", {"demo-retired": "retired", "us-east-1": OTHER_REGION})
    [result] = dispatch(dispatcher, event)
    assert result.deleted
    assert {c.finding.id for c in result.changes} == opened
    assert {(c.kind, c.finding.status) for c in result.changes} == {(ChangeKind.RESOLVED, Status.RESOLVED)}
    assert open_findings(world, "retired") == []
    # Resolving does not audit: the cluster is gone (moto removes it at once; see the DELETING case).
    assert len(auditor.audits) == 1


def test_delete_cluster_event_for_a_live_cluster_reaudits_and_resolves_nothing(world: World) -> None:
    world.other.create_cluster("forged", world.other_subnets)
    dispatcher, _ = make_dispatcher(world, store=True)
    dispatcher.handle(request("forged", None, region=OTHER_REGION, source="scan-1"))
    before = {f.id for f in open_findings(world, "forged")}
    assert before

    later, later_auditor = make_dispatcher(world, store=True)
    event = sample("eks-delete-cluster.json", {"demo-retired": "forged", "us-east-1": OTHER_REGION})
    [result] = dispatch(later, event)
    assert not result.deleted
    assert later_auditor.audits == [("forged", None)]  # every check, not the delete's
    assert {f.id for f in open_findings(world, "forged")} == before
    assert ChangeKind.RESOLVED not in {c.kind for c in result.changes}


def test_worker_deleted_message_for_a_live_cluster_reaudits(world: World) -> None:
    world.other.create_cluster("still-here", world.other_subnets)
    dispatcher, auditor = make_dispatcher(world, store=True)
    [result] = dispatcher.handle(
        parse_queued_cluster(
            json.dumps(
                {
                    "account": ACCOUNT,
                    "region": OTHER_REGION,
                    "cluster": "still-here",
                    "scan_id": "scan-9",
                    "deleted": True,
                }
            )
        )
    )
    assert not result.deleted
    assert auditor.audits == [("still-here", None)]
    assert open_findings(world, "still-here") != []


def test_delete_cluster_resolves_while_eks_reports_deleting(world: World) -> None:
    # Real EKS answers DescribeCluster with status DELETING for minutes; moto deletes at once, so
    # botocore's Stubber gives the DELETING answer.
    world.other.create_cluster("going", world.other_subnets)
    dispatcher, auditor = make_dispatcher(world, store=True)
    dispatcher.handle(request("going", None, region=OTHER_REGION, source="scan-1"))
    assert open_findings(world, "going") != []
    eks = boto3.client("eks", region_name=OTHER_REGION)
    stubber = Stubber(eks)
    stubber.add_response(
        "describe_cluster", {"cluster": {"name": "going", "status": "DELETING"}}, {"name": "going"}
    )
    home = dispatcher.access_for(ACCOUNT)
    dispatcher.access_for = lambda account: replace(home, eks_client=lambda region: eks)
    with stubber:
        [result] = dispatch(
            dispatcher,
            sample("eks-delete-cluster.json", {"demo-retired": "going", "us-east-1": OTHER_REGION}),
        )
    stubber.assert_no_pending_responses()
    assert result.deleted
    assert {c.kind for c in result.changes} == {ChangeKind.RESOLVED}
    assert open_findings(world, "going") == []
    assert len(auditor.audits) == 1


def test_delete_cluster_is_retried_when_describe_cluster_fails(world: World) -> None:
    eks = boto3.client("eks", region_name=OTHER_REGION)
    stubber = Stubber(eks)
    stubber.add_client_error("describe_cluster", "ThrottlingException", "Rate exceeded")
    dispatcher, auditor = make_dispatcher(world, store=True)
    home = dispatcher.access_for(ACCOUNT)
    dispatcher.access_for = lambda account: replace(home, eks_client=lambda region: eks)
    with stubber, pytest.raises(ClusterUnavailable, match="ThrottlingException"):
        dispatcher.handle(request("any", None, region=OTHER_REGION, delete_cluster=True))
    assert auditor.audits == []


def test_missing_cluster_is_resolved_not_crashed(world: World) -> None:
    world.other.create_cluster("vanished", world.other_subnets)
    dispatcher, _ = make_dispatcher(world, store=True)
    dispatcher.handle(request("vanished", None, region=OTHER_REGION, source="scan-1"))
    assert open_findings(world, "vanished") != []
    world.session.client("eks", region_name=OTHER_REGION).delete_cluster(name="vanished")

    later, _ = make_dispatcher(world, store=True)
    [result] = later.handle(request("vanished", {"cluster_admin_broad"}, region=OTHER_REGION, source="evt-2"))
    assert result.deleted
    assert result.changes and {c.kind for c in result.changes} == {ChangeKind.RESOLVED}
    assert open_findings(world, "vanished") == []


def test_cluster_that_never_existed_is_resolved_with_nothing_to_resolve(world: World) -> None:
    dispatcher, _ = make_dispatcher(world, store=True)
    [result] = dispatcher.handle(request("never-was", None, region=OTHER_REGION))
    assert (result.deleted, result.changes, result.evaluation) == (True, [], None)


# --- AccessDenied while resolving a VPC's clusters ---------------------------------------------------


def test_access_denied_on_one_cluster_of_a_vpc_is_incomplete_and_the_others_are_audited(world: World) -> None:
    dispatcher, _ = make_dispatcher(world)
    eks = dispatcher.auditor.collector.clients.eks(REGION)  # type: ignore[attr-defined]

    # before-parameter-build sees the API parameters (before-call only the serialized request).
    def deny(params: dict[str, Any], **_: Any) -> None:
        if params.get("name") == "analytics":
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "DescribeCluster"
            )

    eks.meta.events.register("before-parameter-build.eks.DescribeCluster", deny)
    event = sample("ec2-delete-route.json", {"rtb-0c3d4e5f60718293a": world.fleet.route_tables["private"]})
    results = {r.cluster: r for r in dispatch(dispatcher, event)}
    assert set(results) == SHARED
    denied = results["analytics"]
    assert denied.evaluation is not None
    assert denied.evaluation.passing == ()
    assert {o.result for o in denied.outcomes} == {Result.ERROR}
    assert {f.evidence["check_id"] for f in denied.failing} == set(denied.evaluation.checks_run)
    assert {f.check_id for f in denied.failing} == {"audit_incomplete"}
    assert {f.evidence["reason"] for f in denied.failing} == {
        "could not collect cluster: AccessDeniedException on eks:DescribeCluster: not authorized"
    }
    # The clusters that could be described were audited normally.
    assert results["platform"].evaluation is not None
    assert "nodes_public_subnet" not in results["platform"].evaluation.errored_checks
