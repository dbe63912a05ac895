"""Deploy what template.yaml declares into the embedded account: tables, topic, queues, rules.

Rules and their targets are read from template.yaml itself, so the demo routes events exactly as
the deployed EventBridge rules would (moto evaluates the patterns on put_events).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eks_auditor import notify

from eks_auditor_tools.demo.paths import repo_root
from eks_auditor_tools.patterns import load_rules

# A Slack channel (through AWS Chatbot) takes what the template's Chatbot subscription takes (no first-run
# baseline openings, no changes deferred to a daily digest); a security queue takes everything.
SLACK_FILTER_POLICY = notify.SLACK_FILTER_POLICY


@dataclass
class DemoAccount:
    session: Any
    region: str
    account: str
    findings_table: str = "eks-auditor-findings"
    idempotency_table: str = "eks-auditor-idempotency"
    topic_arn: str = ""
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> URL
    slack_queue: str = ""
    security_queue: str = ""
    rules: dict[str, str] = field(default_factory=dict)  # logical id -> deployed name
    trail_arn: str = ""

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region)

    def queue_arn(self, logical_id: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{logical_id}"

    def environment(self) -> dict[str, str]:
        """The functions' environment, as the template's Globals set it."""
        return {
            "FINDINGS_TABLE": self.findings_table,
            "IDEMPOTENCY_TABLE": self.idempotency_table,
            "TOPIC_ARN": self.topic_arn,
            "AUDIT_QUEUE_URL": self.queues["AuditQueue"],
            "AUDIT_REGIONS": self.region,
            "POWERTOOLS_SERVICE_NAME": "eks-auditor",
            "POWERTOOLS_METRICS_NAMESPACE": "EksAuditor",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "SPOT_NOTICE_TTL_DAYS": "7",
            "SPOT_BURST_THRESHOLD": "3",
            "SPOT_BURST_WINDOW_MINUTES": "15",
            "SECURITY_HUB_ENABLED": "true",
            # The pipeline_* checks read the rules and queues back, as the template's Globals name them.
            "PIPELINE_RULES": ",".join(f"{logical}={name}" for logical, name in self.rules.items()),
            "PIPELINE_QUEUES": ",".join(f"{logical}={url}" for logical, url in self.queues.items()),
        }

    def put_event(self, event: dict[str, Any]) -> str:
        """Send an event through EventBridge; the template's rules route it to their queues."""
        entry: dict[str, Any] = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": list(event.get("resources") or []),
        }
        if event.get("time"):
            entry["Time"] = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        response = self.client("events").put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"put_events failed: {response['Entries']}")
        return str(response["Entries"][0]["EventId"])

    def receive(self, logical_id_or_url: str, *, max_messages: int = 10) -> list[dict[str, Any]]:
        url = self.queues.get(logical_id_or_url, logical_id_or_url)
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=min(10, max_messages - len(messages)), WaitTimeSeconds=0
            ).get("Messages", [])
            messages.extend(self._as_delivered(m) for m in batch)
            if not batch or len(messages) >= max_messages:
                return messages

    def _as_delivered(self, message: dict[str, Any]) -> dict[str, Any]:
        # moto's EventBridge drops the envelope's "account" when it delivers to SQS; the real
        # service always sets it. Put it back so the handlers see what they would in AWS.
        try:
            body = json.loads(message["Body"])
        except json.JSONDecodeError:
            return message
        if isinstance(body, dict) and "detail-type" in body and "account" not in body:
            body["account"] = self.account
            return {**message, "Body": json.dumps(body)}
        return message

    def delete(self, logical_id_or_url: str, messages: list[dict[str, Any]]) -> None:
        url = self.queues.get(logical_id_or_url, logical_id_or_url)
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages[start : start + 10])
            ]
            self.client("sqs").delete_message_batch(QueueUrl=url, Entries=entries)

    def slack_messages(self, url: str | None = None) -> list[dict[str, Any]]:
        """What a subscriber received: the Chatbot notification and its message attributes."""
        messages = self.receive(url or self.slack_queue, max_messages=1000)
        self.delete(url or self.slack_queue, messages)
        received = []
        for message in messages:
            envelope = json.loads(message["Body"])
            attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            received.append({"notification": json.loads(envelope["Message"]), "attributes": attributes})
        return received


def deploy(session: Any, region: str, account: str) -> DemoAccount:
    from eks_auditor.store.schema import TABLE_DEFINITION

    demo = DemoAccount(session=session, region=region, account=account)
    dynamodb = demo.client("dynamodb")
    dynamodb.create_table(TableName=demo.findings_table, **TABLE_DEFINITION)
    dynamodb.create_table(
        TableName=demo.idempotency_table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    demo.client("securityhub").enable_security_hub()
    sns = demo.client("sns")
    demo.topic_arn = sns.create_topic(Name="eks-auditor-findings")["TopicArn"]
    sqs = demo.client("sqs")
    for logical_id in ("EventsQueue", "AuditQueue", "SpotQueue", "TargetsDLQ"):
        demo.queues[logical_id] = sqs.create_queue(QueueName=logical_id)["QueueUrl"]
    demo.slack_queue = _subscribed_queue(demo, "slack-channel", SLACK_FILTER_POLICY)
    demo.security_queue = _subscribed_queue(demo, "security-team", None)

    events = demo.client("events")
    for name, rule in load_rules(repo_root() / "template.yaml").items():
        events.put_rule(Name=name, EventPattern=json.dumps(rule.pattern), State="ENABLED")
        demo.rules[name] = name
        targets = []
        for target in rule.targets:
            if target.resource not in demo.queues:
                demo.queues[str(target.resource)] = sqs.create_queue(QueueName=str(target.resource))[
                    "QueueUrl"
                ]
            entry: dict[str, Any] = {
                "Id": target.id or str(target.resource),
                "Arn": demo.queue_arn(str(target.resource)),
            }
            if target.dead_letter_resource:
                entry["DeadLetterConfig"] = {"Arn": demo.queue_arn(target.dead_letter_resource)}
            targets.append(entry)
        events.put_targets(Rule=name, Targets=targets)
    demo.trail_arn = _management_trail(demo)
    return demo


def _management_trail(demo: DemoAccount) -> str:
    """A multi-region trail, logging, with its default selector (all management events): the account's
    API calls reach EventBridge, so pipeline_trail_missing passes."""
    bucket = f"cloudtrail-{demo.account}"
    location = (
        {}
        if demo.region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": demo.region}}
    )
    demo.client("s3").create_bucket(Bucket=bucket, **location)
    cloudtrail = demo.client("cloudtrail")
    trail = cloudtrail.create_trail(Name="management", S3BucketName=bucket, IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name="management")
    return str(trail["TrailARN"])


def _subscribed_queue(demo: DemoAccount, name: str, filter_policy: dict[str, Any] | None) -> str:
    sqs = demo.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
    demo.client("sns").subscribe(
        TopicArn=demo.topic_arn, Protocol="sqs", Endpoint=demo.queue_arn(name), Attributes=attributes
    )
    return str(url)
