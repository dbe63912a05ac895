"""SnapshotCollector end to end: parts, error boundaries, retries, version support, the calls it makes.

Failures are injected in two ways, each named in its test:
- an event hook on the client ('before-call.<service>.<Operation>') raising the ClientError botocore
  would raise for the API's error answer, where the rest of the scan runs against moto;
- botocore's Stubber, for eks:DescribeClusterVersions (moto does not implement it).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import boto3
import botocore
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from eks_auditor.checks.version import load_calendar, support_from_calendar
from eks_auditor.collect.clients import CLIENT_CONFIG, USER_AGENT, AwsClients, CallCounter
from eks_auditor.collect.errors import PartUnavailable
from eks_auditor.collect.permissions import REQUIRED_PERMISSIONS
from eks_auditor.collect.snapshot import AWS_PARTS, PartCollector, PartContext, PartResult, SnapshotCollector
from eks_auditor.collect.versions import describe_cluster_versions
from eks_auditor.model.part import Part
from eks_auditor.model.snapshot import KubernetesVersion, VersionSupport

from eks_auditor_tools.fleet import ClusterIds, Fleet, VpcIds

REGION = "us-east-1"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MY_PARTS = frozenset({"cluster", "network", "nodegroups", "iam_oidc_providers", "version_support"})


@dataclass(frozen=True)
class World:
    vpc: VpcIds
    prod: ClusterIds
    staging: ClusterIds


@pytest.fixture(scope="module")
def world(module_aws: boto3.Session) -> World:
    fleet = Fleet(REGION, module_aws)
    vpc = fleet.create_vpc(isolated=True)
    fleet.add_endpoints(vpc, ["s3", "ecr.api"])
    prod = fleet.create_cluster("prod", vpc.private_subnet_ids, version="1.30", log_types=["audit"])
    staging = fleet.create_cluster(
        "staging", vpc.isolated_subnet_ids, version="1.31", public=False, private=True
    )
    fleet.register_oidc_provider(prod.oidc_issuer)
    fleet.create_nodegroup("prod", "workers", vpc.private_subnet_ids, instance_types=["m5.large"])
    fleet.create_nodegroup("prod", "lt", vpc.private_subnet_ids, launch_template_instance_type="c5.large")
    fleet.create_self_managed_group("prod", "sm-lc", vpc.private_subnet_ids, launch="configuration")
    fleet.create_self_managed_group("prod", "sm-spot", vpc.private_subnet_ids, instance_types=["r5.large"])
    return World(vpc=vpc, prod=prod, staging=staging)


def clients(counter: CallCounter | None = None) -> AwsClients:
    return AwsClients(boto3.Session(region_name=REGION), counter=counter)


def deny(client: Any, operation: str, code: str, message: str) -> None:
    """Make `operation` answer with an error, as botocore raises it (event hook; the rest stays moto)."""
    service = client.meta.service_model.service_id.hyphenize()

    def raise_error(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

    client.meta.events.register(f"before-call.{service}.{operation}", raise_error)


MOTO_404 = {
    "addons": "404 on eks:ListAddons: Not yet implemented",
    "pod_identity_associations": "404 on eks:ListPodIdentityAssociations: Not yet implemented",
}


def test_every_part_collected(world: World) -> None:
    snapshot = SnapshotCollector(clients(), now=lambda: NOW).collect(REGION, "prod", AWS_PARTS)
    # moto has no access entries, add-ons or Pod Identity associations (test_access_entries.py and
    # test_collect_addons.py cover them with the Stubber): gaps, not a crash.
    assert snapshot.gaps == {
        "access_entries": "404 on eks:ListAccessEntries: Not yet implemented",
        **MOTO_404,
    }
    assert (snapshot.account, snapshot.arn, snapshot.collected_at) == ("123456789012", world.prod.arn, NOW)
    assert snapshot.cluster is not None
    assert snapshot.cluster.enabled_log_types == frozenset({"audit"})
    assert snapshot.network is not None
    assert snapshot.network.vpc_id == world.vpc.vpc_id
    assert snapshot.nodegroups is not None
    assert sorted((g.name, g.kind, g.instance_types) for g in snapshot.nodegroups) == [
        ("lt", "managed", ("c5.large",)),
        ("sm-lc", "self-managed", ("m5.large",)),
        ("sm-spot", "self-managed", ("r5.large",)),
        ("workers", "managed", ("m5.large",)),
    ]
    assert snapshot.instance_types is not None
    assert sorted(snapshot.instance_types) == ["c5.large", "m5.large", "r5.large"]
    assert snapshot.iam_oidc_providers == frozenset({world.prod.oidc_issuer.removeprefix("https://")})
    # moto does not implement DescribeClusterVersions: the release calendar answers.
    assert snapshot.version_support == support_from_calendar(
        KubernetesVersion(major=1, minor=30), load_calendar()
    )
    assert snapshot.version_support is not None
    assert (
        snapshot.version_support.end_of_standard_support,
        snapshot.version_support.end_of_extended_support,
    ) == (
        date(2025, 7, 23),
        date(2026, 7, 23),
    )
    assert (snapshot.kubernetes, snapshot.access_entries) == (None, None)
    assert "kubernetes" not in AWS_PARTS


def test_collectors_call_exactly_the_permissions_they_declare(world: World) -> None:
    counter = CallCounter()
    scan = SnapshotCollector(clients(counter))
    assert sorted(scan.list_clusters(REGION)) == ["prod", "staging"]
    scan.collect(REGION, "prod", MY_PARTS)
    declared = {action for part in MY_PARTS for action in REQUIRED_PERMISSIONS[part]}
    # This world's default routes go to a NAT gateway: the egress follow-ups behind a transit gateway
    # or a firewall endpoint are not needed here (tests/functional/test_collect_egress.py calls them).
    egress_follow_ups = {
        "ec2:DescribeTransitGatewayAttachments",
        "ec2:SearchTransitGatewayRoutes",
        "ec2:DescribeTransitGatewayVpcAttachments",
        "network-firewall:ListFirewalls",
        "network-firewall:DescribeFirewall",
    }
    assert egress_follow_ups <= set(REQUIRED_PERMISSIONS[Part.NETWORK])
    assert set(counter.calls) == declared - egress_follow_ups


def test_scan_call_budget(world: World) -> None:
    counter = CallCounter()
    scan = SnapshotCollector(clients(counter))
    scan.collect(REGION, "prod", MY_PARTS)
    scan.collect(REGION, "staging", MY_PARTS)
    assert counter.calls == {
        "eks:DescribeCluster": 2,
        # Same VPC: one of each for both clusters.
        "ec2:DescribeVpcs": 1,
        "ec2:DescribeSubnets": 1,
        "ec2:DescribeRouteTables": 1,
        "ec2:DescribeNatGateways": 1,
        "ec2:DescribeVpcEndpoints": 1,
        "ec2:DescribeVpcAttribute": 2,
        # The VPC's interface endpoints' security groups, once with the network.
        "ec2:DescribeSecurityGroups": 1,
        "eks:ListNodegroups": 2,
        "eks:DescribeNodegroup": 2,
        "autoscaling:DescribeAutoScalingGroups": 2,
        # One per distinct launch template a managed group needs for its types or a self-managed
        # group uses (its security groups).
        "ec2:DescribeLaunchTemplateVersions": 2,
        "autoscaling:DescribeLaunchConfigurations": 1,
        # Once per scan (IAM is global), once per region.
        "iam:ListOpenIDConnectProviders": 1,
        "eks:DescribeClusterVersions": 1,
    }
    assert counter.total == 21


def test_access_denied_on_one_part_leaves_a_gap_and_the_others_intact(world: World) -> None:
    aws = clients(CallCounter())
    deny(
        aws.ec2(REGION),
        "DescribeRouteTables",
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    )
    scan = SnapshotCollector(aws)
    snapshot = scan.collect(REGION, "prod", MY_PARTS)
    assert snapshot.network is None
    assert snapshot.gaps == {
        "network": (
            "UnauthorizedOperation on ec2:DescribeRouteTables: "
            "You are not authorized to perform this operation."
        )
    }
    assert snapshot.cluster is not None
    assert snapshot.nodegroups is not None
    assert len(snapshot.nodegroups) == 4
    assert snapshot.iam_oidc_providers is not None
    assert snapshot.version_support is not None
    # The failure is cached for the scan: the second cluster in the VPC gets the same gap, no new calls.
    assert aws.counter is not None
    before = aws.counter.calls
    staging = scan.collect(REGION, "staging", frozenset({"network"}))
    assert staging.gaps == snapshot.gaps
    assert aws.counter.calls == {**before, "eks:DescribeCluster": before["eks:DescribeCluster"] + 1}


def test_dependent_part_reports_what_it_needed(world: World) -> None:
    aws = clients()
    deny(aws.autoscaling(REGION), "DescribeAutoScalingGroups", "AccessDenied", "not authorized")
    snapshot = SnapshotCollector(aws).collect(REGION, "prod", frozenset({"instance_types"}))
    assert (snapshot.nodegroups, snapshot.instance_types) == (None, None)
    assert snapshot.gaps == {
        "nodegroups": "AccessDenied on autoscaling:DescribeAutoScalingGroups: not authorized",
        "instance_types": (
            "needs nodegroups: AccessDenied on autoscaling:DescribeAutoScalingGroups: not authorized"
        ),
    }


def test_oidc_providers_denied(world: World) -> None:
    aws = clients()
    deny(
        aws.iam(), "ListOpenIDConnectProviders", "AccessDenied", "User is not authorized to perform iam:List"
    )
    snapshot = SnapshotCollector(aws).collect(REGION, "prod", frozenset({"iam_oidc_providers"}))
    assert snapshot.iam_oidc_providers is None
    assert snapshot.gaps == {
        "iam_oidc_providers": (
            "AccessDenied on iam:ListOpenIDConnectProviders: User is not authorized to perform iam:List"
        )
    }


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def test_throttling_is_retried_and_counted_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    counter = CallCounter()
    aws = clients(counter)
    ec2 = aws.ec2(REGION)
    attempts: list[str] = []

    def throttle_first(request: Any, **_: Any) -> AWSResponse | None:
        # Answers before moto does, on the wire: botocore parses it and its standard retry mode decides.
        attempts.append(request.url)
        if len(attempts) > 1:
            return None
        body = (
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
            b"</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
        )
        return AWSResponse(request.url, 503, {}, _Raw(body))

    ec2.meta.events.register_first("before-send.ec2.DescribeSubnets", throttle_first)
    snapshot = SnapshotCollector(aws).collect(REGION, "prod", frozenset({"network"}))
    assert snapshot.gaps == {}
    assert snapshot.network is not None
    assert set(snapshot.network.subnets) >= set(world.vpc.private_subnet_ids)
    assert len(attempts) == 2
    assert len(sleeps) == 1
    assert counter["ec2:DescribeSubnets"] == 1


def test_unconfigured_part_is_a_gap_and_unknown_names_are_refused(world: World) -> None:
    scan = SnapshotCollector(clients())
    scan.unregister("access_entries")
    snapshot = scan.collect(REGION, "prod", frozenset({"access_entries"}))
    assert snapshot.access_entries is None
    assert snapshot.gaps == {"access_entries": "no collector for this part is configured"}
    with pytest.raises(ValueError, match="not ClusterSnapshot parts"):
        scan.collect(REGION, "prod", frozenset({"netwrok"}))


def test_registered_part_with_dependency_and_own_gaps(world: World) -> None:
    seen: list[PartContext] = []

    def access_entries(context: PartContext) -> PartResult:
        seen.append(context)
        return PartResult((), {"access_entries.policies": "AccessDenied on eks:ListAssociatedAccessPolicies"})

    scan = SnapshotCollector(
        clients(), extra_parts=[PartCollector("access_entries", access_entries, ("nodegroups",))]
    )
    snapshot = scan.collect(REGION, "prod", frozenset({"access_entries"}))
    assert snapshot.access_entries == ()
    assert snapshot.nodegroups is not None
    assert snapshot.gaps == {"access_entries.policies": "AccessDenied on eks:ListAssociatedAccessPolicies"}
    (context,) = seen
    assert (context.region, context.cluster_name, context.cluster.vpc_id) == (
        REGION,
        "prod",
        world.vpc.vpc_id,
    )
    assert context.collected["nodegroups"] == snapshot.nodegroups


def test_all_parts_when_none_requested(world: World) -> None:
    def no_tunnel(context: PartContext) -> object:
        raise PartUnavailable("the Kubernetes API is not reachable from the test")

    scan = SnapshotCollector(clients())
    scan.register(PartCollector("kubernetes", no_tunnel))
    assert scan.parts == AWS_PARTS | {"kubernetes"}
    snapshot = scan.collect(REGION, "prod")
    assert snapshot.gaps == {
        "access_entries": "404 on eks:ListAccessEntries: Not yet implemented",
        **MOTO_404,
        "kubernetes": "the Kubernetes API is not reachable from the test",
    }
    assert None not in (
        snapshot.network,
        snapshot.nodegroups,
        snapshot.instance_types,
        snapshot.iam_oidc_providers,
        snapshot.version_support,
    )


def test_clients_share_one_configuration_and_cache() -> None:
    aws = clients()
    assert aws.eks(REGION) is aws.eks(REGION)
    assert aws.eks("eu-west-1") is not aws.eks(REGION)
    config = aws.ec2(REGION).meta.config
    # botocore turns max_attempts (retries) into total_max_attempts (the first attempt included).
    assert config.retries == {"mode": "standard", "total_max_attempts": 6}
    assert (config.connect_timeout, config.read_timeout) == (
        CLIENT_CONFIG.connect_timeout,
        CLIENT_CONFIG.read_timeout,
    )
    assert "eks-auditor" in (config.user_agent_extra or "")
    assert aws.eks("eu-west-1").meta.region_name == "eu-west-1"


def test_clients_send_the_fixed_user_agent(aws: None) -> None:
    client = clients().eks(REGION)
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        value = request.headers["User-Agent"]
        sent.append(value.decode() if isinstance(value, bytes) else value)

    client.meta.events.register("before-send", record)
    client.list_clusters()
    # Powertools, once imported in the process (as in Lambda), appends its own "PT/<feature>/<version>
    # PTEnv/<env>" to every botocore call's User-Agent.
    assert [ua.split(" PT/")[0] for ua in sent] == [
        f"{USER_AGENT} Botocore/{botocore.__version__} eks-auditor"
    ]


def test_clients_honour_aws_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert (
        AwsClients(boto3.Session(region_name=REGION)).eks(REGION).meta.endpoint_url == "http://127.0.0.1:4566"
    )


# eks:DescribeClusterVersions, with botocore's Stubber (moto answers 404 "Not yet implemented").
# Response shape from the EKS API reference; values as in Cloud Custodian's recorded response
# (test_eks_upgrade_available): timestamps come in a local offset, the calendar counts UTC days.

VERSIONS = {
    "clusterVersions": [
        {
            "clusterVersion": "1.34",
            "clusterType": "eks",
            "defaultPlatformVersion": "eks.10",
            "defaultVersion": True,
            "releaseDate": "2025-10-01T19:00:00-05:00",
            "endOfStandardSupportDate": "2026-12-01T18:00:00-06:00",
            "endOfExtendedSupportDate": "2027-12-01T18:00:00-06:00",
            "status": "STANDARD_SUPPORT",
            "versionStatus": "STANDARD_SUPPORT",
            "kubernetesPatchVersion": "1.34.2",
        },
        {
            "clusterVersion": "1.23",
            "clusterType": "eks",
            "defaultPlatformVersion": "eks.32",
            "defaultVersion": False,
            "releaseDate": "2022-08-10T19:00:00-05:00",
            "endOfStandardSupportDate": "2023-10-10T19:00:00-05:00",
            "endOfExtendedSupportDate": "2024-10-10T19:00:00-05:00",
            "status": "UNSUPPORTED",
            "versionStatus": "UNSUPPORTED",
            "kubernetesPatchVersion": "1.23.17",
        },
    ]
}


def described(name: str, version: str) -> dict[str, Any]:
    return {
        "cluster": {
            "name": name,
            "arn": f"arn:aws:eks:{REGION}:111122223333:cluster/{name}",
            "version": version,
            "status": "ACTIVE",
            "resourcesVpcConfig": {
                "vpcId": "vpc-1",
                "endpointPublicAccess": False,
                "endpointPrivateAccess": True,
            },
        }
    }


def test_describe_cluster_versions_dates_are_utc_days() -> None:
    eks = clients().eks(REGION)
    with Stubber(eks) as stub:
        stub.add_response("describe_cluster_versions", VERSIONS, {"includeAll": True})
        table = describe_cluster_versions(eks)
    assert table == {
        (1, 34): VersionSupport(
            version="1.34",
            end_of_standard_support=date(2026, 12, 2),
            end_of_extended_support=date(2027, 12, 2),
            source="eks:DescribeClusterVersions",
        ),
        (1, 23): VersionSupport(
            version="1.23",
            end_of_standard_support=date(2023, 10, 11),
            end_of_extended_support=date(2024, 10, 11),
            source="eks:DescribeClusterVersions",
        ),
    }


def test_version_support_from_the_api_once_per_region() -> None:
    counter = CallCounter()
    aws = clients(counter)
    with Stubber(aws.eks(REGION)) as stub:
        stub.add_response("describe_cluster", described("a", "1.34"), {"name": "a"})
        stub.add_response("describe_cluster_versions", VERSIONS, {"includeAll": True})
        stub.add_response("describe_cluster", described("b", "1.23"), {"name": "b"})
        scan = SnapshotCollector(aws)
        a = scan.collect(REGION, "a", frozenset({"version_support"}))
        b = scan.collect(REGION, "b", frozenset({"version_support"}))
        stub.assert_no_pending_responses()
    assert (a.gaps, b.gaps) == ({}, {})
    assert a.version_support is not None
    assert b.version_support is not None
    assert (a.version_support.end_of_standard_support, a.version_support.source) == (
        date(2026, 12, 2),
        "eks:DescribeClusterVersions",
    )
    assert b.version_support.end_of_extended_support == date(2024, 10, 11)
    assert a.account == "111122223333"
    assert counter.calls == {"eks:DescribeCluster": 2, "eks:DescribeClusterVersions": 1}


def test_version_missing_from_api_falls_back_to_the_calendar() -> None:
    aws = clients()
    with Stubber(aws.eks(REGION)) as stub:
        stub.add_response("describe_cluster", described("a", "1.29"), {"name": "a"})
        stub.add_response("describe_cluster_versions", VERSIONS, {"includeAll": True})
        snapshot = SnapshotCollector(aws).collect(REGION, "a", frozenset({"version_support"}))
    assert snapshot.gaps == {}
    assert snapshot.version_support == support_from_calendar(
        KubernetesVersion(major=1, minor=29), load_calendar()
    )


def test_version_api_denied_falls_back_to_the_calendar() -> None:
    aws = clients()
    with Stubber(aws.eks(REGION)) as stub:
        stub.add_response("describe_cluster", described("a", "1.31"), {"name": "a"})
        stub.add_client_error("describe_cluster_versions", "AccessDeniedException", "not authorized", 403)
        snapshot = SnapshotCollector(aws).collect(REGION, "a", frozenset({"version_support"}))
    assert snapshot.gaps == {}
    assert snapshot.version_support is not None
    assert (
        snapshot.version_support.end_of_standard_support,
        snapshot.version_support.end_of_extended_support,
    ) == (
        date(2025, 11, 26),
        date(2026, 11, 26),
    )


def test_version_unknown_everywhere_is_a_gap() -> None:
    aws = clients()
    with Stubber(aws.eks(REGION)) as stub:
        stub.add_response("describe_cluster", described("a", "1.99"), {"name": "a"})
        stub.add_response("describe_cluster_versions", VERSIONS, {"includeAll": True})
        snapshot = SnapshotCollector(aws).collect(REGION, "a", frozenset({"version_support"}))
    assert snapshot.version_support is None
    assert snapshot.gaps == {
        "version_support": (
            "eks:DescribeClusterVersions does not list 1.99; the release calendar has no row for 1.99"
        )
    }


def test_unreadable_calendar_is_a_gap() -> None:
    def broken() -> Any:
        raise FileNotFoundError("eks_versions.yaml")

    aws = clients()
    with Stubber(aws.eks(REGION)) as stub:
        stub.add_response("describe_cluster", described("a", "1.29"), {"name": "a"})
        stub.add_client_error("describe_cluster_versions", "AccessDeniedException", "not authorized", 403)
        snapshot = SnapshotCollector(aws, calendar=broken).collect(
            REGION, "a", frozenset({"version_support"})
        )
    assert snapshot.gaps == {
        "version_support": (
            "AccessDeniedException on eks:DescribeClusterVersions: not authorized; "
            "release calendar unavailable: FileNotFoundError: eks_versions.yaml"
        )
    }


def test_parts_read_together_give_the_snapshot_read_in_turn(world: World) -> None:
    # The runtime reads an audit's independent parts together (PARTS_IN_FLIGHT); `scan
    # --max-concurrency 1` reads them in turn. Same values, same gaps in the same order (moto answers
    # 404 to some), same calls. The calendar and the clock are fixed: the rest is moto.
    def snapshot(parts_in_flight: int, counter: CallCounter) -> Any:
        collector = SnapshotCollector(clients(counter), now=lambda: NOW, parts_in_flight=parts_in_flight)
        collector.unregister(Part.KUBERNETES)  # no API server here: a gap either way
        return collector.collect(REGION, "prod")

    together_calls, in_turn_calls = CallCounter(), CallCounter()
    together, in_turn = snapshot(4, together_calls), snapshot(1, in_turn_calls)
    assert together == in_turn
    assert list(together.gaps) == list(in_turn.gaps)
    assert together_calls.calls == in_turn_calls.calls


def test_independent_parts_are_read_at_the_same_time(world: World) -> None:
    # Two parts that each wait for the other: the snapshot completes only if they run together; a part
    # that requires one of them runs after it and sees its value.
    both = threading.Barrier(2, timeout=10)
    seen: list[object] = []

    def waiting(value: object) -> Any:
        def collect(_: PartContext) -> object:
            both.wait()
            return value

        return collect

    def after_nodegroups(context: PartContext) -> object:
        seen.append(context.collected[Part.NODEGROUPS])
        return {}

    collector = SnapshotCollector(clients(), parts_in_flight=4)
    collector.register(PartCollector(Part.ADDONS, waiting(frozenset({"vpc-cni"}))))
    collector.register(PartCollector(Part.NODEGROUPS, waiting(())))
    collector.register(
        PartCollector(Part.NODE_SECURITY_GROUPS, after_nodegroups, requires=(Part.NODEGROUPS,))
    )
    snapshot = collector.collect(REGION, "prod", frozenset({Part.ADDONS, Part.NODE_SECURITY_GROUPS}))
    assert snapshot.gaps == {}
    assert snapshot.addons == frozenset({"vpc-cni"})
    assert seen == [()]


@pytest.mark.parametrize(
    ("mode", "lists"), [("CONFIG_MAP", False), ("API_AND_CONFIG_MAP", True), (None, True)]
)
def test_access_entries_are_not_listed_where_the_cluster_uses_aws_auth_only(
    mode: str | None, lists: bool
) -> None:
    # Recorded DescribeCluster shape (moto omits accessConfig): a CONFIG_MAP cluster has no access
    # entries and EKS refuses to list them, so no call is made; the other modes (or none given) list them.
    counter = CallCounter()
    aws = clients(counter)
    response = described("a", "1.31")
    if mode is not None:
        response["cluster"]["accessConfig"] = {"authenticationMode": mode}
    with Stubber(aws.eks(REGION)) as stub:
        stub.add_response("describe_cluster", response, {"name": "a"})
        if lists:
            stub.add_response("list_access_entries", {"accessEntries": []}, {"clusterName": "a"})
        snapshot = SnapshotCollector(aws).collect(REGION, "a", frozenset({"access_entries"}))
        stub.assert_no_pending_responses()
    assert (snapshot.gaps, snapshot.access_entries) == ({}, ())
    assert counter["eks:ListAccessEntries"] == (1 if lists else 0)
