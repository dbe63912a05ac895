"""entrypoints: what each Lambda does with one unit of input (parse, route, fan out, summarize)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from eks_auditor.audit import AuditResult
from eks_auditor.concurrency import Limiter
from eks_auditor.entrypoints import (
    audit_cloudtrail_event,
    audit_queued_batch,
    audit_queued_cluster,
    fan_out_scan,
    parse_queued_cluster,
    summarize,
)
from eks_auditor.model.finding import ChangeKind, StateChange
from eks_auditor.triggers import AuditRequest, InvalidEvent
from table import ACCOUNT, REGION, make_evaluation, make_finding

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


class FakeDispatcher:
    """Records the requests it is handed; answers each with one empty audit of its cluster."""

    def __init__(self) -> None:
        self.requests: list[AuditRequest] = []

    def handle(self, request: AuditRequest) -> list[AuditResult]:
        self.requests.append(request)
        return [
            AuditResult(region=request.region, cluster=request.cluster or "?", deleted=request.delete_cluster)
        ]


# --- parse_queued_cluster ----------------------------------------------------------------------------


def test_parse_queued_cluster() -> None:
    body = json.dumps({"account": ACCOUNT, "region": REGION, "cluster": "prod-a", "scan_id": "scan-1"})
    assert parse_queued_cluster(body) == AuditRequest(
        source="scan-1", event_name="ScheduledScan", account=ACCOUNT, region=REGION, cluster="prod-a"
    )


def test_parse_queued_deleted_cluster() -> None:
    body = {"account": ACCOUNT, "region": REGION, "cluster": "old", "scan_id": "scan-1", "deleted": True}
    request = parse_queued_cluster(json.dumps(body))
    assert (request.cluster, request.delete_cluster, request.check_ids) == ("old", True, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "audit message is not JSON: Expecting value: line 1 column 1 (char 0)"),
        ('{"cluster": ', "audit message is not JSON: Expecting value: line 1 column 13 (char 12)"),
        ('["prod-a"]', "audit message is not a JSON object"),
        ("null", "audit message is not a JSON object"),
        ('{"cluster": "prod-a"}', "audit message lacks account, region, scan_id"),
        (
            json.dumps({"account": ACCOUNT, "region": REGION, "cluster": "", "scan_id": "s"}),
            "audit message lacks cluster",
        ),
    ],
)
def test_parse_queued_cluster_rejects_malformed_bodies(body: str, message: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        parse_queued_cluster(body)
    assert str(raised.value) == message


def test_audit_queued_cluster_hands_the_request_to_the_dispatcher() -> None:
    dispatcher = FakeDispatcher()
    body = json.dumps({"account": ACCOUNT, "region": REGION, "cluster": "prod-a", "scan_id": "scan-7"})
    summary = audit_queued_cluster(body, dispatcher)  # type: ignore[arg-type]
    assert summary == {
        "audits": [{"region": REGION, "cluster": "prod-a", "deleted": False, "failing": 0, "changes": []}]
    }
    assert [r.source for r in dispatcher.requests] == ["scan-7"]


class FakePipelineAuditor:
    """Runtime.pipeline_auditor's stand-in: region -> an auditor of that account-region's pipeline."""

    def __init__(self) -> None:
        self.audits: list[tuple[str, str, str, bool]] = []

    def __call__(self, region: str, account: str | None = None) -> FakePipelineAuditor:
        return self

    def audit(self, account: str, region: str, *, source: str, scheduled: bool) -> AuditResult:
        self.audits.append((account, region, source, scheduled))
        return AuditResult(region=region, cluster="-")


def test_the_worker_batch_audits_clusters_and_the_pipeline_of_the_pseudo_cluster() -> None:
    dispatcher, pipeline = FakeDispatcher(), FakePipelineAuditor()
    messages = [
        (
            "m-west",
            json.dumps({"account": ACCOUNT, "region": "eu-west-1", "cluster": "-", "scan_id": "scan-8"}),
        ),
        ("m-a", json.dumps({"account": ACCOUNT, "region": REGION, "cluster": "prod-a", "scan_id": "scan-8"})),
        ("m-east", json.dumps({"account": ACCOUNT, "region": REGION, "cluster": "-", "scan_id": "scan-8"})),
        ("m-bad", "not json"),
    ]
    outcomes = audit_queued_batch(messages, dispatcher, Limiter(4, 2), pipeline)  # type: ignore[arg-type]

    assert {m: o.value["audits"][0]["cluster"] for m, o in outcomes.items() if o.value} == {
        "m-west": "-",
        "m-a": "prod-a",
        "m-east": "-",
    }
    assert isinstance(outcomes["m-bad"].error, InvalidEvent)
    # The pseudo-cluster never reaches the cluster dispatcher; each region's pipeline is audited once.
    assert [r.cluster for r in dispatcher.requests] == ["prod-a"]
    assert sorted(pipeline.audits) == [
        (ACCOUNT, "eu-west-1", "scan-8", True),
        (ACCOUNT, REGION, "scan-8", True),
    ]


def test_a_pipeline_message_without_a_pipeline_auditor_fails_alone() -> None:
    dispatcher = FakeDispatcher()
    messages = [
        ("m-pipe", json.dumps({"account": ACCOUNT, "region": REGION, "cluster": "-", "scan_id": "scan-9"})),
        ("m-a", json.dumps({"account": ACCOUNT, "region": REGION, "cluster": "prod-a", "scan_id": "scan-9"})),
    ]
    outcomes = audit_queued_batch(messages, dispatcher, Limiter(1, 1))  # type: ignore[arg-type]
    assert isinstance(outcomes["m-pipe"].error, InvalidEvent)
    assert outcomes["m-a"].value is not None
    assert [r.cluster for r in dispatcher.requests] == ["prod-a"]


# --- audit_cloudtrail_event --------------------------------------------------------------------------


def test_cloudtrail_event_is_routed_to_the_dispatcher() -> None:
    dispatcher = FakeDispatcher()
    summary = audit_cloudtrail_event(sample("eks-delete-cluster.json"), dispatcher)  # type: ignore[arg-type]
    assert [(r.cluster, r.delete_cluster) for r in dispatcher.requests] == [("demo-retired", True)]
    assert summary == {
        "audits": [
            {"region": REGION, "cluster": "demo-retired", "deleted": True, "failing": 0, "changes": []}
        ]
    }


def test_failed_call_is_skipped_without_auditing() -> None:
    dispatcher = FakeDispatcher()
    summary = audit_cloudtrail_event(sample("eks-update-cluster-config-error.json"), dispatcher)  # type: ignore[arg-type]
    assert summary == {"skipped": "errorCode", "audits": []}
    assert dispatcher.requests == []


def test_invalid_event_raises_before_anything_is_audited() -> None:
    dispatcher = FakeDispatcher()
    with pytest.raises(InvalidEvent, match="EKS call DescribeCluster is not one we audit for"):
        audit_cloudtrail_event(sample("negative-eks-describe-cluster.json"), dispatcher)  # type: ignore[arg-type]
    assert dispatcher.requests == []


# --- summarize ---------------------------------------------------------------------------------------


def test_summary_is_json_and_names_each_change() -> None:
    finding = make_finding()
    evaluation = make_evaluation([finding])
    change = StateChange(
        change_id="c-1",
        kind=ChangeKind.OPENED,
        finding=evaluation.failing[0],
        changed_at=datetime(2025, 3, 1, tzinfo=UTC),
    )
    result = AuditResult(region=REGION, cluster="prod-a", evaluation=evaluation, changes=[change])
    summary = summarize([result])
    assert json.loads(json.dumps(summary)) == {
        "audits": [
            {
                "region": REGION,
                "cluster": "prod-a",
                "deleted": False,
                "failing": 1,
                "changes": [{"kind": "OPENED", "check_id": finding.check_id, "finding": finding.id}],
            }
        ]
    }


# --- fan_out_scan ------------------------------------------------------------------------------------


@pytest.fixture
def sqs(aws: None) -> tuple[Any, str]:
    client = boto3.client("sqs", region_name=REGION)
    return client, client.create_queue(QueueName="AuditQueue")["QueueUrl"]


def drain(client: Any, url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in batch]
        client.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return bodies


def test_fan_out_sends_one_message_per_cluster_in_batches_of_ten(sqs: tuple[Any, str]) -> None:
    client, url = sqs
    clusters = {
        "us-east-1": [f"east-{i:02}" for i in range(12)],
        "eu-west-1": ["west-a"],
    }
    sent: list[int] = []
    client.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch", lambda params, **_: sent.append(len(params["Entries"]))
    )
    result = fan_out_scan(
        account=ACCOUNT,
        regions=("us-east-1", "eu-west-1"),
        scan_id="scan-42",
        list_clusters=lambda region: clusters[region],
        known_clusters=lambda account, region: ["east-03", "retired"] if region == "us-east-1" else [],
        sqs=client,
        queue_url=url,
    )
    # 14 cluster messages and one pipeline audit ("-") per region.
    assert result == {"scan_id": "scan-42", "enqueued": 16, "regions": ["us-east-1", "eu-west-1"]}
    assert sent == [10, 6]
    bodies = sorted(drain(client, url), key=lambda b: (b["region"], b["cluster"]))
    expected = [
        # One pipeline audit per region, the pseudo-cluster "-".
        {"account": ACCOUNT, "region": "eu-west-1", "cluster": "-", "scan_id": "scan-42"},
        {"account": ACCOUNT, "region": "eu-west-1", "cluster": "west-a", "scan_id": "scan-42"},
        {"account": ACCOUNT, "region": "us-east-1", "cluster": "-", "scan_id": "scan-42"},
        *(
            {"account": ACCOUNT, "region": "us-east-1", "cluster": c, "scan_id": "scan-42"}
            for c in clusters["us-east-1"]
        ),
        # Known to the table but no longer listed: deleted while no event reached us.
        {
            "account": ACCOUNT,
            "region": "us-east-1",
            "cluster": "retired",
            "scan_id": "scan-42",
            "deleted": True,
        },
    ]
    assert bodies == sorted(expected, key=lambda b: (b["region"], b["cluster"]))
    for body in bodies:
        request = parse_queued_cluster(json.dumps(body))
        assert request.delete_cluster is (body["cluster"] == "retired")


def test_fan_out_without_clusters_sends_only_the_pipeline_audit(sqs: tuple[Any, str]) -> None:
    client, url = sqs
    result = fan_out_scan(
        account=ACCOUNT,
        regions=(REGION,),
        scan_id="scan-0",
        list_clusters=lambda region: [],
        known_clusters=lambda account, region: [],
        sqs=client,
        queue_url=url,
    )
    assert result["enqueued"] == 1
    assert [body["cluster"] for body in drain(client, url)] == ["-"]


def test_fan_out_raises_when_some_messages_were_not_enqueued() -> None:
    client = boto3.client("sqs", region_name=REGION)
    url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/AuditQueue"
    with Stubber(client) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "m-0", "MD5OfMessageBody": "x"}],
                "Failed": [
                    {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "try again"}
                ],
            },
        )
        with pytest.raises(RuntimeError, match=r"could not enqueue 1 audit\(s\): b: try again"):
            fan_out_scan(
                account=ACCOUNT,
                regions=(REGION,),
                scan_id="scan-1",
                list_clusters=lambda region: ["a", "b"],
                known_clusters=lambda account, region: [],
                sqs=client,
                queue_url=url,
            )
        stub.assert_no_pending_responses()
