"""One evaluation of one cluster: what the engine hands the store."""

from __future__ import annotations

from datetime import datetime

from eks_auditor.model.finding import Finding
from eks_auditor.model.frozen import FrozenModel


class Evaluation(FrozenModel):
    """The result of running `checks_run` on one cluster at `evaluated_at`.

    audit_incomplete findings (check_id "audit_incomplete") carry evidence["check_id"], the check that could
    not run, and resource "<check_id>:<resource>"; for resolution they belong to that check.
    """

    account: str
    region: str
    cluster: str
    cluster_arn: str
    source: str  # event id or scan id
    evaluated_at: datetime
    checks_run: tuple[str, ...]  # the checks evaluated (a targeted re-audit runs a subset)
    failing: tuple[Finding, ...]  # built by the engine from FAIL outcomes, status OPEN (+ audit_incomplete)
    passing: tuple[tuple[str, str], ...]  # (check_id, resource) that passed or were not applicable
    errored_checks: tuple[str, ...]  # checks with an ERROR outcome
    # The entries of `passing` that were NOT_APPLICABLE (resolution treats them as passing; the verdict
    # of a check whose resources are all not applicable is NOT_APPLICABLE, not PASS).
    not_applicable: tuple[tuple[str, str], ...] = ()
