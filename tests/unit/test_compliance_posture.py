"""Posture arithmetic on a small fleet: pass, fail, exception, not-applicable, incomplete and stale cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eks_auditor.compliance.frameworks import framework
from eks_auditor.compliance.posture import ClusterVerdicts, ControlVerdict, posture
from eks_auditor.compliance.verdict import CheckVerdict, Verdict
from eks_auditor.suppressions import Suppression

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
ACCOUNT, REGION = "111122223333", "eu-west-1"
PUBLIC, UNRESTRICTED, PRIVATE_OFF, SECRETS, SUBNETS = (
    "endpoint_public_access_enabled",
    "endpoint_public_unrestricted",
    "endpoint_private_access_disabled",
    "secrets_encryption_disabled",
    "nodes_public_subnet",
)


def cluster(name: str, **verdicts: Verdict | tuple[Verdict, timedelta]) -> ClusterVerdicts:
    kept = {}
    for check, value in verdicts.items():
        verdict, age = value if isinstance(value, tuple) else (value, timedelta(hours=1))
        failing = (f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{name}",) if verdict is Verdict.FAIL else ()
        kept[check] = CheckVerdict(check_id=check, verdict=verdict, evaluated_at=NOW - age, failing=failing)
    return ClusterVerdicts(account=ACCOUNT, region=REGION, cluster=name, verdicts=kept)


P, F, NA, INC = Verdict.PASS, Verdict.FAIL, Verdict.NOT_APPLICABLE, Verdict.INCOMPLETE
FLEET = [
    cluster("a-private", **{PUBLIC: P, UNRESTRICTED: P, PRIVATE_OFF: P, SECRETS: P, SUBNETS: F}),
    cluster("b-open", **{PUBLIC: F, UNRESTRICTED: F, PRIVATE_OFF: P, SECRETS: F, SUBNETS: P}),
    cluster("c-waived", **{PUBLIC: F, UNRESTRICTED: P, PRIVATE_OFF: P, SECRETS: NA, SUBNETS: P}),
    cluster("d-denied", **{PUBLIC: INC, UNRESTRICTED: INC, PRIVATE_OFF: P, SECRETS: (P, timedelta(days=3))}),
    cluster("e-new", **{PUBLIC: P}),  # the other checks never evaluated (a targeted audit only)
]
# c-waived's public endpoint is accepted until next year.
WAIVER = Suppression(
    check_id=PUBLIC,
    cluster="c-*",
    reason="public CI runners",
    author="sec",
    created_at=NOW - timedelta(days=1),
    expires_at=NOW + timedelta(days=365),
)


def cells(control: str, suppressions: list[Suppression]) -> dict[str, ControlVerdict]:
    result = posture(framework("cis-eks"), FLEET, suppressions, now=NOW)
    row = next(row for row in result.controls if row.control == control)
    return {cell.cluster.rsplit("/", 1)[1]: cell.verdict for cell in row.cells}


def test_cluster_by_control_verdicts() -> None:
    assert cells("5.4.2", [WAIVER]) == {
        "a-private": ControlVerdict.PASS,
        "b-open": ControlVerdict.FAIL,
        "c-waived": ControlVerdict.EXCEPTION,
        "d-denied": ControlVerdict.INCOMPLETE,
        "e-new": ControlVerdict.PASS,
    }
    # 5.4.1: both endpoint checks are full; a failure of either fails it, a check never run is INCOMPLETE.
    assert cells("5.4.1", [WAIVER]) == {
        "a-private": ControlVerdict.PASS,
        "b-open": ControlVerdict.FAIL,
        "c-waived": ControlVerdict.PASS,
        "d-denied": ControlVerdict.INCOMPLETE,
        "e-new": ControlVerdict.INCOMPLETE,
    }
    # 5.3.1: not applicable, and a verdict three days old is stale.
    assert cells("5.3.1", []) == {
        "a-private": ControlVerdict.PASS,
        "b-open": ControlVerdict.FAIL,
        "c-waived": ControlVerdict.NOT_APPLICABLE,
        "d-denied": ControlVerdict.INCOMPLETE,
        "e-new": ControlVerdict.INCOMPLETE,
    }
    # 5.4.3 has only a partial check (nodes_public_subnet): never PASS or FAIL by approximation.
    assert set(cells("5.4.3", []).values()) == {ControlVerdict.NOT_ASSESSED}


def test_an_expired_suppression_is_no_exception() -> None:
    expired = WAIVER.model_copy(update={"expires_at": NOW - timedelta(minutes=1)})
    assert cells("5.4.2", [expired])["c-waived"] is ControlVerdict.FAIL


def test_pass_rate_counts_pass_fail_and_exception_only() -> None:
    result = posture(framework("cis-eks"), FLEET, [WAIVER], now=NOW)
    rows = {row.control: row for row in result.controls}
    summary = {
        control: (
            rows[control].passing,
            rows[control].failing,
            rows[control].exceptions,
            rows[control].incomplete,
            rows[control].not_applicable,
            rows[control].pass_rate,
            rows[control].failing_clusters,
        )
        for control in ("5.4.2", "5.4.1", "5.3.1", "5.4.3")
    }
    b_open = f"{ACCOUNT}/{REGION}/b-open"
    assert summary == {
        "5.4.2": (2, 1, 1, 1, 0, 0.5, [b_open]),
        "5.4.1": (2, 1, 0, 2, 0, 0.6667, [b_open]),
        "5.3.1": (1, 1, 0, 2, 1, 0.5, [b_open]),
        "5.4.3": (0, 0, 0, 0, 0, None, []),
    }
    assert rows["5.4.2"].cells[1].failing == (f"{PUBLIC}:arn:aws:eks:{REGION}:{ACCOUNT}:cluster/b-open",)
    assert result.clusters[0] == f"{ACCOUNT}/{REGION}/a-private"


def test_failures_beyond_those_kept_are_never_assumed_suppressed() -> None:
    kept = CheckVerdict(check_id=PUBLIC, verdict=F, evaluated_at=NOW, failing=("arn:x",), more_failing=3)
    fleet = [ClusterVerdicts(account=ACCOUNT, region=REGION, cluster="c-big", verdicts={PUBLIC: kept})]
    row = next(
        r for r in posture(framework("fsbp"), fleet, [WAIVER], now=NOW).controls if r.control == "EKS.1"
    )
    assert row.cells[0].verdict is ControlVerdict.FAIL


def test_a_failing_control_says_since_when() -> None:
    def failing(check: str, days: int) -> CheckVerdict:
        return CheckVerdict(
            check_id=check,
            verdict=F,
            evaluated_at=NOW,
            failing=("arn:x",),
            failing_since=NOW - timedelta(days=days),
        )

    fleet = [
        ClusterVerdicts(
            account=ACCOUNT,
            region=REGION,
            cluster="b-open",
            verdicts={
                UNRESTRICTED: failing(UNRESTRICTED, 3),
                PRIVATE_OFF: failing(PRIVATE_OFF, 10),
                PUBLIC: failing(PUBLIC, 1),
            },
        )
    ]
    rows = {row.control: row for row in posture(framework("cis-eks"), fleet, [], now=NOW).controls}
    assert rows["5.4.1"].cells[0].failing_since == NOW - timedelta(days=10)  # the earliest of its full checks
    assert rows["5.4.2"].cells[0].failing_since == NOW - timedelta(days=1)
    assert rows["5.3.1"].cells[0].failing_since is None  # never evaluated: incomplete, not failing
