"""A worker batch describes the instance types of all its clusters in one call (issue #3's target)."""

from __future__ import annotations

import json

from eks_auditor.collect import instance_types

from eks_auditor_tools.demo import run as demo_run
from eks_auditor_tools.demo.fleet import ACCOUNT, REGION
from eks_auditor_tools.demo.lambdas import invoke, sqs_event


def test_one_describe_instance_types_for_a_batch_of_clusters() -> None:
    with demo_run.embedded_account() as (_session, fleet, account):
        instance_types.clear_cache()
        messages = [
            {
                "MessageId": f"m{i}",
                "ReceiptHandle": f"r{i}",
                "Body": json.dumps(
                    {"account": ACCOUNT, "region": REGION, "cluster": name, "scan_id": "scan-t"}
                ),
            }
            for i, name in enumerate(fleet.clusters)
        ]
        # A malformed message in the batch is skipped by the prefetch and fails on its own.
        messages.append({"MessageId": "bad", "ReceiptHandle": "rb", "Body": "{not json"})
        response = invoke(
            "cluster_worker",
            sqs_event(messages, account.queue_arn("AuditQueue")),
            account=ACCOUNT,
            region=REGION,
        )
        assert response["batchItemFailures"] == [{"itemIdentifier": "bad"}]
        # Four distinct types across five clusters: ceil(4 / 100) = 1 call.
        assert instance_types.api_calls() == 1
