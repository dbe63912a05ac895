"""One matrix of faults through the event_audit handler, injected with botocore before-call hooks on the
runtime's real (moto) clients, each on one record of a batch of three (the victim cluster's event between
two bystanders' events):

  DynamoDB transaction conflict past retries, DynamoDB throttling, SNS KMSAccessDenied (encrypted topic),
  SNS AuthorizationError, SNS failure, a crash between the store write and the publish (no log line of
  ours then: the invocation fails, Lambda reports it and SQS redelivers), a denied AWS read in a collector.

For each: one clear ERROR line and a metric; the victim's record is a batch item failure (SQS retries it,
then dead-letters it) or the audit records audit_incomplete (alerted at once: a refusal); the bystanders'
records are audited and published; nothing of the victim is resolved or reported as passing; and once the
fault is gone, the next run (the redelivery after the queue's visibility timeout, or the next scan) publishes
the victim's change exactly once.

The victim's change is a real one: its control plane logging is on for a first, clean audit (its checks are
then no baseline) and turned off before the faulty one (the CloudTrail event UpdateClusterConfig says so).
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from accounts import drain
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from eks_auditor.audit import Auditor
from eks_auditor.batch import FAILED
from eks_auditor.collect.clients import AwsClients
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.concurrency import Limiter
from eks_auditor.model.check import Result
from eks_auditor.model.finding import Status
from eks_auditor.notify import Notifier
from eks_auditor.store import FindingQuery, FindingStore
from recording import Records, emf_metrics

from eks_auditor_tools.demo.account import DemoAccount
from eks_auditor_tools.demo.fleet import ACCOUNT, REGION
from eks_auditor_tools.demo.lambdas import LogSink, invoke, load_handler, sqs_event
from eks_auditor_tools.demo.run import embedded_account

EVENTS = Path(__file__).resolve().parents[2] / "events"
VICTIM = "prod-web"
BYSTANDERS = ("analytics", "platform")
LOGGING = "control_plane_logging_disabled"
# SQS redelivers a failed record after the queue's visibility timeout (360 s and more in the template),
# past the outbox's grace (5 minutes): the next run is modelled that much later.
REDELIVERY = timedelta(minutes=10)
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


class Crash(BaseException):
    """The Lambda dies (timeout, out of memory): nothing of the invocation returns, not even to Powertools."""


@dataclass
class World:
    session: boto3.Session
    account: DemoAccount
    logs: Records

    @property
    def store(self) -> FindingStore:
        return FindingStore(self.account.findings_table, client=self.account.client("dynamodb"))

    @property
    def runtime(self) -> Any:
        return load_handler("event_audit").runtime


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    logs = Records()
    loggers = [logging.getLogger("eks-auditor"), logging.getLogger("eks_auditor")]
    with embedded_account() as (session, _fleet, account):
        with LogSink().capture():
            handler = load_handler("event_audit")
        # The handler builds its session on first use: resolve its credentials now, inside the embedded
        # account (moto's keys, which the fleet's Kubernetes API expects), not later under the tests'
        # function-scoped environment ("testing"), which would sign EKS tokens the API rejects.
        handler.runtime.boto_session.get_credentials()
        for logger in loggers:  # after the imports: Powertools takes the logger's first handler for its own
            logger.addHandler(logs)
        try:
            yield World(session, account, logs)
        finally:
            for logger in loggers:
                logger.removeHandler(logs)


# --- faults ------------------------------------------------------------------------------------------


def answer(code: str, status: int, **extra: Any) -> tuple[AWSResponse, dict[str, Any]]:
    """What a before-call hook returns to stand in for the service: an error response (no retry follows,
    as for an error that outlasted botocore's retries)."""
    parsed = {
        "Error": {"Code": code, "Message": f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return AWSResponse("https://injected", status, {}, None), parsed


def about_victim(params: Any) -> bool:
    """Whether a call's parameters are about the victim: its findings partition, its cluster name."""
    text = json.dumps(params, default=str)
    return f'"CLUSTER#{ACCOUNT}#{REGION}#{VICTIM}"' in text or f'"{VICTIM}"' in text


@contextlib.contextmanager
def hooked(client: Any, operation: str, respond: Callable[[], Any]) -> Iterator[list[str]]:
    """Answer the client's `operation` for the victim with `respond()`.

    before-parameter-build sees the call's parameters (and marks the request's context); before-call,
    which may answer in the service's stead, sees only the serialized request.
    """
    service = client.meta.service_model.service_id.hyphenize()
    hits: list[str] = []

    def mark(params: Any, context: dict[str, Any], **_: Any) -> None:
        context["fault-matrix-victim"] = about_victim(params)

    def hook(context: dict[str, Any], **_: Any) -> Any:
        if not context.get("fault-matrix-victim"):
            return None
        hits.append(operation)
        return respond()

    client.meta.events.register(f"before-parameter-build.{service}.{operation}", mark)
    client.meta.events.register_first(f"before-call.{service}.{operation}", hook)
    try:
        yield hits
    finally:
        client.meta.events.unregister(f"before-parameter-build.{service}.{operation}", mark)
        client.meta.events.unregister(f"before-call.{service}.{operation}", hook)


def _crash() -> Any:
    raise Crash("the handler died after the store write, before the publish")


@dataclass(frozen=True)
class Fault:
    service: str
    operation: str
    respond: Callable[[], Any]
    code: str | None  # the failed record's error code; None: the audit records audit_incomplete


FAULTS = {
    "dynamodb-conflict": Fault(
        "dynamodb",
        "TransactWriteItems",
        lambda: answer(
            "TransactionCanceledException",
            400,
            CancellationReasons=[{"Code": "None"}, {"Code": "TransactionConflict"}, {"Code": "None"}],
        ),
        "TransactionCanceledException",
    ),
    "dynamodb-throttled": Fault(
        "dynamodb",
        "UpdateItem",
        lambda: answer("ProvisionedThroughputExceededException", 400),
        "ProvisionedThroughputExceededException",
    ),
    "sns-kms-denied": Fault("sns", "Publish", lambda: answer("KMSAccessDenied", 400), "KMSAccessDenied"),
    # SNS's own AccessDenied (AuthorizationError: the topic policy or the role denies sns:Publish).
    "sns-access-denied": Fault(
        "sns", "Publish", lambda: answer("AuthorizationError", 403), "AuthorizationError"
    ),
    "sns-failure": Fault("sns", "Publish", lambda: answer("InternalError", 500), "InternalError"),
    "crash-between-write-and-publish": Fault("sns", "Publish", _crash, "Crash"),
    "collector-denied": Fault("eks", "DescribeCluster", lambda: answer("AccessDeniedException", 403), None),
}


# --- the scenario ------------------------------------------------------------------------------------


def cloudtrail(cluster: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (EVENTS / "eks-update-cluster-config-public-cidrs.json").read_text().replace("demo-public", cluster)
    )
    event["id"] = str(uuid.uuid4())
    event["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def message(body: dict[str, Any]) -> dict[str, Any]:
    return {"MessageId": str(uuid.uuid4()), "ReceiptHandle": "r", "Body": json.dumps(body)}


def run(world: World, function: str, queue: str, messages: list[dict[str, Any]], sink: LogSink) -> Any:
    return invoke(
        function,
        sqs_event(messages, world.account.queue_arn(queue)),
        account=ACCOUNT,
        region=REGION,
        logs=sink,
    )


def delivered(world: World) -> list[dict[str, str]]:
    """The message attributes of everything the security team's queue got since the last call."""
    return [m["attributes"] for m in world.account.slack_messages(world.account.security_queue)]


def forget(world: World, cluster: str) -> None:
    """Start a case from an empty partition for the cluster (as if never audited)."""
    client = world.account.client("dynamodb")
    table = world.account.findings_table
    pk = f"CLUSTER#{ACCOUNT}#{REGION}#{cluster}"
    query = {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": pk}}}
    for page in client.get_paginator("query").paginate(TableName=table, **query):
        for item in page["Items"]:
            client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})


def set_logging(world: World, cluster: str, *, enabled: bool) -> None:
    types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    world.session.client("eks").update_cluster_config(
        name=cluster, logging={"clusterLogging": [{"types": types, "enabled": enabled}]}
    )


def findings(world: World, cluster: str) -> dict[str, Status]:
    page = world.store.query(FindingQuery(cluster=cluster, account=ACCOUNT, region=REGION, limit=500))
    return {f"{f.check_id}:{f.resource}": f.status for f in page.items}


@contextlib.contextmanager
def later(world: World, by: timedelta) -> Iterator[None]:
    """The runtime's collectors stamp evaluations `by` later (the next run, after a redelivery delay)."""
    collector = world.runtime.collector
    saved = collector.now
    collector.now = lambda: datetime.now(UTC) + by
    try:
        yield
    finally:
        collector.now = saved


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_fails_its_record_alone_loudly_and_its_change_is_published_once(
    world: World, name: str
) -> None:
    fault = FAULTS[name]
    for cluster in (VICTIM, *BYSTANDERS):
        forget(world, cluster)
    sink = LogSink()
    # A first, clean audit of the victim with its logging on: its checks' next changes are no baseline.
    set_logging(world, VICTIM, enabled=True)
    assert (
        run(world, "event_audit", "EventsQueue", [message(cloudtrail(VICTIM))], sink)["batchItemFailures"]
        == []
    )
    before = findings(world, VICTIM)
    assert before and f"{LOGGING}:" not in " ".join(before)
    delivered(world)

    set_logging(world, VICTIM, enabled=False)
    first, victim, last = (message(cloudtrail(c)) for c in (BYSTANDERS[0], VICTIM, BYSTANDERS[1]))
    batch = [first, last, victim] if fault.code == "Crash" else [first, victim, last]
    client = world.runtime.client(fault.service, REGION if fault.service == "eks" else None)
    world.logs.records.clear()
    sink = LogSink()
    with hooked(client, fault.operation, fault.respond) as hits:
        if fault.code == "Crash":
            with pytest.raises(Crash):
                run(world, "event_audit", "EventsQueue", batch, sink)
            response = None
        else:
            response = run(world, "event_audit", "EventsQueue", batch, sink)
    assert hits, f"the {fault.operation} fault was never reached"
    during = delivered(world)
    totals, by_code = emf_metrics(sink.lines)
    codes = [line["ErrorCode"] for line in by_code]
    errors = [r for r in world.logs.records if r.levelno >= logging.ERROR]

    # The bystanders' records are audited and published, whatever happened to the victim's.
    for bystander in BYSTANDERS:
        assert {a["check_id"] for a in during if a["cluster"] == bystander and a["change"] == "OPENED"}
        assert Status.OPEN in findings(world, bystander).values()
    # Nothing of the victim resolved or passing: what was open stays open, the new failure is not lost.
    victim_messages = [a for a in during if a["cluster"] == VICTIM]
    assert not [a for a in victim_messages if a["change"] == "RESOLVED"]
    after = findings(world, VICTIM)
    assert all(after[key] is Status.OPEN for key, status in before.items() if status is Status.OPEN)

    if fault.code is None:
        # A denied read: the record succeeds, every check it re-ran is recorded incomplete and alerted now.
        assert response is not None and response["batchItemFailures"] == []
        assert {a["check_id"] for a in victim_messages} == {"audit_incomplete"}
        assert all(a["change"] == "OPENED" for a in victim_messages)
        [line] = [r.getMessage() for r in errors if "denied for" in r.getMessage()]
        assert f"{REGION}/{VICTIM}" in line and "AccessDeniedException on eks:DescribeCluster" in line
        assert totals["ChecksDenied"] == len(victim_messages) and totals["ChecksIncomplete"] >= len(
            victim_messages
        )
        assert totals[FAILED] == 0
    elif fault.code == "Crash":
        # The bystanders ran before the crash; the victim's change is written, in the outbox, unsent.
        assert victim_messages == []
        assert after[next(key for key in after if key.startswith(f"{LOGGING}:"))] is Status.OPEN
        [pending] = world.store.pending_changes(ACCOUNT, REGION, VICTIM)
        assert pending.finding.check_id == LOGGING
    else:
        assert response is not None
        assert [item["itemIdentifier"] for item in response["batchItemFailures"]] == [victim["MessageId"]]
        [line] = [r for r in errors if getattr(r, "message_id", None)]
        assert (line.message_id, line.error_code) == (victim["MessageId"], fault.code)  # type: ignore[attr-defined]
        assert fault.code in line.getMessage()
        assert totals[FAILED] == 1 and totals["BatchItemFailures"] == 1 and codes == [fault.code]
        assert victim_messages == []

    # The fault is gone. The next run, later than the outbox grace: SQS redelivers the failed record; after
    # a crash or a recorded incomplete audit (the record succeeded: no redelivery) the next event comes.
    with later(world, REDELIVERY):
        again = message(cloudtrail(VICTIM)) if fault.code in ("Crash", None) else victim
        retried = run(world, "event_audit", "EventsQueue", [again], LogSink())
    assert retried["batchItemFailures"] == []
    recovered = [a for a in delivered(world) if a["cluster"] == VICTIM]
    opened = [a for a in [*victim_messages, *recovered] if a["check_id"] == LOGGING]
    assert [a["change"] for a in opened] == ["OPENED"], opened  # published, exactly once
    assert not [a for a in recovered if a["change"] == "RESOLVED" and a["check_id"] != "audit_incomplete"]
    assert Counter(a["change_id"] for a in [*victim_messages, *recovered]).most_common(1)[0][1] == 1
    assert world.store.pending_changes(ACCOUNT, REGION, VICTIM) == []
    final = findings(world, VICTIM)
    assert final[next(key for key in final if key.startswith(f"{LOGGING}:"))] is Status.OPEN


# --- throttling: the limiter backs off, the scan completes or records incomplete, never a pass -----------
# RequestLimitExceeded is answered at before-send, so botocore's retry and the limiter's throttle listener
# see it as they would a real throttle. These audits run the engine directly, with their own clients and the
# module's table and topic, on clusters the matrix above does not touch.


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def ec2_error(operation: str, code: str, status: int, *, times: int | None = None) -> Any:
    """A before-send hook answering the EC2 `operation` with the error `code` (`times` times, or always)."""
    seen: Counter[str] = Counter()

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if f"Action={operation}" not in body or (times is not None and seen[operation] >= times):
            return None
        seen[operation] += 1
        xml = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>injected {code}.</Message></Error>"
            "</Errors><RequestID>r</RequestID></Response>"
        ).encode()
        return AWSResponse(request.url, status, {}, _Raw(xml))

    return handler


# Checks that read subnets (answered with the error) and one that does not (it keeps its verdict).
SUBNET_CHECKS = {"nodes_public_subnet", "ip_capacity_exhaustion_risk"}
ENDPOINT = "endpoint_public_unrestricted"


@pytest.fixture(scope="module")
def alerts_queue(world: World) -> str:
    """A queue that takes every message of the alerts topic."""
    sqs = world.account.client("sqs")
    url: str = sqs.create_queue(QueueName="throttle-everything")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    world.account.client("sns").subscribe(TopicArn=world.account.topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def audit(world: World, cluster: str, source: str, hook: Any, limiter: Limiter, *, attempts: int = 1) -> Any:
    """One audit of `cluster` (its throttles past `attempts` reported to `limiter`), stored and published."""
    clients = AwsClients(
        world.session,
        config=Config(retries={"mode": "standard", "max_attempts": attempts}),
        on_throttle=limiter.throttled_region,
    )
    clients.ec2(REGION).meta.events.register_first("before-send", hook)
    collector = SnapshotCollector(clients)
    collector.unregister("kubernetes")
    notifier = Notifier(world.account.topic_arn, client=world.account.client("sns"), baseline=False)
    auditor = Auditor(collector, store=world.store, notifier=notifier)
    checks = [*sorted(SUBNET_CHECKS), ENDPOINT]
    return auditor.audit(REGION, cluster, check_ids=checks, source=source, account=ACCOUNT)


def incomplete_alerts(world: World, url: str) -> list[str]:
    """The change of every audit_incomplete message the topic delivered since the last call."""
    envelopes = drain(world.account.client("sqs"), url)
    attributes = [{k: v["Value"] for k, v in e["MessageAttributes"].items()} for e in envelopes]
    return sorted(a["change"] for a in attributes if a["check_id"] == "audit_incomplete")


def test_a_throttling_storm_is_recorded_every_scan_and_alerted_on_the_third(
    world: World, alerts_queue: str
) -> None:
    limiter = Limiter(4, 4, jitter=lambda _: 0.0)
    storm = ec2_error("DescribeSubnets", "RequestLimitExceeded", 503)
    incomplete_alerts(world, alerts_queue)
    for number in (1, 2, 3):
        result = audit(world, "payments", f"scan-storm-{number}", storm, limiter)
        errored = {o.check_id for o in result.outcomes if o.result is Result.ERROR}
        assert errored >= SUBNET_CHECKS and ENDPOINT not in errored
        assert SUBNET_CHECKS.isdisjoint(check for check, _ in result.evaluation.passing)  # never a pass
        # Quiet on the first two scans, alerted on the third...
        assert incomplete_alerts(world, alerts_queue) == (
            ["OPENED"] * len(SUBNET_CHECKS) if number == 3 else []
        )
        recorded = [world.store.get(f.id) for f in result.failing if f.check_id == "audit_incomplete"]
        # ...and recorded on every scan.
        assert len(recorded) == len(SUBNET_CHECKS)
        assert all(
            f is not None and f.status is Status.OPEN and f.evidence["scans"] == number for f in recorded
        )
    assert limiter.limit_of(("", REGION)) < 4  # the limiter backed off on the throttles

    # The storm passes: the alerted findings resolve, loudly.
    calm = audit(world, "payments", "scan-storm-4", ec2_error("None", "x", 503), limiter)
    assert not [o for o in calm.outcomes if o.result is Result.ERROR]
    assert incomplete_alerts(world, alerts_queue) == ["RESOLVED"] * len(SUBNET_CHECKS)


def test_a_short_throttle_is_retried_and_the_scan_completes(world: World, alerts_queue: str) -> None:
    limiter = Limiter(4, 4, jitter=lambda _: 0.0)
    burst = ec2_error("DescribeSubnets", "RequestLimitExceeded", 503, times=1)
    result = audit(world, "analytics", "scan-burst-1", burst, limiter, attempts=2)
    assert [o for o in result.outcomes if o.result is Result.ERROR] == []
    assert {o.check_id for o in result.outcomes} == {*SUBNET_CHECKS, ENDPOINT}
    assert limiter.limit_of(("", REGION)) < 4


def test_access_denied_in_a_collector_alerts_on_the_first_scan(world: World, alerts_queue: str) -> None:
    limiter = Limiter(4, 4, jitter=lambda _: 0.0)
    incomplete_alerts(world, alerts_queue)
    result = audit(
        world, "batch", "scan-denied-1", ec2_error("DescribeSubnets", "UnauthorizedOperation", 403), limiter
    )
    assert {o.check_id for o in result.outcomes if o.result is Result.ERROR} >= SUBNET_CHECKS
    assert incomplete_alerts(world, alerts_queue) == ["OPENED"] * len(SUBNET_CHECKS)
    assert limiter.limit_of(("", REGION)) == 4  # a refusal is no throttle
