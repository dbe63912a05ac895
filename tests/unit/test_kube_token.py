"""The EKS bearer token: shape (as aws eks get-token builds it) and the per-identity cache.

Signing is local (no AWS call): botocore presigns with the fake test credentials.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from eks_auditor.kube import token as token_module
from eks_auditor.kube.token import TOKEN_PREFIX, TokenCache, generate_token, regional_sts_endpoint


def decode(token: str) -> tuple[str, dict[str, list[str]]]:
    body = token[len(TOKEN_PREFIX) :]
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    parts = urlsplit(url)
    return parts.netloc, parse_qs(parts.query)


@pytest.fixture
def sts() -> object:
    return boto3.client("sts", region_name="eu-west-1", endpoint_url=regional_sts_endpoint("eu-west-1"))


def test_token_is_prefixed_unpadded_base64url_of_a_presigned_get_caller_identity(sts: object) -> None:
    token = generate_token(sts, "prod")
    assert token.startswith("k8s-aws-v1.")
    assert "=" not in token
    assert "+" not in token and "/" not in token
    host, query = decode(token)
    assert host == "sts.eu-west-1.amazonaws.com"
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["Version"] == ["2011-06-15"]
    assert query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]
    assert query["X-Amz-Credential"][0].startswith("testing/")
    assert query["X-Amz-Credential"][0].endswith("/eu-west-1/sts/aws4_request")
    # The cluster name is signed, never sent as a query parameter.
    assert "x-k8s-aws-id" not in query


def test_tokens_for_two_clusters_differ(sts: object) -> None:
    assert generate_token(sts, "prod") != generate_token(sts, "staging")


def test_repeated_signing_on_one_client_keeps_one_header(sts: object) -> None:
    generate_token(sts, "prod")
    _, query = decode(generate_token(sts, "prod"))
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]


def test_regional_endpoint_per_partition() -> None:
    assert regional_sts_endpoint("us-east-1") == "https://sts.us-east-1.amazonaws.com"
    assert regional_sts_endpoint("cn-north-1") == "https://sts.cn-north-1.amazonaws.com.cn"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_reuses_a_token_for_ten_minutes_then_signs_anew(
    sts: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed: list[str] = []

    def counting(client: object, cluster_name: str) -> str:
        signed.append(cluster_name)
        return f"{TOKEN_PREFIX}{len(signed)}"

    monkeypatch.setattr(token_module, "generate_token", counting)
    clock = Clock()
    cache = TokenCache(clock=clock)
    assert cache.get(sts, "prod", identity="AKIA1") == "k8s-aws-v1.1"
    clock.now += 599
    assert cache.get(sts, "prod", identity="AKIA1") == "k8s-aws-v1.1"
    clock.now += 2  # 601 s: past the 10-minute reuse window, well inside EKS's 15 minutes
    assert cache.get(sts, "prod", identity="AKIA1") == "k8s-aws-v1.2"
    assert signed == ["prod", "prod"]


def test_cache_keys_on_cluster_and_identity(sts: object, monkeypatch: pytest.MonkeyPatch) -> None:
    signed: list[str] = []

    def counting(client: object, cluster_name: str) -> str:
        signed.append(cluster_name)
        return f"{TOKEN_PREFIX}{len(signed)}"

    monkeypatch.setattr(token_module, "generate_token", counting)
    cache = TokenCache(clock=Clock())
    assert cache.get(sts, "prod", identity="AKIA1") == "k8s-aws-v1.1"
    assert cache.get(sts, "staging", identity="AKIA1") == "k8s-aws-v1.2"
    assert cache.get(sts, "prod", identity="AKIA2") == "k8s-aws-v1.3"
    assert cache.get(sts, "prod", identity="AKIA1") == "k8s-aws-v1.1"
