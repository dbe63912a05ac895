"""The `controls` message attribute (String.Array): a subscription filters on one compliance control."""

from __future__ import annotations

import json

from accounts import Topic, drain
from eks_auditor.model.check import Severity
from eks_auditor.notify import MAX_ATTRIBUTES, Notifier
from eks_auditor.publish import Publisher
from eks_auditor.store import FindingStore
from table import make_evaluation, make_finding

PUBLIC = make_finding("endpoint_public_access_enabled", "cluster", severity=Severity.LOW)
ENDPOINTS = make_finding("vpc_endpoint_missing", "subnet-1/ecr.api", severity=Severity.CRITICAL)


def test_a_subscription_filters_on_one_control(topic: Topic, store: FindingStore) -> None:
    publisher = Publisher(store, Notifier(topic.arn, client=topic.sns, baseline=False))
    everything = topic.subscribe("everything")
    eks1 = topic.subscribe("eks1", {"controls": ["fsbp:EKS.1"]})
    checks = ("endpoint_public_access_enabled", "vpc_endpoint_missing")

    publisher.publish(store.apply_evaluation(make_evaluation([PUBLIC, ENDPOINTS], checks_run=checks)))

    sent = {
        e["MessageAttributes"]["check_id"]["Value"]: e["MessageAttributes"]
        for e in drain(topic.sqs, everything)
    }
    assert sent["endpoint_public_access_enabled"]["controls"] == {
        "Type": "String.Array",
        "Value": json.dumps(["cis-eks-1.7:5.4.2", "fsbp:EKS.1"]),
    }
    assert "controls" not in sent["vpc_endpoint_missing"]  # it evidences no control
    assert all(len(attributes) <= MAX_ATTRIBUTES for attributes in sent.values())
    received = [e["MessageAttributes"]["check_id"]["Value"] for e in drain(topic.sqs, eks1)]
    assert received == ["endpoint_public_access_enabled"]
