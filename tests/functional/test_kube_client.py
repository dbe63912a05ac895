"""KubeClient against the real HTTPS fixture server: TLS, the EKS token, pagination, typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from eks_auditor.kube.client import KubeClient, ssl_context
from eks_auditor.kube.errors import (
    KubeApiError,
    KubeAuthError,
    KubeNotFound,
    KubeTlsError,
    KubeUnreachable,
)
from eks_auditor.kube.token import generate_token

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

DEPLOYMENTS = "/apis/apps/v1/deployments"
AWS_NODE = "/apis/apps/v1/namespaces/kube-system/daemonsets/aws-node"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(tls: TlsFiles) -> Iterator[RunningServer]:
    state = KubeState(
        objects={AWS_NODE: fixture("aws-node.daemonset.json")},
        collections={
            DEPLOYMENTS: [
                fixture("coredns.deployment.json"),
                fixture("cluster-autoscaler.deployment.json"),
                fixture("cluster-autoscaler-helm.deployment.json"),
            ]
        },
    )
    with running_server(tls, state) as running:
        yield running


def token_for(cluster: str) -> str:
    return generate_token(boto3.client("sts", region_name="us-east-1"), cluster)


def client_for(
    server: RunningServer, *, token: str | None = None, ca_pem: bytes | None = None, **kwargs: object
) -> KubeClient:
    context = ssl_context(ca_data=ca_pem if ca_pem is not None else server.tls.ca_base64)
    return KubeClient(server.url, token=token or token_for("prod"), context=context, **kwargs)  # type: ignore[arg-type]


def test_get_returns_the_object(server: RunningServer) -> None:
    daemonset = client_for(server).get(AWS_NODE)
    assert daemonset["metadata"]["name"] == "aws-node"
    assert daemonset["kind"] == "DaemonSet"


def test_list_follows_continue_tokens(server: RunningServer) -> None:
    server.state.page_size = 1
    items = client_for(server, page_size=2).list(DEPLOYMENTS)
    assert [item["metadata"]["name"] for item in items] == [
        "coredns",
        "cluster-autoscaler",
        "cluster-autoscaler-aws-cluster-autoscaler",
    ]
    list_requests = [query for path, query in server.state.requests if path == DEPLOYMENTS]
    assert list_requests == [
        {"limit": "2"},
        {"limit": "2", "continue": "1"},
        {"limit": "2", "continue": "2"},
    ]


def test_ca_file_works_like_base64_ca(server: RunningServer) -> None:
    client = KubeClient(
        server.url, token=token_for("prod"), context=ssl_context(ca_file=str(server.tls.ca_file))
    )
    assert client.get(AWS_NODE)["metadata"]["namespace"] == "kube-system"


def test_token_callable_is_called_per_request(server: RunningServer) -> None:
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return token_for("prod")

    client = KubeClient(server.url, token=token, context=ssl_context(ca_data=server.tls.ca_base64))
    client.get(AWS_NODE)
    client.get(AWS_NODE)
    assert len(calls) == 2


def test_token_for_another_cluster_is_401(server: RunningServer) -> None:
    with pytest.raises(KubeAuthError) as caught:
        client_for(server, token=token_for("staging")).get(AWS_NODE)
    assert caught.value.status == 401
    assert "signature does not match" in caught.value.reason
    assert "access entry" in caught.value.remedy


def test_garbage_token_is_401(server: RunningServer) -> None:
    with pytest.raises(KubeAuthError) as caught:
        client_for(server, token="k8s-aws-v1.bm90LWEtdXJs").get(AWS_NODE)
    assert caught.value.status == 401


def test_forbidden_is_auth_error_with_what_to_grant(server: RunningServer) -> None:
    server.state.forbidden.add(DEPLOYMENTS)
    with pytest.raises(KubeAuthError) as caught:
        client_for(server).list(DEPLOYMENTS)
    assert caught.value.status == 403
    assert caught.value.path == DEPLOYMENTS
    assert "deployments is forbidden" in caught.value.reason
    assert "AmazonEKSViewPolicy" in caught.value.remedy


def test_missing_object_is_not_found(server: RunningServer) -> None:
    with pytest.raises(KubeNotFound):
        client_for(server).get("/api/v1/namespaces/kube-system/configmaps/aws-auth")


def test_server_error_is_api_error(server: RunningServer) -> None:
    server.state.statuses[AWS_NODE] = 500
    with pytest.raises(KubeApiError) as caught:
        client_for(server).get(AWS_NODE)
    assert caught.value.status == 500


def test_wrong_ca_is_tls_error(server: RunningServer, tmp_path: Path) -> None:
    other_ca = make_tls(tmp_path / "other", ca_name="some-other-ca")
    with pytest.raises(KubeTlsError) as caught:
        client_for(server, ca_pem=other_ca.ca_pem).get(AWS_NODE)
    assert "unable to get local issuer certificate" in caught.value.reason
    assert server.state.requests == []  # nothing was sent, not even the token


def test_system_trust_store_does_not_trust_the_cluster_ca(server: RunningServer) -> None:
    client = KubeClient(server.url, token=token_for("prod"), context=ssl_context())
    with pytest.raises(KubeTlsError):
        client.get(AWS_NODE)


def test_name_mismatch_is_tls_error(server: RunningServer) -> None:
    with pytest.raises(KubeTlsError) as caught:
        client_for(server, tls_server_name="other.example.com").get(AWS_NODE)
    assert "mismatch" in caught.value.reason or "doesn't match" in caught.value.reason


def test_tunnel_verifies_the_cluster_host_name(server: RunningServer) -> None:
    # Connect to 127.0.0.1 but check the certificate for the EKS endpoint's name, as through a tunnel.
    assert client_for(server, tls_server_name=EKS_HOST).get(AWS_NODE)["kind"] == "DaemonSet"


def test_slow_server_times_out(server: RunningServer) -> None:
    server.state.delay = 1.0
    with pytest.raises(KubeUnreachable) as caught:
        client_for(server, read_timeout=0.2).get(AWS_NODE)
    assert "timed out" in caught.value.reason


def test_closed_port_is_unreachable(tls: TlsFiles) -> None:
    client = KubeClient(
        f"https://127.0.0.1:{closed_port()}", token="unused", context=ssl_context(ca_data=tls.ca_base64)
    )
    with pytest.raises(KubeUnreachable) as caught:
        client.get(AWS_NODE)
    assert "refused" in caught.value.reason


def test_unresolvable_host_is_unreachable(tls: TlsFiles) -> None:
    client = KubeClient(
        "https://no-such-host.invalid", token="unused", context=ssl_context(ca_data=tls.ca_base64)
    )
    with pytest.raises(KubeUnreachable) as caught:
        client.get(AWS_NODE)
    assert "cannot resolve" in caught.value.reason


def test_ca_that_is_not_pem_is_tls_error() -> None:
    with pytest.raises(KubeTlsError):
        ssl_context(ca_data="bm90IGEgY2VydA==")


def test_plain_http_endpoint_is_refused() -> None:
    with pytest.raises(KubeApiError):
        KubeClient("http://127.0.0.1:8080", token="t", context=ssl_context())


PROXY_PAGE = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", PROXY_PAGE),
        ("application/json", b'{"message": "no Route matched with those values"}'),
        ("application/json", b'{"kind": "Status", "reason": "Forbidden", "code": 404}'),
        ("application/json", b"[" * 5000),
    ],
    ids=["html-proxy-page", "json-not-a-status", "status-other-reason", "deeply-nested"],
)
def test_a_404_that_is_not_a_kubernetes_status_is_an_error_not_absence(
    server: RunningServer, content_type: str, body: bytes
) -> None:
    server.state.raw[AWS_NODE] = (404, content_type, body)
    with pytest.raises(KubeApiError) as caught:
        client_for(server).get(AWS_NODE)
    assert not isinstance(caught.value, KubeNotFound)
    assert caught.value.status == 404
    assert "without a Kubernetes Status body" in caught.value.reason


def test_a_404_kubernetes_status_not_found_is_absence(server: RunningServer) -> None:
    status = b'{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}'
    server.state.raw[AWS_NODE] = (404, "application/json", status)
    with pytest.raises(KubeNotFound):
        client_for(server).get(AWS_NODE)
