"""The auditor's own event pipeline, per account-region: trail, rules, queues, heartbeat.

Account-region checks (kind ACCOUNT_REGION): they run on a PipelineSnapshot, their findings carry the
pseudo-cluster "-" and the trail, rule or queue ARN (or `region/<r>`) as resource.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eks_auditor.checks.base import *
from eks_auditor.model.pipeline import ExpectedRule, PipelineSnapshot, RuleView

_TRAIL_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html"
_SELECTORS_DOC = "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-management-events-with-cloudtrail.html"
_RULES_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html"
_SQS_DLQ_DOC = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html"
)
_SQS_METRICS_DOC = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html"

TRAIL_MISSING = CheckSpec(
    id="pipeline_trail_missing",
    title="No trail delivers management events for this region",
    severity=Severity.HIGH,
    description=(
        "EventBridge receives 'AWS API Call via CloudTrail' events only for API calls a trail records. No "
        "trail (account or organization trail) that applies to this region is logging and records write "
        "management events, so no EKS or VPC change here reaches the auditor's event path: only the "
        "scheduled scan sees it."
    ),
    remediation=(
        "Create or fix a trail: aws cloudtrail create-trail --name management --s3-bucket-name <bucket> "
        "--is-multi-region-trail && aws cloudtrail start-logging --name management (its default event "
        "selector records all management events); or re-enable logging / management events on the existing "
        "trail (console: CloudTrail > Trails)."
    ),
    references=(_TRAIL_DOC, _SELECTORS_DOC),
    kind=CheckKind.ACCOUNT_REGION,
    requires=(Part.TRAILS,),
)

RULE_BROKEN = CheckSpec(
    id="pipeline_rule_broken",
    title="An EventBridge rule of the auditor is missing, disabled or altered",
    severity=Severity.HIGH,
    description=(
        "A rule that forwards CloudTrail or spot events to the auditor is missing, DISABLED, its event "
        "pattern differs from the template's, or a target lost its dead-letter queue or role. Events it "
        "should forward are dropped (or, without a DLQ, dropped silently)."
    ),
    remediation=(
        "Redeploy the stack (sam deploy) to restore the rule as template.yaml declares it, or re-enable it: "
        "aws events enable-rule --name <rule> (console: EventBridge > Rules). Do not edit the rules by hand: "
        "the next deploy would revert the edit."
    ),
    references=(_RULES_DOC,),
    kind=CheckKind.ACCOUNT_REGION,
    requires=(Part.RULES,),
)

BACKLOG = CheckSpec(
    id="pipeline_backlog",
    title="Events are piling up in the auditor's queues",
    severity=Severity.HIGH,
    severity_rule="HIGH (dead-letter queue not empty) / MEDIUM (oldest message too old)",
    description=(
        "A dead-letter queue holds messages the auditor could not deliver or process (each is an event or "
        "audit that was dropped), or a work queue's oldest message is older than the threshold (the auditor "
        "is not keeping up, or its consumer is failing)."
    ),
    remediation=(
        "Read the messages (aws sqs receive-message --queue-url <dlq>), fix the cause in the function's logs "
        "(CloudWatch Logs of the consumer), then redrive them: aws sqs start-message-move-task "
        "--source-arn <dlq-arn> (console: SQS > queue > Start DLQ redrive)."
    ),
    references=(_SQS_DLQ_DOC, _SQS_METRICS_DOC),
    kind=CheckKind.ACCOUNT_REGION,
    requires=(Part.QUEUES,),
)

SILENT = CheckSpec(
    id="pipeline_silent",
    title="No event reached the auditor from this region",
    severity=Severity.MEDIUM,
    description=(
        "The event path processed no event from this account-region for longer than its expected quiet "
        "period, or the scheduled scan opened a finding for a change the event path routes while no event "
        "arrived since the previous scan. Something between CloudTrail and the auditor drops events."
    ),
    remediation=(
        "Follow the path: the trail logs (aws cloudtrail get-trail-status), the rules are ENABLED with their "
        "targets (aws events describe-rule / list-targets-by-rule), the queues' DLQs are empty, and the "
        "event function's logs show no errors; raise the quiet period (PIPELINE_QUIET_HOURS) for a region "
        "that is legitimately quiet."
    ),
    references=(_TRAIL_DOC, _RULES_DOC),
    kind=CheckKind.ACCOUNT_REGION,
    requires=(Part.HEARTBEAT,),
)


def check_trail_missing(snapshot: PipelineSnapshot) -> list[Outcome]:
    trails = collected(snapshot.trails, Part.TRAILS)
    resource = snapshot.arn
    delivering = [trail for trail in trails if trail.delivers_changes]
    evidence: dict[str, Any] = {
        "region": snapshot.region,
        "trails": [
            {
                "arn": trail.arn,
                "logging": trail.logging,
                "management_events": trail.management_events.value if trail.management_events else None,
                "multi_region": trail.multi_region,
                "organization": trail.organization,
                **({"error": trail.error} if trail.error else {}),
            }
            for trail in trails
        ],
    }
    if delivering:
        return [passed(TRAIL_MISSING, resource, evidence={**evidence, "covered_by": delivering[0].arn})]
    unreadable = [trail for trail in trails if trail.error]
    if unreadable:
        # A trail whose status or selectors could not be read may well be the one that covers the region.
        reasons = "; ".join(f"{trail.arn}: {trail.error}" for trail in unreadable)
        return [could_not_evaluate(TRAIL_MISSING, resource, f"could not read trail(s): {reasons}")]
    return [fail(TRAIL_MISSING, resource, evidence=evidence)]


def _canonical(value: Any) -> Any:
    """Event patterns compare as sets: EventBridge matches a list of values in any order."""
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted((_canonical(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    return value


def _rule_problems(expected: ExpectedRule, rule: RuleView) -> list[str]:
    problems: list[str] = []
    if rule.state != "ENABLED":
        problems.append(f"state is {rule.state}")
    if rule.pattern is None or _canonical(dict(rule.pattern)) != _canonical(dict(expected.pattern)):
        problems.append("event pattern differs from the template's")
    targets = {target.id: target for target in rule.targets}
    for want in expected.targets:
        target = targets.get(want.id)
        if target is None:
            problems.append(f"target {want.id} is missing")
            continue
        if want.dead_letter and not target.dead_letter_arn:
            problems.append(f"target {want.id} has no dead-letter queue")
        if want.role and not target.role_arn:
            problems.append(f"target {want.id} has no role")
    return problems


def check_rule_broken(snapshot: PipelineSnapshot) -> list[Outcome]:
    rules = {rule.logical_id: rule for rule in collected(snapshot.rules, Part.RULES)}
    # A member account-region's rules are its forwarding rules (member/event-forwarding.yaml), in every
    # audited region; the central account's are the stack's, in its home region.
    if snapshot.central and not snapshot.is_home:
        return [
            not_applicable(
                RULE_BROKEN,
                snapshot.arn,
                f"the auditor's rules live in {snapshot.home_region}; the central account's events from "
                f"{snapshot.region} are not forwarded by the stack (pipeline_silent watches the region's "
                "events; member account-regions are checked for their forwarding rules)",
            )
        ]
    outcomes: list[Outcome] = []
    for expected in snapshot.expected_rules:
        rule = rules.get(expected.logical_id)
        if rule is None or (rule.arn is None and rule.error is None):
            name = rule.name if rule else None
            resource = (
                f"arn:aws:events:{snapshot.region}:{snapshot.account}:rule/{name}"
                if name
                else f"{snapshot.arn}/{expected.logical_id}"
            )
            evidence = {"rule": expected.logical_id, "name": name, "problems": ["rule is missing"]}
            outcomes.append(fail(RULE_BROKEN, resource, evidence=evidence))
            continue
        resource = rule.arn or f"{snapshot.arn}/{expected.logical_id}"
        if rule.error is not None:
            outcomes.append(could_not_evaluate(RULE_BROKEN, resource, rule.error))
            continue
        problems = _rule_problems(expected, rule)
        evidence = {"rule": expected.logical_id, "name": rule.name, "state": rule.state}
        if problems:
            outcomes.append(fail(RULE_BROKEN, resource, evidence={**evidence, "problems": problems}))
        else:
            outcomes.append(passed(RULE_BROKEN, resource, evidence=evidence))
    return outcomes


def check_backlog(snapshot: PipelineSnapshot) -> list[Outcome]:
    queues = collected(snapshot.queues, Part.QUEUES)
    if not snapshot.central:
        return [not_applicable(BACKLOG, snapshot.arn, "the auditor's queues are the central account's")]
    if not snapshot.is_home:
        return [not_applicable(BACKLOG, snapshot.arn, f"the auditor's queues live in {snapshot.home_region}")]
    if not queues:
        return [not_applicable(BACKLOG, snapshot.arn, "no queue configured (PIPELINE_QUEUES is empty)")]
    threshold = snapshot.backlog_age.total_seconds()
    outcomes: list[Outcome] = []
    for queue in queues:
        resource = queue.arn or queue.url
        if queue.error is not None:
            outcomes.append(could_not_evaluate(BACKLOG, resource, queue.error))
            continue
        evidence: dict[str, Any] = {
            "queue": queue.logical_id,
            "dead_letter": queue.dead_letter,
            "messages": queue.messages,
            "oldest_age_seconds": queue.oldest_age_seconds,
            "age_threshold_seconds": threshold,
        }
        if queue.dead_letter and (queue.messages or 0) > 0:
            outcomes.append(
                fail(
                    BACKLOG,
                    resource,
                    evidence=evidence,
                    severity=Severity.HIGH,
                    title=f"Dead-letter queue {queue.logical_id} holds {queue.messages} message(s)",
                )
            )
        elif queue.oldest_age_seconds is not None and queue.oldest_age_seconds > threshold:
            outcomes.append(
                fail(
                    BACKLOG,
                    resource,
                    evidence=evidence,
                    severity=Severity.MEDIUM,
                    title=f"Queue {queue.logical_id}: oldest message {queue.oldest_age_seconds:.0f} s old",
                )
            )
        else:
            outcomes.append(passed(BACKLOG, resource, evidence=evidence))
    return outcomes


def check_silent(snapshot: PipelineSnapshot) -> list[Outcome]:
    heartbeat = collected(snapshot.heartbeat, Part.HEARTBEAT)
    resource = snapshot.arn
    since = heartbeat.last_event_at or heartbeat.watch_started_at
    if since is None:
        return [
            not_applicable(
                SILENT, resource, "first scan watching this account-region: its quiet period starts now"
            )
        ]
    quiet_for = snapshot.collected_at - since
    evidence: dict[str, Any] = {
        "last_event_at": heartbeat.last_event_at.isoformat() if heartbeat.last_event_at else None,
        "last_event": heartbeat.last_event_name,
        "watching_since": heartbeat.watch_started_at.isoformat() if heartbeat.watch_started_at else None,
        "quiet_period_hours": snapshot.quiet_period.total_seconds() / 3600,
        "previous_scan_at": heartbeat.previous_scan_at.isoformat() if heartbeat.previous_scan_at else None,
    }
    reasons: list[str] = []
    if quiet_for > snapshot.quiet_period:
        reasons.append(f"no event processed for {quiet_for.total_seconds() / 3600:.1f} h")
    previous = heartbeat.previous_scan_at
    no_event_since_scan = heartbeat.last_event_at is None or (
        previous is not None and heartbeat.last_event_at < previous
    )
    if heartbeat.missed_changes and no_event_since_scan:
        reasons.append(
            f"the scan opened {len(heartbeat.missed_changes)} finding(s) for changes the event path routes, "
            "and no event arrived since the previous scan"
        )
        evidence["missed_changes"] = [
            {
                "check_id": change.check_id,
                "cluster": change.cluster,
                "resource": change.resource,
                "opened_at": change.opened_at.isoformat(),
                "events": list(change.events),
            }
            for change in heartbeat.missed_changes
        ]
        if heartbeat.trail_recorded:
            # The trail recorded the calls: what dropped them is after it (rule, target, queue, auditor).
            evidence["cloudtrail_recorded"] = [
                {"event_name": e.event_name, "event_time": e.event_time.isoformat(), "event_id": e.event_id}
                for e in heartbeat.trail_recorded
            ]
            reasons.append(
                f"CloudTrail recorded {len(heartbeat.trail_recorded)} such call(s) that never reached the "
                "auditor: the break is after the trail"
            )
        elif heartbeat.trail_recorded is not None:
            evidence["cloudtrail_recorded"] = []
        if heartbeat.trail_lookup_error:
            evidence["cloudtrail_lookup_error"] = heartbeat.trail_lookup_error
    if reasons:
        return [fail(SILENT, resource, evidence={**evidence, "reasons": reasons})]
    return [passed(SILENT, resource, evidence=evidence)]


CHECKS: tuple[Check, ...] = (
    Check(spec=TRAIL_MISSING, run_region=check_trail_missing),
    Check(spec=RULE_BROKEN, run_region=check_rule_broken),
    Check(spec=BACKLOG, run_region=check_backlog),
    Check(spec=SILENT, run_region=check_silent),
)
