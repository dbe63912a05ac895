"""Each demo cluster's Kubernetes API: a real HTTPS server on 127.0.0.1 with a throwaway CA.

DescribeCluster in the embedded account is pointed at these servers (endpoint and CA), so the
handlers read Kubernetes exactly as in AWS: an EKS bearer token (presigned STS URL, checked by the
server), TLS verified against the cluster CA.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from eks_auditor_tools.demo.fleet import ACCOUNT, NODE_ROLE, Fleet
from eks_auditor_tools.demo.kube_server import KubeState, RunningServer, fixture, make_tls, running_server

DEPLOYMENTS = "/apis/apps/v1/deployments"
DAEMONSETS = "/apis/apps/v1/daemonsets"
AWS_NODE = "/apis/apps/v1/namespaces/kube-system/daemonsets/aws-node"
AWS_AUTH = "/api/v1/namespaces/kube-system/configmaps/aws-auth"


def _aws_auth(extra_roles: list[dict[str, Any]]) -> dict[str, Any]:
    config = copy.deepcopy(fixture("aws-auth.configmap.json"))
    roles = [
        {
            "rolearn": NODE_ROLE,
            "username": "system:node:{{EC2PrivateDNSName}}",
            "groups": ["system:bootstrappers", "system:nodes"],
        },
        *extra_roles,
    ]
    config["data"] = {"mapRoles": yaml.safe_dump(roles, sort_keys=False)}
    return config


def _autoscaler(cluster: str, *, static_list: bool) -> dict[str, Any]:
    deployment = copy.deepcopy(fixture("cluster-autoscaler.deployment.json"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    command = [
        arg.replace("k8s.io/cluster-autoscaler/prod", f"k8s.io/cluster-autoscaler/{cluster}")
        for arg in container["command"]
    ]
    if static_list:
        command.append("--aws-use-static-instance-list=true")
    container["command"] = command
    return dict(deployment)


def cluster_states(region: str) -> dict[str, KubeState]:
    def state(
        name: str,
        deployments: list[dict[str, Any]],
        admins: list[dict[str, Any]],
        *,
        prefix_delegation: bool = False,
    ) -> KubeState:
        aws_node = copy.deepcopy(fixture("aws-node.daemonset.json"))
        for container in aws_node["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if env["name"] == "ENABLE_PREFIX_DELEGATION":
                    env["value"] = "true" if prefix_delegation else "false"
        return KubeState(
            cluster_name=name,
            region=region,
            # The credentials the embedded account's clients sign with (moto sets its own).
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            objects={AWS_NODE: aws_node, AWS_AUTH: _aws_auth(admins)},
            collections={
                DEPLOYMENTS: [fixture("coredns.deployment.json"), *deployments],
                # Every cluster runs aws-node; none ships logs to CloudWatch.
                DAEMONSETS: [aws_node],
            },
        )

    everyone = {"rolearn": f"arn:aws:iam::{ACCOUNT}:root", "username": "admin", "groups": ["system:masters"]}
    return {
        # A private cluster whose cluster-autoscaler fetches the instance list from the EC2 API it
        # cannot reach, and whose aws-auth makes every identity of the account cluster-admin.
        "payments": state("payments", [_autoscaler("payments", static_list=False)], [everyone]),
        "batch": state("batch", [_autoscaler("batch", static_list=True)], []),
        "prod-web": state("prod-web", [], []),
        "analytics": state("analytics", [], []),
        "platform": state(
            "platform", [_autoscaler("platform", static_list=True)], [], prefix_delegation=True
        ),
        # Fetching the instance list from the EC2 API is fine here: the nodes egress through the firewall.
        "inspected": state(
            "inspected", [_autoscaler("inspected", static_list=False)], [], prefix_delegation=True
        ),
        "ipv6-api": state("ipv6-api", [], []),
    }


@contextmanager
def serve_clusters(fleet: Fleet, directory: Path) -> Iterator[dict[str, RunningServer]]:
    """Start one server per cluster and point the embedded DescribeCluster at it."""
    from moto.eks.models import eks_backends

    tls = make_tls(directory)
    backend = eks_backends[ACCOUNT][fleet.region]
    with ExitStack() as stack:
        servers = {}
        for name, state in cluster_states(fleet.region).items():
            server = stack.enter_context(running_server(tls, state))
            cluster = backend.clusters[name]
            cluster.endpoint = server.url
            cluster.certificate_authority = {"data": tls.ca_base64}
            # These clusters authenticate through the aws-auth ConfigMap only.
            setattr(cluster, "access_config", {"authenticationMode": "CONFIG_MAP"})  # noqa: B010 - moto has no such field
            servers[name] = server
        yield servers
