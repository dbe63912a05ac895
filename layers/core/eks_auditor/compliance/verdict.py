"""The latest verdict of one check on one cluster, as the AUDIT record keeps it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from eks_auditor.model.evaluation import Evaluation
from eks_auditor.model.frozen import FrozenModel

# One failing resource list kept per verdict; beyond it the verdict says how many more (the findings hold
# them all). Keeps the AUDIT item far from DynamoDB's 400 KB however many resources fail.
FAILING_KEPT = 20


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    INCOMPLETE = "INCOMPLETE"  # ERROR on some resource and no FAIL: never a pass


class CheckVerdict(FrozenModel):
    """A check's verdict on a cluster at `evaluated_at`; `failing`: the resources that failed (FAIL)."""

    check_id: str
    verdict: Verdict
    evaluated_at: datetime
    failing: tuple[str, ...] = ()
    more_failing: int = 0
    # Since when the check has been failing on the cluster without a pass in between (FAIL, and INCOMPLETE
    # after a FAIL); None otherwise. Kept by the store, not computed from one evaluation.
    failing_since: datetime | None = None


def check_verdicts(evaluation: Evaluation) -> dict[str, CheckVerdict]:
    """One verdict per check run: FAIL on any failing resource, else INCOMPLETE on any ERROR, else PASS when
    some resource passed, else NOT_APPLICABLE (every resource not applicable, or none to evaluate)."""
    failing: dict[str, list[str]] = {}
    for finding in evaluation.failing:
        if finding.check_id in evaluation.checks_run:  # audit_incomplete findings belong to errored_checks
            failing.setdefault(finding.check_id, []).append(finding.resource)
    not_applicable = set(evaluation.not_applicable)
    passed = {check for check, resource in evaluation.passing if (check, resource) not in not_applicable}
    verdicts: dict[str, CheckVerdict] = {}
    for check in evaluation.checks_run:
        resources = sorted(set(failing.get(check, ())))
        if resources:
            verdict = Verdict.FAIL
        elif check in evaluation.errored_checks:
            verdict = Verdict.INCOMPLETE
        elif check in passed:
            verdict = Verdict.PASS
        else:
            verdict = Verdict.NOT_APPLICABLE
        verdicts[check] = CheckVerdict(
            check_id=check,
            verdict=verdict,
            evaluated_at=evaluation.evaluated_at,
            failing=tuple(resources[:FAILING_KEPT]),
            more_failing=max(0, len(resources) - FAILING_KEPT),
        )
    return verdicts
