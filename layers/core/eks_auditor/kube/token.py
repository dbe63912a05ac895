"""The EKS bearer token: a presigned STS GetCallerIdentity URL that names the cluster.

Same construction as `aws eks get-token` (awscli customizations/eks/get_token.py) and
aws-iam-authenticator: the `x-k8s-aws-id` header carries the cluster name and is part of the
signature, the URL is presigned for 60 seconds, and the token is `k8s-aws-v1.` followed by the
URL in base64url without padding. EKS accepts a token for 15 minutes after signing.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
URL_EXPIRES_SECONDS = 60
# EKS honours a token for 15 minutes; reuse it for less so a cached one never expires mid-read.
CACHE_SECONDS = 600.0

_HANDLER_ID = "eks-auditor-k8s-aws-id"


def _move_cluster_id_to_context(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # GetCallerIdentity has no such parameter: take it out before validation, keep it for signing.
    if CLUSTER_ID_HEADER in params:
        context[CLUSTER_ID_HEADER] = params.pop(CLUSTER_ID_HEADER)


def _sign_cluster_id_header(request: Any, **_: Any) -> None:
    if CLUSTER_ID_HEADER in request.context:
        request.headers[CLUSTER_ID_HEADER] = request.context[CLUSTER_ID_HEADER]


def generate_token(sts_client: Any, cluster_name: str) -> str:
    """A fresh bearer token for `cluster_name`, signed with the STS client's credentials."""
    events = sts_client.meta.events
    # unique_id makes the registration idempotent when the same client signs many tokens.
    events.register(
        "provide-client-params.sts.GetCallerIdentity",
        _move_cluster_id_to_context,
        unique_id=f"{_HANDLER_ID}-params",
    )
    events.register(
        "before-sign.sts.GetCallerIdentity", _sign_cluster_id_header, unique_id=f"{_HANDLER_ID}-sign"
    )
    url: str = sts_client.generate_presigned_url(
        "get_caller_identity",
        Params={CLUSTER_ID_HEADER: cluster_name},
        ExpiresIn=URL_EXPIRES_SECONDS,
        HttpMethod="GET",
    )
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return TOKEN_PREFIX + encoded


def regional_sts_endpoint(region: str) -> str:
    """The regional STS endpoint; EKS validates the token against STS in the cluster's partition."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region}.{suffix}"


def sts_endpoint(region: str) -> str | None:
    """The `endpoint_url` of an STS client for API calls: the regional endpoint, unless the environment
    configures one (AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL, which botocore reads when endpoint_url is
    None: a local endpoint such as moto's server must win over the regional default)."""
    import os

    if os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL"):
        return None
    return regional_sts_endpoint(region)


class TokenCache:
    """Tokens per (cluster, region, identity), reused for CACHE_SECONDS. Thread-safe."""

    def __init__(self, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, sts_client: Any, cluster_name: str, *, identity: str) -> str:
        """A cached token if still fresh, else a new one from `sts_client`."""
        key = (cluster_name, str(sts_client.meta.region_name), identity)
        now = self._clock()
        with self._lock:
            hit = self._tokens.get(key)
            if hit and now - hit[1] < self._ttl:
                return hit[0]
        token = generate_token(sts_client, cluster_name)
        with self._lock:
            self._tokens[key] = (token, now)
        return token

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


# Module scope so warm Lambda invocations reuse tokens across audits.
TOKENS = TokenCache()
