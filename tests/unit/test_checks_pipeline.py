"""The pipeline_* account-region checks: exact outcomes on one healthy PipelineSnapshot, one field replaced.

REGION_COVERAGE rows follow test_check_catalog's COVERAGE convention for account-region checks (they run on
a PipelineSnapshot, not a ClusterSnapshot); test_every_region_check_has_fail_and_pass_coverage holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from eks_auditor.checks import pipeline
from eks_auditor.checks.registry import REGION_CHECKS
from eks_auditor.collect.pipeline import expected_pipeline
from eks_auditor.model.check import Result, Severity
from eks_auditor.model.part import Part
from eks_auditor.model.pipeline import (
    Heartbeat,
    ManagementEvents,
    MissedChange,
    PipelineSnapshot,
    QueueView,
    RuleTarget,
    RuleView,
    TrailView,
)
from eks_auditor.pipeline_audit import evaluate_region

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
TRAIL = TrailView(
    arn=f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management",
    name="management",
    home_region="us-east-1",
    multi_region=True,
    organization=False,
    logging=True,
    management_events=ManagementEvents.ALL,
)


def _rule(logical_id: str) -> RuleView:
    expected = next(r for r in expected_pipeline().rules if r.logical_id == logical_id)
    name = f"eks-auditor-{logical_id}-ABC"
    return RuleView(
        logical_id=logical_id,
        name=name,
        arn=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{name}",
        state="ENABLED",
        pattern=expected.pattern,
        targets=tuple(
            RuleTarget(
                id=t.id, arn="arn:aws:sqs:us-east-1:1:q", dead_letter_arn="arn:aws:sqs:us-east-1:1:dlq"
            )
            for t in expected.targets
        ),
    )


BASE = PipelineSnapshot(
    account=ACCOUNT,
    region="us-east-1",
    collected_at=NOW,
    home_region="us-east-1",
    trails=(TRAIL,),
    rules=tuple(_rule(r.logical_id) for r in expected_pipeline().rules),
    expected_rules=expected_pipeline().rules,
    queues=(
        QueueView(
            logical_id="EventsQueue",
            url="https://q/EventsQueue",
            arn="arn:q:EventsQueue",
            dead_letter=False,
            messages=0,
            oldest_age_seconds=12.0,
        ),
        QueueView(
            logical_id="EventsDLQ",
            url="https://q/EventsDLQ",
            arn="arn:q:EventsDLQ",
            dead_letter=True,
            messages=0,
        ),
    ),
    heartbeat=Heartbeat(
        last_event_at=NOW - timedelta(hours=1),
        last_event_name="UpdateClusterConfig",
        previous_scan_at=NOW - timedelta(hours=6),
        watch_started_at=NOW - timedelta(days=30),
    ),
)


def replace(snapshot: PipelineSnapshot, **fields: object) -> PipelineSnapshot:
    return snapshot.model_copy(update=fields)


def with_trail(**fields: object) -> PipelineSnapshot:
    return replace(BASE, trails=(TRAIL.model_copy(update=fields),))


def with_rule(logical_id: str, **fields: object) -> PipelineSnapshot:
    rules = tuple(r.model_copy(update=fields) if r.logical_id == logical_id else r for r in BASE.rules or ())
    return replace(BASE, rules=rules)


def with_queue(logical_id: str, **fields: object) -> PipelineSnapshot:
    queues = tuple(
        q.model_copy(update=fields) if q.logical_id == logical_id else q for q in BASE.queues or ()
    )
    return replace(BASE, queues=queues)


def with_heartbeat(**fields: object) -> PipelineSnapshot:
    assert BASE.heartbeat is not None
    return replace(BASE, heartbeat=BASE.heartbeat.model_copy(update=fields))


MISSED = MissedChange(
    finding_id="f1",
    check_id="endpoint_public_unrestricted",
    cluster="prod",
    resource="arn:aws:eks:us-east-1:1:cluster/prod",
    opened_at=NOW - timedelta(hours=2),
    events=("aws.eks:UpdateClusterConfig",),
)

REGION_COVERAGE: list[tuple[str, Result, Callable[[], PipelineSnapshot]]] = [
    ("pipeline_trail_missing", Result.FAIL, lambda: replace(BASE, trails=())),
    ("pipeline_trail_missing", Result.PASS, lambda: BASE),
    ("pipeline_rule_broken", Result.FAIL, lambda: with_rule("SpotRule", state="DISABLED")),
    ("pipeline_rule_broken", Result.PASS, lambda: BASE),
    ("pipeline_backlog", Result.FAIL, lambda: with_queue("EventsDLQ", messages=2)),
    ("pipeline_backlog", Result.PASS, lambda: BASE),
    ("pipeline_silent", Result.FAIL, lambda: with_heartbeat(last_event_at=NOW - timedelta(days=8))),
    ("pipeline_silent", Result.PASS, lambda: BASE),
]


def run(check_id: str, snapshot: PipelineSnapshot) -> list[tuple[str, Result, Severity | None]]:
    outcomes = evaluate_region(snapshot, [REGION_CHECKS[check_id]])
    return [(o.resource, o.result, o.severity) for o in outcomes if o.result is not Result.PASS] or [
        (o.resource, o.result, o.severity) for o in outcomes
    ]


@pytest.mark.parametrize(
    "row", REGION_COVERAGE, ids=lambda r: f"{r[0]}:{r[1]}" if isinstance(r, tuple) else ""
)
def test_region_coverage_rows_hold(row: tuple[str, Result, Callable[[], PipelineSnapshot]]) -> None:
    check_id, result, build = row
    assert result in {o.result for o in evaluate_region(build(), [REGION_CHECKS[check_id]])}


def test_every_region_check_has_fail_and_pass_coverage() -> None:
    covered = {(check_id, result) for check_id, result, _ in REGION_COVERAGE}
    missing = [
        (check_id, result.value)
        for check_id in REGION_CHECKS
        for result in (Result.FAIL, Result.PASS)
        if (check_id, result) not in covered
    ]
    assert missing == []


# --- pipeline_trail_missing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        (BASE, Result.PASS),
        (replace(BASE, trails=()), Result.FAIL),
        (with_trail(logging=False), Result.FAIL),
        (with_trail(management_events=ManagementEvents.READ), Result.FAIL),
        (with_trail(management_events=ManagementEvents.NONE), Result.FAIL),
        (with_trail(management_events=ManagementEvents.WRITE), Result.PASS),
        (with_trail(organization=True), Result.PASS),
        (
            with_trail(
                logging=None, management_events=None, error="AccessDenied on cloudtrail:GetTrailStatus"
            ),
            Result.ERROR,
        ),
    ],
    ids=[
        "healthy",
        "no-trail",
        "not-logging",
        "read-only",
        "no-management",
        "write-only",
        "org",
        "unreadable",
    ],
)
def test_trail_missing(snapshot: PipelineSnapshot, expected: Result) -> None:
    outcomes = evaluate_region(snapshot, [REGION_CHECKS["pipeline_trail_missing"]])
    assert [(o.resource, o.result) for o in outcomes] == [("region/us-east-1", expected)]


def test_trail_missing_says_why_each_trail_does_not_count() -> None:
    (outcome,) = pipeline.check_trail_missing(with_trail(logging=False))
    assert outcome.evidence["trails"] == [
        {
            "arn": TRAIL.arn,
            "logging": False,
            "management_events": "all",
            "multi_region": True,
            "organization": False,
        }
    ]


def test_a_part_that_could_not_be_collected_is_an_error_never_a_pass() -> None:
    snapshot = replace(BASE, trails=None, gaps={Part.TRAILS: "AccessDenied on cloudtrail:DescribeTrails"})
    (outcome,) = evaluate_region(snapshot, [REGION_CHECKS["pipeline_trail_missing"]])
    assert (outcome.result, outcome.reason) == (
        Result.ERROR,
        "could not collect trails: AccessDenied on cloudtrail:DescribeTrails",
    )


# --- pipeline_rule_broken ------------------------------------------------------------------------------


def _problems(snapshot: PipelineSnapshot) -> dict[str, list[str]]:
    return {
        o.evidence["rule"]: list(o.evidence["problems"])
        for o in pipeline.check_rule_broken(snapshot)
        if o.result is Result.FAIL
    }


def test_rules_healthy() -> None:
    outcomes = pipeline.check_rule_broken(BASE)
    assert [o.result for o in outcomes] == [Result.PASS] * len(expected_pipeline().rules)


def test_rule_disabled_missing_altered_or_without_dlq() -> None:
    assert _problems(with_rule("SpotRule", state="DISABLED")) == {"SpotRule": ["state is DISABLED"]}
    assert _problems(with_rule("IamOidcRule", arn=None, state=None, pattern=None, targets=())) == {
        "IamOidcRule": ["rule is missing"]
    }
    altered = {"source": ["aws.eks"], "detail-type": ["AWS API Call via CloudTrail"]}
    assert _problems(with_rule("EksApiCallsRule", pattern=altered)) == {
        "EksApiCallsRule": ["event pattern differs from the template's"]
    }
    no_dlq = (RuleTarget(id="spot-queue", arn="arn:aws:sqs:us-east-1:1:q"),)
    assert _problems(with_rule("SpotRule", targets=no_dlq)) == {
        "SpotRule": ["target spot-queue has no dead-letter queue"]
    }
    assert _problems(with_rule("SpotRule", targets=())) == {"SpotRule": ["target spot-queue is missing"]}


def test_rule_missing_resource_is_its_expected_arn() -> None:
    (outcome,) = [
        o
        for o in pipeline.check_rule_broken(
            with_rule("SpotRule", arn=None, state=None, pattern=None, targets=())
        )
        if o.result is Result.FAIL
    ]
    assert outcome.resource == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/eks-auditor-SpotRule-ABC"


def test_pattern_lists_compare_in_any_order() -> None:
    rule = next(r for r in BASE.rules or () if r.logical_id == "SpotRule")
    assert rule.pattern is not None
    reordered = {**rule.pattern, "detail-type": list(reversed(rule.pattern["detail-type"]))}
    assert _problems(with_rule("SpotRule", pattern=reordered)) == {}


def test_rules_outside_the_home_region_are_not_applicable_with_the_reason() -> None:
    (outcome,) = pipeline.check_rule_broken(replace(BASE, region="eu-west-1", rules=()))
    assert outcome.result is Result.NOT_APPLICABLE
    assert outcome.reason is not None and "us-east-1" in outcome.reason


# --- pipeline_backlog ----------------------------------------------------------------------------------


def test_backlog() -> None:
    assert [o.result for o in pipeline.check_backlog(BASE)] == [Result.PASS, Result.PASS]
    assert run("pipeline_backlog", with_queue("EventsDLQ", messages=3)) == [
        ("arn:q:EventsDLQ", Result.FAIL, Severity.HIGH)
    ]
    assert run("pipeline_backlog", with_queue("EventsQueue", oldest_age_seconds=3600.0)) == [
        ("arn:q:EventsQueue", Result.FAIL, Severity.MEDIUM)
    ]
    assert run("pipeline_backlog", with_queue("EventsQueue", oldest_age_seconds=None)) == [
        ("arn:q:EventsQueue", Result.PASS, None),
        ("arn:q:EventsDLQ", Result.PASS, None),
    ]
    assert run("pipeline_backlog", with_queue("EventsQueue", error="AccessDenied")) == [
        ("arn:q:EventsQueue", Result.ERROR, None)
    ]


# --- pipeline_silent -----------------------------------------------------------------------------------


def test_silent_quiet_period() -> None:
    (outcome,) = pipeline.check_silent(with_heartbeat(last_event_at=NOW - timedelta(days=8)))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["reasons"] == ["no event processed for 192.0 h"]
    assert pipeline.check_silent(replace(BASE, quiet_period=timedelta(days=10)))[0].result is Result.PASS


def test_silent_counts_from_the_watch_start_when_no_event_ever_came() -> None:
    young = with_heartbeat(
        last_event_at=None, watch_started_at=NOW - timedelta(hours=1), previous_scan_at=None
    )
    assert pipeline.check_silent(young)[0].result is Result.PASS
    old = with_heartbeat(last_event_at=None, watch_started_at=NOW - timedelta(days=8))
    assert pipeline.check_silent(old)[0].result is Result.FAIL
    first = with_heartbeat(last_event_at=None, watch_started_at=None, previous_scan_at=None)
    assert pipeline.check_silent(first)[0].result is Result.NOT_APPLICABLE


def test_silent_missed_change() -> None:
    missed = with_heartbeat(last_event_at=NOW - timedelta(hours=7), missed_changes=(MISSED,))
    (outcome,) = pipeline.check_silent(missed)
    assert outcome.result is Result.FAIL
    assert outcome.evidence["missed_changes"][0]["check_id"] == "endpoint_public_unrestricted"
    # An event arrived after the previous scan: the pipeline delivers, the change came another way.
    delivered = with_heartbeat(last_event_at=NOW - timedelta(hours=1), missed_changes=(MISSED,))
    assert pipeline.check_silent(delivered)[0].result is Result.PASS
