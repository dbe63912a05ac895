"""read_kubernetes end to end against the real HTTPS fixture server, and the autoscaler check on what it read.

The server serves objects built from the upstream manifests (kube_fixtures/PROVENANCE.md) and checks
each request's EKS token (presigned STS URL, signed x-k8s-aws-id naming the cluster).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from eks_auditor.checks.autoscaler import check as autoscaler_check
from eks_auditor.collect.kubernetes import (
    AWS_AUTH_PATH,
    AWS_NODE_PATH,
    DAEMONSETS_PATH,
    DEPLOYMENTS_PATH,
    ENI_CONFIGS_PATH,
    read_kubernetes,
)
from eks_auditor.kube.token import TokenCache
from eks_auditor.model.check import Result, Severity
from eks_auditor.model.kubernetes import AwsAuthMapping, AwsNodeSettings, EniConfig, KubernetesState
from eks_auditor.model.network import Route, RouteTable, Subnet, VpcNetwork
from eks_auditor.model.snapshot import (
    ClusterInfo,
    ClusterSnapshot,
    EndpointAccess,
    KubernetesVersion,
    NodeGroup,
)

from eks_auditor_tools.demo.kube_server import (
    EKS_HOST,
    KubeState,
    RunningServer,
    TlsFiles,
    closed_port,
    fixture,
    make_tls,
    running_server,
)

CLUSTER = "prod"
VPC = "vpc-0a1b2c3d4e5f60718"
SUBNET = "subnet-0priv000000000a"
STATIC = "--aws-use-static-instance-list"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


def cluster_info(
    tls: TlsFiles, *, endpoint: str | None = f"https://{EKS_HOST}", public: bool = False
) -> ClusterInfo:
    return ClusterInfo(
        status="ACTIVE",
        version="1.32",
        parsed_version=KubernetesVersion(major=1, minor=32),
        endpoint_url=endpoint,
        certificate_authority=tls.ca_base64,
        endpoint_access=EndpointAccess(
            public=public, private=True, public_cidrs=("198.51.100.0/24",) if public else ()
        ),
        vpc_id=VPC,
        subnet_ids=(SUBNET,),
        cluster_security_group_id="sg-0cluster000000000",
    )


def default_state() -> KubeState:
    return KubeState(
        cluster_name=CLUSTER,
        objects={
            AWS_NODE_PATH: fixture("aws-node.daemonset.json"),
            AWS_AUTH_PATH: fixture("aws-auth.configmap.json"),
        },
        collections={
            DEPLOYMENTS_PATH: [
                fixture("coredns.deployment.json"),
                fixture("cluster-autoscaler.deployment.json"),
            ],
            ENI_CONFIGS_PATH: [fixture("eniconfig.us-east-1a.json")],
            DAEMONSETS_PATH: [fixture("aws-node.daemonset.json")],
        },
        page_size=1,
    )


@pytest.fixture
def server(tls: TlsFiles) -> Iterator[RunningServer]:
    with running_server(tls, default_state()) as running:
        yield running


def read(
    server: RunningServer, *, cluster: ClusterInfo | None = None, name: str = CLUSTER, **kwargs: Any
) -> tuple[KubernetesState | None, dict[str, str]]:
    """Through the endpoint override and CA file, as `eks-auditor scan --kube-endpoint/--kube-ca` does."""
    options: dict[str, Any] = {"endpoint_override": server.url, "ca_file": str(server.tls.ca_file)}
    options.update(kwargs)
    return read_kubernetes(
        cluster or cluster_info(server.tls),
        name,
        boto3.Session(region_name="us-east-1"),
        token_cache=TokenCache(),
        **options,
    )


def test_full_read_through_an_endpoint_override(server: RunningServer) -> None:
    state, gaps = read(server)
    assert gaps == {}
    assert state is not None
    assert state.endpoint == server.url
    assert [(w.namespace, w.name) for w in state.autoscalers or ()] == [("kube-system", "cluster-autoscaler")]
    autoscaler = (state.autoscalers or ())[0]
    assert autoscaler.replicas == 1
    assert autoscaler.containers[0].image == "registry.k8s.io/autoscaling/cluster-autoscaler:v1.32.1"
    assert autoscaler.containers[0].command[-1] == (
        "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/prod"
    )
    assert state.aws_node_settings == AwsNodeSettings(
        warm_eni_target=1,
        warm_prefix_target=1,
        enable_subnet_discovery=True,  # the manifest's ENABLE_SUBNET_DISCOVERY="true"
        image="602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.23.1",
    )
    assert state.aws_node is not None and state.aws_node.kind == "DaemonSet"
    assert "MY_NODE_NAME" not in state.aws_node.containers[0].env  # valueFrom is not a literal value
    assert state.aws_auth == (
        AwsAuthMapping(
            kind="mapRoles",
            arn="arn:aws:iam::111122223333:role/eksctl-prod-nodegroup-NodeInstanceRole-1XLS7754U3ZPA",
            username="system:node:{{EC2PrivateDNSName}}",
            groups=("system:bootstrappers", "system:nodes"),
        ),
        AwsAuthMapping(
            kind="mapRoles",
            arn="arn:aws:iam::111122223333:role/my-console-viewer-role",
            username="my-console-viewer-role",
            groups=("eks-console-dashboard-full-access-group",),
        ),
        AwsAuthMapping(
            kind="mapUsers",
            arn="arn:aws:iam::111122223333:user/my-user",
            username="my-user",
            groups=("eks-console-dashboard-restricted-access-group",),
        ),
    )
    # Custom networking is off: ENIConfigs are unused and not read.
    assert state.eni_configs == ()
    assert ENI_CONFIGS_PATH not in [path for path, _ in server.state.requests]
    # Deployments came one per page: the reader followed the continue tokens.
    assert [q.get("continue") for p, q in server.state.requests if p == DEPLOYMENTS_PATH] == [None, "1"]


def test_helm_installed_autoscaler_is_found_by_its_labels_and_name(server: RunningServer) -> None:
    server.state.collections[DEPLOYMENTS_PATH] = [
        fixture("coredns.deployment.json"),
        fixture("cluster-autoscaler-helm.deployment.json"),
    ]
    state, _ = read(server)
    assert state is not None
    assert [(w.namespace, w.name) for w in state.autoscalers or ()] == [
        ("autoscaling", "cluster-autoscaler-aws-cluster-autoscaler")
    ]


def test_autoscaler_found_by_image_alone(server: RunningServer) -> None:
    deployment = fixture("cluster-autoscaler.deployment.json")
    deployment["metadata"] = {"name": "scaler", "namespace": "ops", "labels": {}}
    deployment["spec"]["template"]["metadata"] = {"labels": {}}
    server.state.collections[DEPLOYMENTS_PATH] = [deployment]
    state, _ = read(server)
    assert state is not None
    assert [w.name for w in state.autoscalers or ()] == ["scaler"]


def test_custom_networking_reads_eniconfigs(server: RunningServer) -> None:
    daemonset = fixture("aws-node.daemonset.json")
    for env in daemonset["spec"]["template"]["spec"]["containers"][0]["env"]:
        if env["name"] == "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":
            env["value"] = "true"
    server.state.objects[AWS_NODE_PATH] = daemonset
    state, gaps = read(server)
    assert gaps == {}
    assert state is not None and state.aws_node_settings is not None
    assert state.aws_node_settings.custom_network_cfg is True
    assert state.eni_configs == (
        EniConfig(
            name="us-east-1a", subnet_id="subnet-0a1b2c3d4e5f60001", security_groups=("sg-0a1b2c3d4e5f60001",)
        ),
    )


def test_absent_objects_are_facts_not_gaps(server: RunningServer) -> None:
    del server.state.objects[AWS_NODE_PATH]
    del server.state.objects[AWS_AUTH_PATH]
    del server.state.collections[ENI_CONFIGS_PATH]  # CRD not installed: 404
    state, gaps = read(server)
    assert gaps == {}
    assert state is not None
    assert (state.aws_node, state.aws_node_settings, state.aws_auth, state.eni_configs) == (
        None,
        None,
        (),
        (),
    )


def test_forbidden_reads_become_gaps_that_say_what_to_grant(server: RunningServer) -> None:
    server.state.forbidden.update({DEPLOYMENTS_PATH, AWS_AUTH_PATH})
    state, gaps = read(server)
    assert state is not None
    assert state.autoscalers is None and state.aws_auth is None
    assert state.aws_node_settings is not None  # the other reads went on
    assert set(gaps) == {"kubernetes.autoscalers", "kubernetes.aws_auth"}
    assert gaps["kubernetes.autoscalers"].startswith("403 Forbidden: deployments is forbidden")
    assert "AmazonEKSViewPolicy" in gaps["kubernetes.autoscalers"]
    assert "cluster scope" in gaps["kubernetes.autoscalers"]
    assert "allows get on ConfigMaps (not on Secrets)" in gaps["kubernetes.aws_auth"]


def test_forbidden_eniconfigs_say_the_view_policy_does_not_cover_them(server: RunningServer) -> None:
    del server.state.objects[AWS_NODE_PATH]  # settings unknown: ENIConfigs are read
    server.state.forbidden.add(ENI_CONFIGS_PATH)
    state, gaps = read(server)
    assert state is not None and state.eni_configs is None
    assert set(gaps) == {"kubernetes.eni_configs"}
    assert "AmazonEKSViewPolicy does not cover custom resources" in gaps["kubernetes.eni_configs"]


def test_malformed_aws_auth_is_a_gap(server: RunningServer) -> None:
    server.state.objects[AWS_AUTH_PATH] = {"data": {"mapRoles": "- rolearn: [unclosed\n"}}
    state, gaps = read(server)
    assert state is not None and state.aws_auth is None
    assert gaps["kubernetes.aws_auth"].startswith("aws-auth mapRoles is not valid YAML")


def test_token_for_another_cluster_ends_every_read(server: RunningServer) -> None:
    state, gaps = read(server, name="staging")
    assert state is None
    assert list(gaps) == ["kubernetes"]
    assert gaps["kubernetes"].startswith("401 Unauthorized")
    assert "access entry" in gaps["kubernetes"]


def test_wrong_ca_ends_every_read(server: RunningServer, tmp_path: Path) -> None:
    other = make_tls(tmp_path / "other", ca_name="not-the-cluster-ca")
    state, gaps = read(server, ca_file=str(other.ca_file))
    assert state is None
    assert gaps["kubernetes"].startswith(f"TLS verification of 127.0.0.1:{server.port} failed")
    assert server.state.requests == []


def test_cluster_ca_from_describe_cluster_without_a_ca_file(server: RunningServer) -> None:
    state, gaps = read(server, ca_file=None)
    assert gaps == {} and state is not None


def test_timeout_ends_every_read(server: RunningServer) -> None:
    server.state.delay = 1.0
    state, gaps = read(server, read_timeout=0.2)
    assert state is None
    assert "timed out" in gaps["kubernetes"]
    assert "Check the tunnel or proxy behind the endpoint override" in gaps["kubernetes"]


def test_private_endpoint_unreachable_says_to_run_in_the_vpc(tls: TlsFiles) -> None:
    cluster = cluster_info(tls, endpoint=f"https://127.0.0.1:{closed_port()}")
    state, gaps = read_kubernetes(
        cluster, CLUSTER, boto3.Session(region_name="us-east-1"), token_cache=TokenCache()
    )
    assert state is None
    assert "refused" in gaps["kubernetes"]
    assert "private-only" in gaps["kubernetes"]
    assert f"subnets of {VPC}" in gaps["kubernetes"]
    assert "sg-0cluster000000000 accepts on TCP 443" in gaps["kubernetes"]


def test_public_endpoint_unreachable_names_the_allowed_cidrs(tls: TlsFiles) -> None:
    cluster = cluster_info(tls, endpoint=f"https://127.0.0.1:{closed_port()}", public=True)
    state, gaps = read_kubernetes(
        cluster, CLUSTER, boto3.Session(region_name="us-east-1"), token_cache=TokenCache()
    )
    assert state is None
    assert "The public endpoint admits 198.51.100.0/24" in gaps["kubernetes"]


def test_no_endpoint_is_a_gap(tls: TlsFiles) -> None:
    cluster = cluster_info(tls, endpoint=None).model_copy(update={"status": "CREATING"})
    assert read_kubernetes(cluster, CLUSTER, boto3.Session(region_name="us-east-1")) == (
        None,
        {"kubernetes": "DescribeCluster returned no API endpoint (cluster status CREATING)"},
    )


def test_an_sts_client_works_as_the_signer(server: RunningServer) -> None:
    sts = boto3.client("sts", region_name="us-east-1")
    state, gaps = read_kubernetes(
        cluster_info(server.tls),
        CLUSTER,
        sts,
        endpoint_override=server.url,
        ca_file=str(server.tls.ca_file),
        token_cache=TokenCache(),
    )
    assert gaps == {} and state is not None


# --- the autoscaler check on what the reader saw --------------------------------------------------


def private_snapshot(state: KubernetesState | None, gaps: dict[str, str], tls: TlsFiles) -> ClusterSnapshot:
    network = VpcNetwork(
        vpc_id=VPC,
        subnets={
            SUBNET: Subnet(
                id=SUBNET, vpc_id=VPC, cidr="10.0.16.0/20", availability_zone="us-east-1a", available_ips=4000
            )
        },
        route_tables=(
            RouteTable(
                id="rtb-0main",
                main=True,
                routes=(Route(destination="10.0.0.0/16", target_type="local", target_id="local"),),
            ),
        ),
    )
    group = NodeGroup(name="general", subnet_ids=(SUBNET,), max_size=6)
    return ClusterSnapshot(
        account="111122223333",
        region="us-east-1",
        name=CLUSTER,
        arn=f"arn:aws:eks:us-east-1:111122223333:cluster/{CLUSTER}",
        collected_at="2026-01-15T12:00:00Z",
        cluster=cluster_info(tls),
        network=network,
        nodegroups=(group,),
        kubernetes=state,
        gaps=gaps,
    )


def with_flags(command_extra: tuple[str, ...] = (), args: tuple[str, ...] = ()) -> dict[str, Any]:
    deployment = copy.deepcopy(fixture("cluster-autoscaler.deployment.json"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["command"] = [*container["command"], *command_extra]
    if args:
        container["args"] = list(args)
    return deployment


@pytest.mark.parametrize(
    ("command_extra", "args", "result", "severity"),
    [
        ((), (f"{STATIC}=true",), Result.PASS, None),  # present, in args
        ((), (), Result.FAIL, Severity.MEDIUM),  # absent (the upstream example, v1.32.1: falls back)
        ((), (f"{STATIC}=false",), Result.FAIL, Severity.MEDIUM),  # false
        ((f"{STATIC}=true",), (), Result.PASS, None),  # in command
    ],
    ids=["present-in-args", "absent", "false", "in-command"],
)
def test_autoscaler_check_on_a_private_cluster_read_from_the_server(
    server: RunningServer,
    command_extra: tuple[str, ...],
    args: tuple[str, ...],
    result: Result,
    severity: Severity | None,
) -> None:
    server.state.collections[DEPLOYMENTS_PATH] = [
        fixture("coredns.deployment.json"),
        with_flags(command_extra, args),
    ]
    state, gaps = read(server)
    outcomes = {o.resource: o for o in autoscaler_check(private_snapshot(state, gaps, server.tls))}
    static = outcomes["deployment/kube-system/cluster-autoscaler"]
    assert (static.result, static.severity) == (result, severity)
    assert outcomes["deployment/kube-system/cluster-autoscaler/discovery/general"].result is Result.PASS
    assert outcomes["deployment/kube-system/cluster-autoscaler/version"].result is Result.PASS


def test_autoscaler_check_errors_when_deployments_are_forbidden(server: RunningServer) -> None:
    server.state.forbidden.add(DEPLOYMENTS_PATH)
    state, gaps = read(server)
    (outcome,) = autoscaler_check(private_snapshot(state, gaps, server.tls))
    assert outcome.result is Result.ERROR
    assert outcome.reason is not None and "AmazonEKSViewPolicy" in outcome.reason


PROXY_404 = (404, "text/html", b"<html><body><h1>404 Not Found</h1>nginx</body></html>")


def test_a_proxy_404_is_a_gap_never_an_absent_object(server: RunningServer) -> None:
    server.state.raw[AWS_NODE_PATH] = PROXY_404
    server.state.raw[AWS_AUTH_PATH] = PROXY_404
    state, gaps = read(server)
    assert state is not None
    assert state.aws_auth is None  # unknown, where a real NotFound reads as () (no mappings)
    assert state.aws_node is None and state.aws_node_settings is None
    assert set(gaps) == {"kubernetes.aws_node", "kubernetes.aws_auth"}
    assert all("HTTP 404 without a Kubernetes Status body" in reason for reason in gaps.values())


def test_autoscaler_check_is_incomplete_when_a_proxy_answers_404(server: RunningServer) -> None:
    server.state.raw[DEPLOYMENTS_PATH] = PROXY_404
    state, gaps = read(server)
    (outcome,) = autoscaler_check(private_snapshot(state, gaps, server.tls))
    assert outcome.result is Result.ERROR
    assert outcome.reason is not None and "404" in outcome.reason


# The aws-for-fluent-bit chart's DaemonSet, trimmed to what the reader looks at.
FLUENT_BIT = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "aws-for-fluent-bit", "namespace": "kube-system"},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "aws-for-fluent-bit",
                        "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.2",
                    }
                ]
            }
        }
    },
}


def test_log_shipper_daemonsets_are_found_among_all_daemonsets(server: RunningServer) -> None:
    server.state.collections[DAEMONSETS_PATH] = [fixture("aws-node.daemonset.json"), FLUENT_BIT]
    state, gaps = read(server)
    assert gaps == {}
    assert state is not None
    assert [(w.namespace, w.name) for w in state.log_shippers or ()] == [
        ("kube-system", "aws-for-fluent-bit")
    ]


def test_no_log_shipper_is_an_empty_fact(server: RunningServer) -> None:
    state, gaps = read(server)
    assert (gaps, state.log_shippers if state else None) == ({}, ())
