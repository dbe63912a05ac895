"""The demo narrative: a scheduled scan, risky changes arriving as events, a fix, a quiet re-scan,
spot interruptions, bad input — all through the real handlers against an embedded moto account."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from eks_auditor_tools.demo.account import DemoAccount, deploy
from eks_auditor_tools.demo.api_events import http_api_event
from eks_auditor_tools.demo.fleet import ACCOUNT, REGION, Fleet, build_fleet
from eks_auditor_tools.demo.kubernetes import serve_clusters
from eks_auditor_tools.demo.lambdas import LogSink, forget_handlers, invoke, sqs_event
from eks_auditor_tools.demo.paths import repo_root

# Which function consumes which queue, as the template's SQS event sources say.
CONSUMERS = {"EventsQueue": "event_audit", "AuditQueue": "cluster_worker", "SpotQueue": "spot_events"}


@contextmanager
def serialized_moto() -> Iterator[None]:
    """One request at a time into moto's in-process backends, as a real service behaves to concurrent
    callers: moto's backends are not thread-safe (DynamoDB's TransactWriteItems deep-copies a table
    another thread is writing), and the handlers audit a batch's clusters in threads.
    """
    from moto.core.models import botocore_stubber

    original = botocore_stubber.process_request
    lock = threading.Lock()

    def process_request(request: Any) -> Any:
        with lock:
            return original(request)

    botocore_stubber.process_request = process_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore_stubber.process_request = original  # type: ignore[method-assign]


@contextmanager
def embedded_account() -> Iterator[tuple[Any, Fleet, DemoAccount]]:
    """moto in-process, the fleet built, the template's resources deployed, the env set."""
    import boto3
    from moto import mock_aws

    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    try:
        with mock_aws(), serialized_moto():
            session = boto3.Session(region_name=REGION)
            fleet = build_fleet(session, REGION)
            account = deploy(session, REGION, ACCOUNT)
            os.environ.update(account.environment())
            forget_handlers()
            with tempfile.TemporaryDirectory() as tls_dir, serve_clusters(fleet, Path(tls_dir)):
                yield session, fleet, account
    finally:
        forget_handlers()
        os.environ.clear()
        os.environ.update(saved)


class Demo:
    def __init__(self, session: Any, fleet: Fleet, account: DemoAccount, out: TextIO, logs: LogSink) -> None:
        self.session = session
        self.fleet = fleet
        self.account = account
        self.out = out
        self.logs = logs

    # --- plumbing -----------------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def section(self, title: str) -> None:
        self.say()
        self.say(f"== {title} " + "=" * max(0, 96 - len(title)))

    def drain(self, queue: str) -> dict[str, int]:
        """Deliver a queue's messages to its function in batches of 10, as the event source mapping does."""
        function = CONSUMERS[queue]
        delivered = failed = 0
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        while messages := self.account.receive(queue, max_messages=10):
            try:
                response = invoke(
                    function,
                    sqs_event(messages, self.account.queue_arn(queue)),
                    account=ACCOUNT,
                    region=REGION,
                    logs=self.logs,
                )
            except BatchProcessingError:
                # Every record failed: Powertools raises so that Lambda retries the whole batch.
                response = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages]}
            failures = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failures]
            self.account.delete(queue, done)
            delivered += len(done)
            failed += len(failures)
            if failures:
                # Left on the queue: after maxReceiveCount the redrive policy moves them to the DLQ.
                self._park(queue, [m for m in messages if m["MessageId"] in failures])
        return {"delivered": delivered, "failed": failed}

    def _park(self, queue: str, messages: list[dict[str, Any]]) -> None:
        dlq = self.account.queues.setdefault(
            f"{queue}DLQ",
            self.account.client("sqs").create_queue(QueueName=f"{queue.removesuffix('Queue')}DLQ")[
                "QueueUrl"
            ],
        )
        for message in messages:
            self.account.client("sqs").send_message(QueueUrl=dlq, MessageBody=message["Body"])
        self.account.delete(queue, messages)

    def sample(self, name: str, replacements: dict[str, str] | None = None) -> dict[str, Any]:
        text = (repo_root() / "events" / name).read_text(encoding="utf-8")
        for old, new in (replacements or {}).items():
            text = text.replace(old, new)
        event: dict[str, Any] = json.loads(text)
        event["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(event.get("detail"), dict) and "eventTime" in event["detail"]:
            event["detail"]["eventTime"] = event["time"]
        return event

    def route(self, event: dict[str, Any]) -> list[str]:
        """put_events through the template's rules; returns the queues that received it."""
        before = {q: self._depth(q) for q in CONSUMERS}
        self.account.put_event(event)
        return [q for q in CONSUMERS if self._depth(q) > before[q]]

    def _depth(self, queue: str) -> int:
        attributes = self.account.client("sqs").get_queue_attributes(
            QueueUrl=self.account.queues[queue], AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def show_alerts(
        self,
        title: str = "Slack (#eks-alerts: changes, one first-scan digest per cluster, by the filter policy)",
        *,
        everything: bool = False,
    ) -> int:
        slack = self.account.slack_messages()
        received = self.account.slack_messages(self.account.security_queue)
        self.say(f"{title}: {len(slack)} message(s); security-team queue (everything): {len(received)}")
        for message in received if everything else slack:
            content = message["notification"]["content"]
            self.say(f"  > {content['title']}")
            steps = content.get("nextSteps") or []
            if steps:
                self.say(f"      next: {steps[0][:110]}")
        return len(received)

    def store(self) -> Any:
        from eks_auditor.store import FindingStore

        return FindingStore(self.account.findings_table, client=self.account.client("dynamodb"))

    def show_ip_headroom(self) -> None:
        """The pod-IP forecast behind the exhaustion findings: what the on-call engineer reads."""
        for finding in _open_findings(self.store()):
            if finding.check_id != "ip_capacity_exhaustion_risk":
                continue
            e = finding.evidence
            self.say(
                f"IP headroom {finding.cluster} {e['subnet_id']} ({e['cidr']}): {e['free_ips']} free, "
                f"{e['ips_needed_at_max']} needed at max, {e['nodes_that_still_fit']} more node(s) fit"
            )

    def show_open_findings(self) -> None:
        from eks_auditor_tools.cli.output import findings_table

        findings = _open_findings(self.store())
        self.say(findings_table(findings))
        counts: dict[str, int] = {}
        for finding in findings:
            counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
        self.say(f"open findings: {len(findings)} " + json.dumps(counts))


def _open_findings(store: Any) -> list[Any]:
    from eks_auditor.model.finding import Status
    from eks_auditor.store import FindingQuery

    findings, token = [], None
    while True:
        page = store.query(FindingQuery(status=Status.OPEN, limit=100, next_token=token))
        findings.extend(page.items)
        token = page.next_token
        if not token:
            return findings


def run(
    out: TextIO,
    steps: list[Callable[[Demo], None]] | None = None,
    keep: Callable[[Any], str] | None = None,
) -> int:
    """`keep`, when given, receives the findings table's client before the embedded account goes."""
    started = time.perf_counter()
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    log_path = Path(tempfile.gettempdir()) / "eks-auditor-demo.log"
    log_path.write_text("", encoding="utf-8")
    with embedded_account() as (session, fleet, account):
        demo = Demo(session, fleet, account, out, LogSink(log_path))
        demo.say("eks-auditor demo: the real Lambda handlers against an embedded (moto) AWS account")
        demo.say(f"account {ACCOUNT}, region {REGION}; clusters: {', '.join(fleet.clusters)}")
        demo.say(f"EventBridge rules from template.yaml: {', '.join(sorted(_rule_names(account)))}")
        for step in steps or STEPS:
            step(demo)
        errors = demo.logs.error_summary()
        if keep is not None:
            demo.say(f"\nfindings copied to the local endpoint at {keep(account.client('dynamodb'))}")
    demo.say()
    demo.say(f"done in {time.perf_counter() - started:.1f}s; Lambda logs (JSON) in {log_path} ({errors})")
    return 0


def _rule_names(account: DemoAccount) -> list[str]:
    return [r["Name"] for r in account.client("events").list_rules()["Rules"]]


# --- the story ------------------------------------------------------------------------------------


def scheduled_scan(demo: Demo) -> None:
    demo.section("1. The schedule fires: a message per cluster, one for the pipeline, audited by the worker")
    result = invoke("schedule", demo.sample("scheduled.json"), account=ACCOUNT, region=REGION, logs=demo.logs)
    demo.say(f"fan-out: {json.dumps(result)}")
    demo.say(f"worker: {json.dumps(demo.drain('AuditQueue'))}")
    demo.show_open_findings()
    demo.show_alerts()
    demo.show_ip_headroom()


def risky_change(demo: Demo) -> None:
    demo.section("2. Someone deletes the ecr.dkr endpoint of the payments VPC (CloudTrail -> EventBridge)")
    endpoint = demo.fleet.endpoints["ecr.dkr"]
    demo.account.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    event = demo.sample(
        "ec2-delete-vpc-endpoints.json",
        {"vpce-0a11b22c33d44e55f": endpoint, "vpce-0f66e77d88c99b00a": endpoint},
    )
    demo.say(f"routed to: {demo.route(event)}")
    demo.say(f"event audit: {json.dumps(demo.drain('EventsQueue'))}")
    demo.show_alerts()


def fix_and_resolve(demo: Demo) -> None:
    demo.section("3. The fix: prod-web's endpoint restricted to the office and NAT, private access on")
    cidrs = ["203.0.113.0/24", f"{demo.fleet.nat_ip}/32"]
    demo.fleet.update_endpoint("prod-web", public=True, private=True, cidrs=cidrs)
    event = demo.sample("eks-update-cluster-config-public-cidrs.json", {"demo-public": "prod-web"})
    event["detail"]["requestParameters"]["resourcesVpcConfig"] = {
        "endpointPublicAccess": True,
        "endpointPrivateAccess": True,
        "publicAccessCidrs": cidrs,
    }
    demo.say(f"routed to: {demo.route(event)}")
    demo.say(f"event audit: {json.dumps(demo.drain('EventsQueue'))}")
    demo.show_alerts("Slack")
    failed = demo.sample("eks-update-cluster-config-error.json", {"demo-public": "prod-web"})
    demo.route(failed)
    demo.say(
        f"a failed UpdateClusterConfig (errorCode set) is skipped: {json.dumps(demo.drain('EventsQueue'))}"
    )


def quiet_rescan(demo: Demo) -> None:
    demo.section("4. The schedule again: it catches what the events' targeted re-audits did not re-check")
    invoke("schedule", demo.sample("scheduled.json"), account=ACCOUNT, region=REGION, logs=demo.logs)
    demo.say(f"worker: {json.dumps(demo.drain('AuditQueue'))}")
    demo.show_alerts("Slack", everything=True)
    demo.section("5. And once more, nothing changed: quiet")
    invoke("schedule", demo.sample("scheduled.json"), account=ACCOUNT, region=REGION, logs=demo.logs)
    demo.say(f"worker: {json.dumps(demo.drain('AuditQueue'))}")
    sent = demo.show_alerts("Slack")
    demo.say(f"SNS messages on an unchanged re-scan: {sent}")


def spot_interruptions(demo: Demo) -> None:
    demo.section("6. Spot: an interruption warning, then a burst in batch/spot-workers")
    instances = list(demo.fleet.instances.values())
    for index, instance in enumerate(instances[:3]):
        event = demo.sample("spot-interruption-warning.json", {"i-0123456789abcdef0": instance})
        event["id"] = f"demo-spot-{index}"
        demo.route(event)
        if index == 0:
            demo.say(f"spot worker: {json.dumps(demo.drain('SpotQueue'))}")
            demo.show_alerts("Slack", everything=True)
    demo.say(f"spot worker (two more warnings): {json.dumps(demo.drain('SpotQueue'))}")
    demo.show_alerts("Slack", everything=True)


def bad_input(demo: Demo) -> None:
    demo.section("7. Bad input: a malformed message among good ones loses nothing else")
    sqs = demo.account.client("sqs")
    sqs.send_message(QueueUrl=demo.account.queues["EventsQueue"], MessageBody='{"detail-type": "garbage"')
    good = demo.sample("eks-update-cluster-config-public-cidrs.json", {"demo-public": "platform"})
    demo.route(good)
    demo.say(f"event audit: {json.dumps(demo.drain('EventsQueue'))} (the failed item goes to the DLQ)")


def security_team(demo: Demo) -> None:
    demo.section("8. The security team asks: what is open and HIGH or worse, since when?")
    from eks_auditor_tools.cli.main import main as cli

    with contextlib.redirect_stdout(demo.out):
        cli(["findings", "--severity", "HIGH", "--table", demo.account.findings_table])
    demo.say()
    demo.say("The same through the HTTP API (API Gateway, IAM auth) -> the query_api function:")
    event = http_api_event("/findings", {"severity": "CRITICAL", "status": "OPEN"})
    response = invoke("query_api", event, account=ACCOUNT, region=REGION, logs=demo.logs)
    body = json.loads(response["body"])
    demo.say(f"GET /findings?severity=CRITICAL&status=OPEN -> {response['statusCode']}")
    for item in body["items"]:
        demo.say(
            f"  {item['severity']:8} {item['cluster']:10} {item['check_id']:32} since {item['first_seen']}"
        )
    bad = invoke(
        "query_api", http_api_event("/findings", {"severity": "URGENT"}), account=ACCOUNT, region=REGION
    )
    demo.say(f"GET /findings?severity=URGENT -> {bad['statusCode']}: {json.loads(bad['body'])['message']}")
    hub = demo.account.client("securityhub").get_findings(MaxResults=100)["Findings"]
    demo.say(f"Security Hub (EnableSecurityHub=true) holds {len(hub)} imported finding(s), e.g.:")
    for finding in hub[:2]:
        demo.say(
            f"  {finding['Severity']['Label']:8} {finding['Title'][:70]} [{finding['Workflow']['Status']}]"
        )


def accepted_risk(demo: Demo) -> None:
    demo.section("9. A risk accepted for a while: suppressed (no alert), then it expires and reopens")
    from eks_auditor.suppressions import Suppression

    store = demo.store()
    now = datetime.now(UTC)
    store.put_suppression(
        Suppression(
            check_id="control_plane_logging_disabled",
            cluster="prod-*",
            reason="logging moves to the central account next sprint (SEC-1234)",
            author="security-analyst@example.com",
            created_at=now,
            expires_at=now + timedelta(seconds=3),
        )
    )
    invoke("schedule", demo.sample("scheduled.json"), account=ACCOUNT, region=REGION, logs=demo.logs)
    demo.say(f"scan with the suppression active: {json.dumps(demo.drain('AuditQueue'))}")
    demo.show_alerts("Slack", everything=True)
    # Spot findings go through the same suppressions: a node being retired on purpose stays quiet.
    spare = demo.fleet.instances["spot-3"]
    store.put_suppression(
        Suppression(
            check_id="spot_interruption_notice",
            cluster="batch",
            resource=f".*/{spare}",
            reason="spot-3 is being retired with its node group (OPS-77)",
            author="sre@example.com",
            created_at=now,
            # Long enough for a slow machine: this step shows the suppression, not its expiry.
            expires_at=now + timedelta(hours=1),
        )
    )
    rebalance = demo.sample("spot-rebalance-recommendation.json", {"i-0123456789abcdef0": spare})
    rebalance["id"] = "demo-spot-suppressed"
    demo.route(rebalance)
    demo.say(f"spot worker (a rebalance recommendation for spot-3): {json.dumps(demo.drain('SpotQueue'))}")
    demo.show_alerts("Slack", everything=True)
    from eks_auditor.model.finding import Status
    from eks_auditor.store import FindingQuery

    suppressed = store.query(FindingQuery(status=Status.SUPPRESSED, limit=10)).items
    for finding in suppressed:
        demo.say(f"  stored as {finding.status.value}: {finding.check_id} on {finding.cluster}")
    time.sleep(max(0.0, (now + timedelta(seconds=3.2) - datetime.now(UTC)).total_seconds()))
    invoke("schedule", demo.sample("scheduled.json"), account=ACCOUNT, region=REGION, logs=demo.logs)
    demo.say(f"scan after it expired: {json.dumps(demo.drain('AuditQueue'))}")
    demo.show_alerts("Slack", everything=True)


def pipeline_rule_disabled(demo: Demo) -> None:
    demo.section("10. The auditor audits itself: someone disables one of its EventBridge rules")
    from eks_auditor.model.pipeline import ACCOUNT_REGION
    from eks_auditor.store import FindingQuery

    events = demo.account.client("events")
    name = demo.account.rules["EksApiCallsRule"]
    demo.say(
        f"pipeline: trail {demo.account.trail_arn} logging; rules {', '.join(sorted(demo.account.rules))}"
    )
    events.disable_rule(Name=name)
    demo.say(f"aws events disable-rule --name {name}: EKS API calls no longer reach the auditor")
    invoke("schedule", demo.sample("scheduled.json"), account=ACCOUNT, region=REGION, logs=demo.logs)
    demo.say(f"scan (the pipeline audit rides the schedule): {json.dumps(demo.drain('AuditQueue'))}")
    demo.show_alerts("Slack", everything=True)
    page = demo.store().query(
        FindingQuery(
            account=ACCOUNT, region=REGION, cluster=ACCOUNT_REGION, check_id="pipeline_rule_broken", limit=10
        )
    )
    for finding in page.items:
        demo.say(f"  {finding.resource}: {'; '.join(finding.evidence.get('problems', []))}")
    events.enable_rule(Name=name)
    demo.say(f"aws events enable-rule --name {name}")
    invoke("schedule", demo.sample("scheduled.json"), account=ACCOUNT, region=REGION, logs=demo.logs)
    demo.say(f"scan: {json.dumps(demo.drain('AuditQueue'))}")
    demo.show_alerts("Slack", everything=True)


def compliance_posture(demo: Demo) -> None:
    demo.section("11. The auditors ask: which clusters fail CIS Amazon EKS Benchmark controls today?")
    from eks_auditor.suppressions import Suppression

    from eks_auditor_tools.cli.main import main as cli

    # An accepted risk counts as an exception in the posture: shown (EXC), not hidden, not a pass.
    now = datetime.now(UTC)
    demo.store().put_suppression(
        Suppression(
            check_id="secrets_encryption_disabled",
            cluster="prod-web",
            reason="the KMS key arrives with the platform migration (SEC-2001)",
            author="security-analyst@example.com",
            created_at=now,
            expires_at=now + timedelta(days=30),
        )
    )
    demo.say("suppressed secrets_encryption_disabled on prod-web for 30 days (SEC-2001)")
    table = demo.account.findings_table
    with contextlib.redirect_stdout(demo.out):
        cli(["posture", "--framework", "cis-eks", "--table", table, "--account", ACCOUNT, "--region", REGION])
    event = http_api_event("/posture", {"framework": "fsbp"})
    response = invoke("query_api", event, account=ACCOUNT, region=REGION, logs=demo.logs)
    body = json.loads(response["body"])
    demo.say(f"GET /posture?framework=fsbp -> {response['statusCode']}")
    for row in body["controls"]:
        if row["assessed"]:
            rate = "-" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}"
            demo.say(
                f"  {row['control']:7} pass {row['passing']} fail {row['failing']} "
                f"exception {row['exceptions']} incomplete {row['incomplete']}  pass rate {rate}"
            )


STEPS: list[Callable[[Demo], None]] = [
    scheduled_scan,
    risky_change,
    fix_and_resolve,
    quiet_rescan,
    spot_interruptions,
    bad_input,
    security_team,
    accepted_risk,
    pipeline_rule_disabled,
    compliance_posture,
]
