"""DescribeCluster normalization and cluster lookup (moto; botocore Stubber where moto lacks a behaviour)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from eks_auditor.collect.clients import AwsClients, CallCounter
from eks_auditor.collect.cluster import normalize_cluster
from eks_auditor.collect.errors import ClusterNotFound, ClusterUnavailable
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.model.snapshot import EndpointAccess, KubernetesVersion

from eks_auditor_tools.fleet import Fleet

REGION = "us-east-1"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def fleet(aws: None) -> Fleet:
    return Fleet(REGION)


def collector(counter: CallCounter | None = None) -> SnapshotCollector:
    return SnapshotCollector(AwsClients(boto3.Session(region_name=REGION), counter=counter), now=lambda: NOW)


def described(**overrides: Any) -> dict[str, Any]:
    """A DescribeCluster `cluster` object shaped like the EKS API reference's example."""
    base: dict[str, Any] = {
        "name": "prod",
        "arn": "arn:aws:eks:us-east-2:111122223333:cluster/prod",
        "version": "1.29",
        "endpoint": "https://EXAMPLE.gr7.us-east-2.eks.amazonaws.com",
        "resourcesVpcConfig": {
            "subnetIds": ["subnet-1", "subnet-2"],
            "securityGroupIds": ["sg-1"],
            "clusterSecurityGroupId": "sg-cluster",
            "vpcId": "vpc-1",
            "endpointPublicAccess": True,
            "endpointPrivateAccess": True,
            "publicAccessCidrs": ["203.0.113.0/24"],
        },
        "logging": {"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]},
        "identity": {"oidc": {"issuer": "https://oidc.eks.us-east-2.amazonaws.com/id/ABC"}},
        "status": "ACTIVE",
        "certificateAuthority": {"data": "Q0EK"},
        "platformVersion": "eks.7",
        "tags": {"team": "platform"},
    }
    base.update(overrides)
    return base


# Normalization of DescribeCluster answers (pure; shapes from the API reference and recorded responses).


def test_logging_types_are_the_union_of_every_enabled_entry() -> None:
    # EKS answers with one entry per enabled/disabled set; a second enabled entry must not be dropped.
    info = normalize_cluster(
        described(
            logging={
                "clusterLogging": [
                    {"types": ["api"], "enabled": True},
                    {"types": ["authenticator", "scheduler"], "enabled": False},
                    {"types": ["audit"], "enabled": True},
                ]
            }
        )
    )
    assert info.enabled_log_types == frozenset({"api", "audit"})


def test_logging_disabled_in_first_entry_does_not_hide_later_enabled_entry() -> None:
    info = normalize_cluster(
        described(
            logging={
                "clusterLogging": [
                    {"types": ["api", "scheduler"], "enabled": False},
                    {"types": ["audit"], "enabled": True},
                ]
            }
        )
    )
    assert info.enabled_log_types == frozenset({"audit"})


def test_no_logging_block_means_no_log_types() -> None:
    raw = described()
    del raw["logging"]
    assert normalize_cluster(raw).enabled_log_types == frozenset()


def test_encryption_config_resources_from_every_entry_and_empty_list() -> None:
    with_two = described(
        encryptionConfig=[
            {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-2:111122223333:key/a"}},
            {"resources": ["configmaps"], "provider": {"keyArn": "arn:aws:kms:us-east-2:111122223333:key/b"}},
        ]
    )
    assert normalize_cluster(with_two).encrypted_resources == frozenset({"secrets", "configmaps"})
    assert normalize_cluster(described(encryptionConfig=[])).encrypted_resources == frozenset()
    assert normalize_cluster(described()).encrypted_resources == frozenset()


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.29", KubernetesVersion(major=1, minor=29)),
        ("1.9", KubernetesVersion(major=1, minor=9)),
        ("1.30.2", KubernetesVersion(major=1, minor=30)),
        ("latest", None),
    ],
)
def test_version_is_parsed_to_integers(text: str, parsed: KubernetesVersion | None) -> None:
    info = normalize_cluster(described(version=text))
    assert info.version == text
    assert info.parsed_version == parsed


def test_endpoint_access_and_identity_fields() -> None:
    info = normalize_cluster(described())
    assert info.endpoint_access == EndpointAccess(public=True, private=True, public_cidrs=("203.0.113.0/24",))
    assert info.vpc_id == "vpc-1"
    assert info.subnet_ids == ("subnet-1", "subnet-2")
    assert info.security_group_ids == ("sg-1",)
    assert info.cluster_security_group_id == "sg-cluster"
    assert info.oidc_issuer == "https://oidc.eks.us-east-2.amazonaws.com/id/ABC"
    assert info.certificate_authority == "Q0EK"
    assert info.endpoint_url == "https://EXAMPLE.gr7.us-east-2.eks.amazonaws.com"
    assert info.platform_version == "eks.7"
    assert info.status == "ACTIVE"
    assert info.tags == {"team": "platform"}


def test_public_endpoint_without_cidrs_field_is_open_to_all_ipv4() -> None:
    # Recorded responses of clusters older than publicAccessCidrs (c7n placebo test_eks_tag_and_remove_tag,
    # test_eks_update_config) have endpointPublicAccess true and no publicAccessCidrs at all.
    vpc = {
        "subnetIds": ["subnet-1"],
        "vpcId": "vpc-1",
        "endpointPublicAccess": True,
        "endpointPrivateAccess": False,
    }
    info = normalize_cluster(described(resourcesVpcConfig=vpc))
    assert info.endpoint_access == EndpointAccess(public=True, private=False, public_cidrs=("0.0.0.0/0",))


def test_cluster_older_than_endpoint_access_control_is_public_only() -> None:
    # 2018 clusters (c7n placebo test_eks_delete) carry neither endpoint flag.
    info = normalize_cluster(described(resourcesVpcConfig={"subnetIds": ["subnet-1"], "vpcId": "vpc-1"}))
    assert info.endpoint_access == EndpointAccess(public=True, private=False, public_cidrs=("0.0.0.0/0",))


def test_private_only_endpoint_has_no_public_cidrs() -> None:
    vpc = {
        "vpcId": "vpc-1",
        "endpointPublicAccess": False,
        "endpointPrivateAccess": True,
        "publicAccessCidrs": [],
    }
    info = normalize_cluster(described(resourcesVpcConfig=vpc))
    assert info.endpoint_access == EndpointAccess(public=False, private=True, public_cidrs=())


# Against moto.


def test_collect_cluster_from_moto(fleet: Fleet) -> None:
    vpc = fleet.create_vpc()
    ids = fleet.create_cluster(
        "prod",
        vpc.private_subnet_ids,
        version="1.29",
        public=True,
        private=False,
        public_cidrs=["198.51.100.7/32"],
        log_types=["audit", "api"],
        secrets_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        tags={"env": "prod"},
    )
    snapshot = collector().collect(REGION, "prod", frozenset({"cluster"}))
    assert snapshot.account == "123456789012"
    assert snapshot.arn == ids.arn == "arn:aws:eks:us-east-1:123456789012:cluster/prod"
    assert snapshot.collected_at == NOW
    assert snapshot.gaps == {}
    info = snapshot.cluster
    assert info is not None
    assert info.endpoint_access == EndpointAccess(
        public=True, private=False, public_cidrs=("198.51.100.7/32",)
    )
    assert info.enabled_log_types == frozenset({"audit", "api"})
    assert info.encrypted_resources == frozenset({"secrets"})
    assert info.parsed_version == KubernetesVersion(major=1, minor=29)
    assert info.vpc_id == vpc.vpc_id
    assert info.cluster_security_group_id == ids.cluster_security_group_id
    assert info.subnet_ids == vpc.private_subnet_ids
    assert info.oidc_issuer == ids.oidc_issuer
    assert info.tags == {"env": "prod"}
    # Only the parts asked for: nothing else collected, nothing else reported missing.
    assert (snapshot.network, snapshot.nodegroups, snapshot.version_support) == (None, None, None)


def test_cluster_only_re_audit_calls_describe_cluster_once(fleet: Fleet) -> None:
    vpc = fleet.create_vpc()
    fleet.create_cluster("prod", vpc.private_subnet_ids)
    counter = CallCounter()
    scan = collector(counter)
    assert scan.cluster_vpc(REGION, "prod") == vpc.vpc_id
    scan.collect(REGION, "prod", frozenset({"cluster"}))
    assert counter.calls == {"eks:DescribeCluster": 1}
    scan.start_scan()
    scan.collect(REGION, "prod", frozenset({"cluster"}))
    assert counter.calls == {"eks:DescribeCluster": 2}


def test_missing_cluster_raises_cluster_not_found(fleet: Fleet) -> None:
    scan = collector()
    with pytest.raises(ClusterNotFound) as raised:
        scan.collect(REGION, "gone")
    assert (raised.value.region, raised.value.name) == (REGION, "gone")
    assert scan.cluster_vpc(REGION, "gone") is None


def test_list_clusters_in_region(fleet: Fleet) -> None:
    vpc = fleet.create_vpc()
    for name in ("b", "a", "c"):
        fleet.create_cluster(name, vpc.private_subnet_ids)
    assert sorted(collector().list_clusters(REGION)) == ["a", "b", "c"]
    assert collector().list_clusters("eu-west-1") == []


def test_list_clusters_follows_pages() -> None:
    # Stubber: the paginator must follow nextToken (moto pages at 100, too many clusters to create).
    clients = AwsClients(boto3.Session(region_name=REGION))
    eks = clients.eks(REGION)
    with Stubber(eks) as stub:
        stub.add_response("list_clusters", {"clusters": ["a", "b"], "nextToken": "t1"}, {})
        stub.add_response("list_clusters", {"clusters": ["c"]}, {"nextToken": "t1"})
        assert SnapshotCollector(clients).list_clusters(REGION) == ["a", "b", "c"]
        stub.assert_no_pending_responses()


def test_describe_cluster_access_denied_makes_the_cluster_unavailable() -> None:
    clients = AwsClients(boto3.Session(region_name=REGION))
    with Stubber(clients.eks(REGION)) as stub:
        stub.add_client_error(
            "describe_cluster",
            service_error_code="AccessDeniedException",
            service_message="User: arn:aws:sts::111122223333:assumed-role/auditor is not authorized",
            http_status_code=403,
            expected_params={"name": "prod"},
        )
        with pytest.raises(ClusterUnavailable) as raised:
            SnapshotCollector(clients).collect(REGION, "prod")
    assert raised.value.reason == (
        "AccessDeniedException on eks:DescribeCluster: "
        "User: arn:aws:sts::111122223333:assumed-role/auditor is not authorized"
    )


def test_ip_family_is_read_from_kubernetes_network_config() -> None:
    network = {"serviceIpv6Cidr": "fd30:1c53:5f8a::/108", "ipFamily": "ipv6", "elasticLoadBalancing": {}}
    assert normalize_cluster(described(kubernetesNetworkConfig=network)).ip_family == "ipv6"
    ipv4 = {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"}
    assert normalize_cluster(described(kubernetesNetworkConfig=ipv4)).ip_family == "ipv4"
    # Clusters created before IPv6 support have no ipFamily.
    assert normalize_cluster(described()).ip_family == "ipv4"
