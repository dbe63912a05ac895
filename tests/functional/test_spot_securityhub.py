"""With EnableSecurityHub, a spot notice reaches Security Hub too (the embedded account enables it)."""

from __future__ import annotations

import json

from eks_auditor_tools.demo import run as demo_run
from eks_auditor_tools.demo.fleet import ACCOUNT, REGION
from eks_auditor_tools.demo.lambdas import invoke, sqs_event
from eks_auditor_tools.demo.paths import repo_root


def test_spot_notice_is_imported_into_security_hub() -> None:
    with demo_run.embedded_account() as (_session, fleet, account):
        event = json.loads((repo_root() / "events" / "spot-interruption-warning.json").read_text())
        event["detail"]["instance-id"] = fleet.instances["spot-0"]
        message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": json.dumps(event)}
        response = invoke(
            "spot_events",
            sqs_event([message], account.queue_arn("SpotQueue")),
            account=ACCOUNT,
            region=REGION,
        )
        assert response == {"batchItemFailures": []}
        findings = account.client("securityhub").get_findings(MaxResults=100)["Findings"]
        spot = [f for f in findings if f["GeneratorId"] == "eks-auditor/spot_interruption_notice"]
        assert len(spot) == 1
        assert spot[0]["Resources"][0]["Id"] == fleet.clusters["batch"]
