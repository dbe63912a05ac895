"""A check's verdict on a cluster, from the outcomes the engine turns into an Evaluation."""

from __future__ import annotations

from datetime import UTC, datetime

from eks_auditor.audit import to_evaluation
from eks_auditor.checks.registry import CHECKS
from eks_auditor.compliance.verdict import FAILING_KEPT, Verdict, check_verdicts
from eks_auditor.model.check import Outcome, Result
from snapshots import BASE

AT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
NAMES = (
    "endpoint_public_access_enabled",
    "secrets_encryption_disabled",
    "nodes_public_subnet",
    "spot_single_instance_type",
    "control_plane_logging_disabled",
    "cluster_admin_broad",
)


def outcome(check: str, resource: str, result: Result) -> Outcome:
    reason = "AccessDenied" if result is Result.ERROR else None
    return Outcome(check_id=check, resource=resource, result=result, reason=reason)


def test_fail_beats_error_beats_pass_beats_not_applicable() -> None:
    checks = [CHECKS[name] for name in NAMES]
    outcomes = [
        outcome("endpoint_public_access_enabled", BASE.arn, Result.FAIL),
        outcome("secrets_encryption_disabled", BASE.arn, Result.PASS),
        # One subnet fails, one passes, one could not be read: the check fails.
        outcome("nodes_public_subnet", "subnet-1", Result.PASS),
        outcome("nodes_public_subnet", "subnet-2", Result.FAIL),
        outcome("nodes_public_subnet", "subnet-3", Result.ERROR),
        outcome("spot_single_instance_type", "ng-on-demand", Result.NOT_APPLICABLE),
        # Passes on one resource, unknown on another: incomplete, never a pass.
        outcome("control_plane_logging_disabled", BASE.arn, Result.ERROR),
        outcome("control_plane_logging_disabled", "other", Result.PASS),
        # cluster_admin_broad: no outcome at all (nothing to evaluate): not applicable.
    ]
    evaluation = to_evaluation(BASE, checks, outcomes, source="scan-1", evaluated_at=AT)

    verdicts = check_verdicts(evaluation)

    assert {check: (v.verdict, v.failing) for check, v in verdicts.items()} == {
        "endpoint_public_access_enabled": (Verdict.FAIL, (BASE.arn,)),
        "secrets_encryption_disabled": (Verdict.PASS, ()),
        "nodes_public_subnet": (Verdict.FAIL, ("subnet-2",)),
        "spot_single_instance_type": (Verdict.NOT_APPLICABLE, ()),
        "control_plane_logging_disabled": (Verdict.INCOMPLETE, ()),
        "cluster_admin_broad": (Verdict.NOT_APPLICABLE, ()),
    }
    assert {v.evaluated_at for v in verdicts.values()} == {AT}


def test_a_long_failing_list_is_kept_short_and_counted() -> None:
    resources = [f"subnet-{i:03d}" for i in range(FAILING_KEPT + 5)]
    outcomes = [outcome("nodes_public_subnet", r, Result.FAIL) for r in resources]
    evaluation = to_evaluation(
        BASE, [CHECKS["nodes_public_subnet"]], outcomes, source="scan-1", evaluated_at=AT
    )
    [verdict] = check_verdicts(evaluation).values()
    assert (verdict.failing, verdict.more_failing) == (tuple(resources[:FAILING_KEPT]), 5)
