"""IRSA prerequisite: an IAM OIDC identity provider for the cluster's issuer. Resource: the cluster ARN.

Matching: the issuer without `https://` and without a trailing slash must equal one of
`snapshot.iam_oidc_providers` exactly (IAM keys providers by the URL as registered, and the EKS issuer
id is upper-case hex, so a case-folded match could accept a provider that STS would not use). The
host part is compared case-insensitively, as DNS names are.
"""

from __future__ import annotations

from eks_auditor.checks.base import *

OIDC_PROVIDER_MISSING = CheckSpec(
    id="oidc_provider_missing",
    title="The cluster's OIDC issuer has no IAM OIDC provider (IRSA cannot work)",
    severity=Severity.MEDIUM,
    description=(
        "IAM roles for service accounts need an IAM OpenID Connect provider for the cluster's issuer URL. "
        "Without it, sts:AssumeRoleWithWebIdentity rejects every pod token and pods fall back to the node "
        "role or fail."
    ),
    remediation=(
        "Create the provider: eksctl utils associate-iam-oidc-provider --cluster <cluster> --approve, or "
        "aws iam create-open-id-connect-provider --url $(aws eks describe-cluster --name <cluster> "
        "--query cluster.identity.oidc.issuer --output text) --client-id-list sts.amazonaws.com "
        "(console: IAM > Identity providers > Add provider > OpenID Connect)."
    ),
    references=(
        "https://docs.aws.amazon.com/eks/latest/userguide/enable-iam-roles-for-service-accounts.html",
        "https://docs.aws.amazon.com/eks/latest/userguide/iam-roles-for-service-accounts.html",
    ),
    requires=(Part.CLUSTER, Part.IAM_OIDC_PROVIDERS),
    events=events.OIDC_PROVIDERS,
    schedule_only={
        Part.CLUSTER: "the OIDC issuer is fixed when the cluster is created (CreateCluster runs every check)"
    },
)


def normalize_issuer(url: str) -> str:
    """`https://Host/id/ABC/` -> `host/id/ABC`: how IAM names an OIDC provider."""
    text = url.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.rstrip("/")
    host, sep, path = text.partition("/")
    return f"{host.lower()}{sep}{path}"


def check_oidc_provider(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = OIDC_PROVIDER_MISSING
    issuer = collected(snapshot.cluster, Part.CLUSTER).oidc_issuer
    providers = collected(snapshot.iam_oidc_providers, Part.IAM_OIDC_PROVIDERS)
    if not issuer:
        # Every EKS cluster has an issuer; its absence means the description is incomplete, not a pass.
        return [could_not_evaluate(spec, snapshot.arn, "the cluster description has no OIDC issuer")]
    wanted = normalize_issuer(issuer)
    registered = {normalize_issuer(p) for p in providers}
    if wanted in registered:
        return [passed(spec, snapshot.arn, evidence={"oidc_issuer": issuer, "iam_oidc_provider": wanted})]
    return [
        fail(
            spec,
            snapshot.arn,
            evidence={
                "oidc_issuer": issuer,
                "expected_provider": wanted,
                "eks_providers_in_account": sorted(p for p in registered if ".eks." in p),
            },
        )
    ]


CHECKS: list[Check] = [Check(spec=OIDC_PROVIDER_MISSING, run=check_oidc_provider)]
