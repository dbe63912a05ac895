"""Read-only access to a cluster's Kubernetes API: the EKS bearer token, an HTTPS client, typed errors."""

from eks_auditor.kube.client import KubeClient, ssl_context
from eks_auditor.kube.errors import (
    KubeApiError,
    KubeAuthError,
    KubeError,
    KubeNotFound,
    KubeTlsError,
    KubeUnreachable,
)
from eks_auditor.kube.token import TOKENS, TokenCache, generate_token, regional_sts_endpoint

__all__ = [
    "TOKENS",
    "KubeApiError",
    "KubeAuthError",
    "KubeClient",
    "KubeError",
    "KubeNotFound",
    "KubeTlsError",
    "KubeUnreachable",
    "TokenCache",
    "generate_token",
    "regional_sts_endpoint",
    "ssl_context",
]
