"""oidc_provider_missing."""

from __future__ import annotations

from eks_auditor.checks.oidc import normalize_issuer
from eks_auditor.model.check import Result
from eks_auditor.model.snapshot import ClusterSnapshot
from snapshots import ARN, BASE, OIDC_ID, OIDC_ISSUER, REGION, only, with_cluster, without

OIDC = "oidc_provider_missing"
PROVIDER = f"oidc.eks.{REGION}.amazonaws.com/id/{OIDC_ID}"
OTHER = f"oidc.eks.{REGION}.amazonaws.com/id/0THERCLUSTER0000000000000000000"


def unregistered() -> ClusterSnapshot:
    return BASE.model_copy(
        update={"iam_oidc_providers": frozenset({OTHER, "token.actions.githubusercontent.com"})}
    )


COVERAGE = [
    (OIDC, Result.FAIL, unregistered),
    (OIDC, Result.PASS, lambda: BASE),
    (OIDC, Result.ERROR, lambda: without(BASE, "iam_oidc_providers")),
]


def test_registered_provider_passes() -> None:
    outcome = only(OIDC, BASE)
    assert outcome.result is Result.PASS
    assert outcome.resource == ARN
    assert outcome.evidence == {"oidc_issuer": OIDC_ISSUER, "iam_oidc_provider": PROVIDER}


def test_missing_provider_fails_and_lists_the_eks_providers_seen() -> None:
    outcome = only(OIDC, unregistered())
    assert outcome.result is Result.FAIL
    assert outcome.evidence == {
        "oidc_issuer": OIDC_ISSUER,
        "expected_provider": PROVIDER,
        "eks_providers_in_account": [OTHER],
    }


def test_no_providers_at_all_fails() -> None:
    assert only(OIDC, BASE.model_copy(update={"iam_oidc_providers": frozenset()})).result is Result.FAIL


def test_trailing_slash_and_host_case_are_ignored_but_the_id_is_exact() -> None:
    assert only(OIDC, with_cluster(BASE, oidc_issuer=OIDC_ISSUER + "/")).result is Result.PASS
    shouting_host = f"https://OIDC.EKS.{REGION.upper()}.AMAZONAWS.COM/id/{OIDC_ID}"
    assert only(OIDC, with_cluster(BASE, oidc_issuer=shouting_host)).result is Result.PASS
    lower_id = f"https://oidc.eks.{REGION}.amazonaws.com/id/{OIDC_ID.lower()}"
    assert only(OIDC, with_cluster(BASE, oidc_issuer=lower_id)).result is Result.FAIL


def test_normalize_issuer() -> None:
    assert normalize_issuer("https://Oidc.Example.com/id/AB/") == "oidc.example.com/id/AB"
    assert normalize_issuer("oidc.example.com/id/AB") == "oidc.example.com/id/AB"


def test_no_issuer_or_missing_parts_are_errors() -> None:
    assert only(OIDC, with_cluster(BASE, oidc_issuer=None)).result is Result.ERROR
    assert only(OIDC, without(BASE, "iam_oidc_providers")).result is Result.ERROR
    assert only(OIDC, without(BASE, "cluster")).result is Result.ERROR
