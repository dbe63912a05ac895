"""The pipeline_* checks under moto: trails, EventBridge rules, SQS queues, CloudWatch metrics, heartbeat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from eks_auditor.audit import Auditor
from eks_auditor.collect.pipeline import PipelineCollector, PipelineSettings, expected_pipeline
from eks_auditor.entrypoints import fan_out_scan
from eks_auditor.model.check import Result
from eks_auditor.model.finding import ChangeKind
from eks_auditor.model.pipeline import ACCOUNT_REGION, ManagementEvents
from eks_auditor.pipeline_audit import PipelineAuditor
from eks_auditor.store import FindingStore
from eks_auditor.store.heartbeat import HeartbeatStore
from moto import mock_aws
from table import TABLE, create_table

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)

        def client(service: str, region: str | None = None) -> Any:
            return session.client(service, region_name=region or REGION)

        yield {"client": client}


def _deploy(client: Any) -> dict[str, Any]:
    """The stack's rules and queues as template.yaml declares them (names as CloudFormation would give)."""
    sqs, events = client("sqs"), client("events")
    urls = {
        logical: sqs.create_queue(QueueName=f"eks-auditor-{logical}-X1")["QueueUrl"]
        for logical in expected_pipeline().queues
    }
    dlq_arn = sqs.get_queue_attributes(QueueUrl=urls["TargetsDLQ"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    names: dict[str, str] = {}
    for rule in expected_pipeline().rules:
        name = f"eks-auditor-{rule.logical_id}-X1"
        events.put_rule(Name=name, EventPattern=json.dumps(rule.pattern), State="ENABLED")
        events.put_targets(
            Rule=name,
            Targets=[
                {"Id": t.id, "Arn": dlq_arn, "DeadLetterConfig": {"Arn": dlq_arn}} for t in rule.targets
            ],
        )
        names[rule.logical_id] = name
    return {"queues": urls, "rules": names}


def _trail(client: Any, name: str = "management", **kwargs: Any) -> str:
    s3 = client("s3")
    s3.create_bucket(Bucket=f"trail-{name}")
    arn = client("cloudtrail").create_trail(Name=name, S3BucketName=f"trail-{name}", **kwargs)["TrailARN"]
    return str(arn)


def _collector(
    client: Any, deployed: dict[str, Any], heartbeats: Any = None, **settings: Any
) -> PipelineCollector:
    return PipelineCollector(
        client,
        PipelineSettings(
            home_region=REGION, rule_names=deployed["rules"], queue_urls=deployed["queues"], **settings
        ),
        heartbeats=heartbeats,
    )


def _results(auditor: PipelineAuditor, check: str, region: str = REGION) -> list[tuple[str, Result]]:
    result = auditor.audit(ACCOUNT, region, source="scan-1", check_ids=[check])
    return [(o.resource, o.result) for o in result.outcomes]


def _auditor(client: Any, deployed: dict[str, Any], **settings: Any) -> PipelineAuditor:
    return PipelineAuditor(_collector(client, deployed, **settings), Auditor(collector=None))  # type: ignore[arg-type]


# --- trails ----------------------------------------------------------------------------------------------


def test_trail_missing_fails_then_passes_when_a_logging_trail_records_management_events(
    aws: dict[str, Any],
) -> None:
    client = aws["client"]
    auditor = _auditor(client, _deploy(client))
    assert _results(auditor, "pipeline_trail_missing") == [("region/us-east-1", Result.FAIL)]
    _trail(client)
    # Created but not logging yet.
    assert _results(auditor, "pipeline_trail_missing") == [("region/us-east-1", Result.FAIL)]
    client("cloudtrail").start_logging(Name="management")
    assert _results(auditor, "pipeline_trail_missing") == [("region/us-east-1", Result.PASS)]


def test_a_trail_of_another_region_covers_only_when_multi_region(aws: dict[str, Any]) -> None:
    client = aws["client"]
    auditor = _auditor(client, _deploy(client))
    _trail(client)
    client("cloudtrail").start_logging(Name="management")
    assert _results(auditor, "pipeline_trail_missing", "eu-west-1") == [("region/eu-west-1", Result.FAIL)]
    _trail(client, "everywhere", IsMultiRegionTrail=True)
    client("cloudtrail").start_logging(Name="everywhere")
    assert _results(auditor, "pipeline_trail_missing", "eu-west-1") == [("region/eu-west-1", Result.PASS)]


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        ({"EventSelectors": [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]}, Result.FAIL),
        ({"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]}, Result.PASS),
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}, Result.FAIL),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["false"]},
                        ]
                    }
                ]
            },
            Result.PASS,
        ),
        (
            {
                "AdvancedEventSelectors": [
                    {
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Data"]},
                            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                        ]
                    }
                ]
            },
            Result.FAIL,
        ),
    ],
    ids=["read-only", "write-only", "no-management", "advanced-write", "advanced-data-only"],
)
def test_event_selectors(aws: dict[str, Any], selectors: dict[str, Any], expected: Result) -> None:
    client = aws["client"]
    auditor = _auditor(client, _deploy(client))
    _trail(client)
    client("cloudtrail").start_logging(Name="management")
    client("cloudtrail").put_event_selectors(TrailName="management", **selectors)
    assert _results(auditor, "pipeline_trail_missing") == [("region/us-east-1", expected)]


def test_moto_default_selector_reads_as_all_management_events(aws: dict[str, Any]) -> None:
    client = aws["client"]
    _trail(client)
    client("cloudtrail").start_logging(Name="management")
    collector = _collector(client, _deploy(client))
    snapshot = collector.collect(ACCOUNT, REGION, None, now=datetime.now(UTC))
    assert snapshot.trails is not None
    assert [(t.name, t.logging, t.management_events) for t in snapshot.trails] == [
        ("management", True, ManagementEvents.ALL)
    ]


# --- rules ---------------------------------------------------------------------------------------------


def test_rule_disabled_deleted_altered_and_restored(aws: dict[str, Any]) -> None:
    client = aws["client"]
    deployed = _deploy(client)
    auditor = _auditor(client, deployed)
    events = client("events")

    def failing() -> list[str]:
        result = auditor.audit(ACCOUNT, REGION, source="scan-1", check_ids=["pipeline_rule_broken"])
        # One outcome per rule the template declares.
        assert len(result.outcomes) == len(expected_pipeline().rules)
        return sorted(o.evidence["rule"] for o in result.outcomes if o.result is Result.FAIL)

    assert failing() == []
    events.disable_rule(Name=deployed["rules"]["SpotRule"])
    assert failing() == ["SpotRule"]
    events.enable_rule(Name=deployed["rules"]["SpotRule"])
    events.put_rule(Name=deployed["rules"]["IamOidcRule"], EventPattern=json.dumps({"source": ["aws.iam"]}))
    assert failing() == ["IamOidcRule"]
    events.remove_targets(Rule=deployed["rules"]["Ec2ApiCallsRule"], Ids=["events-queue"])
    events.delete_rule(Name=deployed["rules"]["Ec2ApiCallsRule"])
    assert failing() == ["Ec2ApiCallsRule", "IamOidcRule"]


def test_rule_names_are_found_by_the_stack_prefix_when_not_configured(aws: dict[str, Any]) -> None:
    client = aws["client"]
    deployed = _deploy(client)
    auditor = _auditor(client, {**deployed, "rules": {}})
    assert {r for _, r in _results(auditor, "pipeline_rule_broken")} == {Result.PASS}
    client("events").disable_rule(Name=deployed["rules"]["EksApiCallsRule"])
    healthy = ["PASS"] * (len(expected_pipeline().rules) - 1)
    assert sorted(r.value for _, r in _results(auditor, "pipeline_rule_broken")) == ["FAIL", *healthy]


# --- queues --------------------------------------------------------------------------------------------


def test_backlog_dead_letter_messages_and_old_messages(aws: dict[str, Any]) -> None:
    client = aws["client"]
    deployed = _deploy(client)
    auditor = _auditor(client, deployed)
    assert {r for _, r in _results(auditor, "pipeline_backlog")} == {Result.PASS}
    client("sqs").send_message(QueueUrl=deployed["queues"]["EventsDLQ"], MessageBody="{}")
    failing = [
        (o.evidence["queue"], o.severity)
        for o in auditor.audit(ACCOUNT, REGION, source="scan-1", check_ids=["pipeline_backlog"]).outcomes
        if o.result is Result.FAIL
    ]
    assert [(q, s.value if s else None) for q, s in failing] == [("EventsDLQ", "HIGH")]
    client("cloudwatch").put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": "eks-auditor-AuditQueue-X1"}],
                "Timestamp": datetime.now(UTC) - timedelta(minutes=2),
                "Value": 7200.0,
                "Unit": "Seconds",
            }
        ],
    )
    failing = [
        (o.evidence["queue"], o.severity.value if o.severity else None)
        for o in auditor.audit(ACCOUNT, REGION, source="scan-2", check_ids=["pipeline_backlog"]).outcomes
        if o.result is Result.FAIL
    ]
    assert sorted(failing) == [("AuditQueue", "MEDIUM"), ("EventsDLQ", "HIGH")]


# --- heartbeat, store and schedule -----------------------------------------------------------------------


def test_silent_from_the_heartbeat_and_a_change_the_event_path_missed(aws: dict[str, Any]) -> None:
    client = aws["client"]
    dynamodb = client("dynamodb")
    create_table(dynamodb)
    heartbeats = HeartbeatStore(TABLE, client=dynamodb)
    store = FindingStore(TABLE, client=dynamodb)
    now = [datetime(2025, 6, 1, 0, 0, tzinfo=UTC)]
    collector = _collector(client, _deploy(client), heartbeats, quiet_period=timedelta(hours=24))
    auditor = PipelineAuditor(
        collector,
        Auditor(collector=None, store=store),
        scans=heartbeats,  # type: ignore[arg-type]
        clock=lambda: now[0],
    )

    def silent() -> Result:
        result = auditor.audit(
            ACCOUNT, REGION, source="scan-x", check_ids=["pipeline_silent"], scheduled=True
        )
        (outcome,) = result.outcomes
        return outcome.result

    assert silent() is Result.NOT_APPLICABLE  # the first scan starts the watch
    assert heartbeats.record_event(
        ACCOUNT, REGION, event_id="e1", event_name="CreateRoute", at=now[0] + timedelta(hours=1)
    )
    # An older event never moves the heartbeat back.
    assert not heartbeats.record_event(ACCOUNT, REGION, event_id="e0", event_name="CreateRoute", at=now[0])
    now[0] += timedelta(hours=6)
    assert silent() is Result.PASS
    now[0] += timedelta(hours=30)
    assert silent() is Result.FAIL
    assert [f.cluster for f in _open(store, "pipeline_silent")] == [ACCOUNT_REGION]
    assert heartbeats.record_event(ACCOUNT, REGION, event_id="e2", event_name="CreateRoute", at=now[0])
    now[0] += timedelta(hours=1)
    assert silent() is Result.PASS
    assert _open(store, "pipeline_silent") == []


def _open(store: FindingStore, check_id: str) -> list[Any]:
    from eks_auditor.store import FindingQuery

    return store.query(FindingQuery(check_id=check_id)).items


def test_pseudo_cluster_is_never_taken_for_a_deleted_cluster(aws: dict[str, Any]) -> None:
    client = aws["client"]
    dynamodb = client("dynamodb")
    create_table(dynamodb)
    store = FindingStore(TABLE, client=dynamodb)
    deployed = _deploy(client)
    client("events").disable_rule(Name=deployed["rules"]["SpotRule"])
    auditor = PipelineAuditor(_collector(client, deployed), Auditor(collector=None, store=store))  # type: ignore[arg-type]
    result = auditor.audit(ACCOUNT, REGION, source="scan-1", check_ids=["pipeline_rule_broken"])
    assert [c.kind for c in result.changes] == [ChangeKind.OPENED]
    assert result.changes[0].finding.cluster == ACCOUNT_REGION
    assert store.known_clusters(ACCOUNT, REGION) == []
    sqs = client("sqs")
    queue = sqs.create_queue(QueueName="audit")["QueueUrl"]
    fan_out_scan(
        account=ACCOUNT,
        regions=(REGION,),
        scan_id="scan-2",
        list_clusters=lambda region: [],
        known_clusters=store.known_clusters,
        sqs=sqs,
        queue_url=queue,
    )
    bodies = [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    # One pipeline audit for the region, and no "deleted" message for the pseudo-cluster.
    assert bodies == [{"account": ACCOUNT, "region": REGION, "cluster": ACCOUNT_REGION, "scan_id": "scan-2"}]


# --- CLI ---------------------------------------------------------------------------------------------------


def test_cli_scan_evaluates_a_pipeline_check_for_every_requested_region(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from eks_auditor_tools.cli.main import main

    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket="trail")
        session.client("cloudtrail").create_trail(Name="management", S3BucketName="trail")
        session.client("cloudtrail").start_logging(Name="management")
        code = main(
            [
                "scan",
                "--check",
                "pipeline_trail_missing",
                "--region",
                REGION,
                "--region",
                "eu-west-1",
                "--output",
                "json",
            ]
        )
    assert code == 0
    findings = json.loads(capsys.readouterr().out)
    # No cluster anywhere; the single-region trail covers us-east-1 only.
    assert [(f["check_id"], f["cluster"], f["resource"]) for f in findings] == [
        ("pipeline_trail_missing", ACCOUNT_REGION, "region/eu-west-1")
    ]


class _MissedHeartbeats:
    """The heartbeat store's answers for an account-region whose last event predates the previous scan,
    the scan having then opened a finding for a check the event path routes (UpdateClusterConfig)."""

    def __init__(self, previous_scan_at: datetime) -> None:
        from eks_auditor.model.pipeline import Heartbeat

        self.heartbeat = Heartbeat(
            last_event_at=previous_scan_at - timedelta(hours=2),
            last_event_name="CreateRoute",
            previous_scan_at=previous_scan_at,
            watch_started_at=previous_scan_at - timedelta(days=2),
        )

    def read(self, account: str, region: str) -> Any:
        return self.heartbeat

    def opened_by_schedule(self, account: str, region: str, since: datetime) -> list[Any]:
        from table import make_finding

        return [make_finding("endpoint_public_unrestricted", at=since + timedelta(minutes=5))]


# The shape of a LookupEvents answer as the CloudTrail API reference documents it (Events with EventId,
# EventName, ReadOnly, AccessKeyId, EventTime, EventSource, Username, Resources, CloudTrailEvent). It is
# written here after that reference, not recorded from a real account: moto does not implement
# LookupEvents and these tests reach no network.
LOOKUP_EVENTS_RESPONSE = {
    "Events": [
        {
            "EventId": "0f8b2c3e-5d1a-4e6f-9a7b-1c2d3e4f5a6b",
            "EventName": "UpdateClusterConfig",
            "ReadOnly": "false",
            "AccessKeyId": "ASIAQXAMPLEKEY000001",
            "EventTime": datetime(2025, 6, 1, 0, 20, tzinfo=UTC),
            "EventSource": "eks.amazonaws.com",
            "Username": "platform-admin",
            "Resources": [{"ResourceType": "AWS::EKS::Cluster", "ResourceName": "prod-a"}],
            "CloudTrailEvent": '{"eventVersion":"1.09","eventName":"UpdateClusterConfig"}',
        }
    ]
}


def _silent_with_cloudtrail(aws: dict[str, Any], answer: Any) -> Any:
    """pipeline_silent over the missed change, with LookupEvents answered by `answer(stubber)`."""
    from botocore.stub import ANY, Stubber

    previous = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
    cloudtrail = aws["client"]("cloudtrail")
    stub = Stubber(cloudtrail)
    answer(stub, ANY)

    def client(service: str, region: str | None = None) -> Any:
        return cloudtrail if service == "cloudtrail" else aws["client"](service, region)

    collector = PipelineCollector(
        client,
        PipelineSettings(home_region=REGION, quiet_period=timedelta(days=30)),
        heartbeats=_MissedHeartbeats(previous),
    )
    from eks_auditor.model.part import Part
    from eks_auditor.pipeline_audit import evaluate_region, select_region_checks

    with stub:
        snapshot = collector.collect(
            ACCOUNT, REGION, frozenset({Part.HEARTBEAT}), now=previous + timedelta(hours=1)
        )
        stub.assert_no_pending_responses()
    (outcome,) = evaluate_region(snapshot, select_region_checks(["pipeline_silent"]))
    return outcome


def test_silent_carries_what_cloudtrail_recorded_of_the_missed_calls(aws: dict[str, Any]) -> None:
    def answer(stub: Any, anything: Any) -> None:
        stub.add_response(
            "lookup_events",
            LOOKUP_EVENTS_RESPONSE,
            {
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "UpdateClusterConfig"}],
                "StartTime": datetime(2025, 6, 1, 0, 0, tzinfo=UTC),
                "MaxResults": anything,
            },
        )

    outcome = _silent_with_cloudtrail(aws, answer)
    assert outcome.result is Result.FAIL
    assert outcome.evidence["cloudtrail_recorded"] == [
        {
            "event_name": "UpdateClusterConfig",
            "event_time": "2025-06-01T00:20:00+00:00",
            "event_id": "0f8b2c3e-5d1a-4e6f-9a7b-1c2d3e4f5a6b",
        }
    ]
    assert any("CloudTrail recorded 1 such call" in reason for reason in outcome.evidence["reasons"])


def test_a_failed_lookup_is_evidence_only_and_never_changes_the_verdict(aws: dict[str, Any]) -> None:
    def answer(stub: Any, anything: Any) -> None:
        stub.add_client_error("lookup_events", "ThrottlingException", "Rate exceeded", http_status_code=400)

    outcome = _silent_with_cloudtrail(aws, answer)
    assert outcome.result is Result.FAIL
    assert "cloudtrail_recorded" not in outcome.evidence
    assert "ThrottlingException" in outcome.evidence["cloudtrail_lookup_error"]
