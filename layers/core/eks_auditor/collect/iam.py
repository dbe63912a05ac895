"""IAM OIDC providers, the other half of IRSA: listed once per scan (IAM is global to the account)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

_MARKER = ":oidc-provider/"


def list_oidc_providers(iam: IAMClient) -> frozenset[str]:
    """Issuer host/path of every provider, without https:// (the ARN suffix after "oidc-provider/")."""
    # ListOpenIDConnectProviders is not paginated: it returns every provider of the account.
    providers = iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])
    return frozenset(arn.split(_MARKER, 1)[1] for p in providers if _MARKER in (arn := p.get("Arn", "")))
