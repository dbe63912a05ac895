"""The typed SQS bodies: one place decides what a malformed message is (eks_auditor.model.events)."""

from __future__ import annotations

import json

import pytest
from eks_auditor.model.events import (
    ClusterAuditMessage,
    MalformedMessage,
    parse_cloudtrail_event,
    parse_cluster_audit_message,
)

GOOD = {"account": "123456789012", "region": "eu-west-1", "cluster": "prod", "scan_id": "scan-1"}


def test_a_fan_out_message_is_typed() -> None:
    assert parse_cluster_audit_message(json.dumps({**GOOD, "deleted": True})) == ClusterAuditMessage(
        account="123456789012", region="eu-west-1", cluster="prod", scan_id="scan-1", deleted=True
    )


def test_the_pipeline_pseudo_cluster_is_a_valid_fan_out_target() -> None:
    # cluster "-" asks the worker to audit the account-region's pipeline (model.pipeline.ACCOUNT_REGION).
    assert parse_cluster_audit_message(json.dumps({**GOOD, "cluster": "-"})).cluster == "-"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"deleted": "false"}, "audit message is malformed: deleted: Input should be a valid boolean"),
        ({"deleted": 0}, "audit message is malformed: deleted: Input should be a valid boolean"),
        ({"region": "eu-west-1 "}, "audit message is malformed: region: String should match pattern"),
        ({"account": "12345"}, "audit message is malformed: account: String should match pattern"),
        ({"cluster": "", "scan_id": None}, "audit message lacks cluster, scan_id"),
        ({"cluster": "--"}, "audit message is malformed: cluster: String should match pattern"),
        ({"cluster": "-prod"}, "audit message is malformed: cluster: String should match pattern"),
    ],
)
def test_malformed_fan_out_messages_are_rejected(patch: dict[str, object], message: str) -> None:
    with pytest.raises(MalformedMessage) as raised:
        parse_cluster_audit_message(json.dumps({**GOOD, **patch}))
    assert str(raised.value).startswith(message)


def test_deeply_nested_json_is_a_malformed_message_not_a_crash() -> None:
    with pytest.raises(MalformedMessage, match="not JSON"):
        parse_cluster_audit_message("[" * 100_000 + "]" * 100_000)


def test_cloudtrail_envelope_is_an_eventbridge_event_with_a_detail_object() -> None:
    # Powertools' EventBridgeModel: version, time and resources are part of every EventBridge event.
    event = {
        "version": "0",
        "id": "e1",
        "source": "aws.eks",
        "detail-type": "AWS API Call via CloudTrail",
        "time": "2026-11-28T04:00:00Z",
        "resources": [],
    }
    with pytest.raises(MalformedMessage, match="detail: Field required"):
        parse_cloudtrail_event(json.dumps({**event, "account": "123456789012", "region": "us-east-1"}))
    good = {**event, "account": "123456789012", "region": "us-east-1", "detail": {"eventName": "X"}}
    assert parse_cloudtrail_event(json.dumps(good)) == good
    for field in ("version", "time", "resources"):
        with pytest.raises(MalformedMessage, match=f"{field}: Field required"):
            parse_cloudtrail_event(json.dumps({k: v for k, v in good.items() if k != field}))
    with pytest.raises(MalformedMessage, match="region"):
        parse_cloudtrail_event(json.dumps({**good, "region": "us-east-1 "}))
