"""The demo fleet shows every registered check both failing and passing (issues #2, #3, #4, #5, #7)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from eks_auditor.audit import Auditor
from eks_auditor.checks.registry import CHECKS
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.config import Settings
from eks_auditor.model.check import Result
from eks_auditor.runtime import Runtime

from eks_auditor_tools.demo import run as demo_run


def test_every_check_fails_and_passes_somewhere_in_the_demo_fleet() -> None:
    seen: dict[str, set[Result]] = defaultdict(set)
    with demo_run.embedded_account() as (session, fleet, _account):
        runtime = Runtime(settings=Settings(), session=session)
        # Pinned to the day the fleet was designed: version support depends on the date (1.35 enters
        # its last 90 days of standard support on 2026-12-27).
        collector = SnapshotCollector(runtime.clients, now=lambda: datetime(2026, 11, 21, 12, tzinfo=UTC))
        auditor = Auditor(collector)
        for cluster in fleet.clusters:
            for outcome in auditor.audit("us-east-1", cluster, source="test").outcomes:
                seen[outcome.check_id].add(outcome.result)
    missing = {
        check_id: sorted(r.value for r in (Result.FAIL, Result.PASS) if r not in seen[check_id])
        for check_id in CHECKS
    }
    assert {k: v for k, v in missing.items() if v} == {}
