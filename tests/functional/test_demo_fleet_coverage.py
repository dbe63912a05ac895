"""The demo fleet shows every registered check both failing and passing (issues #2, #3, #4, #5, #7)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from eks_auditor.audit import Auditor
from eks_auditor.checks.registry import CHECKS
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.config import Settings
from eks_auditor.model.check import Outcome, Result, Severity
from eks_auditor.runtime import Runtime

from eks_auditor_tools.demo import run as demo_run


def test_every_check_fails_and_passes_somewhere_in_the_demo_fleet() -> None:
    seen: dict[str, set[Result]] = defaultdict(set)
    failures: dict[str, list[Outcome]] = defaultdict(list)
    with demo_run.embedded_account() as (session, fleet, _account):
        runtime = Runtime(settings=Settings(), session=session)
        # Pinned to the day the fleet was designed: version support depends on the date (1.35 enters
        # its last 90 days of standard support on 2026-12-27).
        collector = SnapshotCollector(runtime.clients, now=lambda: datetime(2026, 11, 21, 12, tzinfo=UTC))
        auditor = Auditor(collector)
        for cluster in fleet.clusters:
            for outcome in auditor.audit("us-east-1", cluster, source="test").outcomes:
                seen[outcome.check_id].add(outcome.result)
                if outcome.result in (Result.FAIL, Result.ERROR):
                    failures[cluster].append(outcome)
    missing = {
        check_id: sorted(r.value for r in (Result.FAIL, Result.PASS) if r not in seen[check_id])
        for check_id in CHECKS
    }
    assert {k: v for k, v in missing.items() if v} == {}
    # The clusters that guard against false alarms (issue 11). `inspected` egresses through a firewall
    # appliance (GWLB endpoint -> NAT): no endpoint is missing, cluster-autoscaler may fetch the instance
    # list; what remains is its image's minor version. `ipv6-api`: the /27 subnets that exhaust batch's
    # IPv4 pods hold its nodes (one IPv4 address each).
    assert sorted((o.check_id, o.resource.rsplit("/", 1)[-1]) for o in failures["inspected"]) == [
        ("autoscaler_dynamic_instance_list", "version")
    ]
    assert failures["ipv6-api"] == []
    # The same subnets in an IPv4 cluster: CRITICAL.
    assert {o.severity for o in failures["batch"] if o.check_id == "ip_capacity_exhaustion_risk"} == {
        Severity.CRITICAL
    }
