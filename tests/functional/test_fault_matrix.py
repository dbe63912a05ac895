"""One matrix of faults through the event_audit handler, injected with botocore before-call hooks on the
runtime's real (moto) clients, each on one record of a batch of three (the victim cluster's event between
two bystanders' events):

  DynamoDB transaction conflict past retries, DynamoDB throttling, SNS KMSAccessDenied (encrypted topic),
  SNS failure, a crash between the store write and the publish, a denied AWS read in a collector.

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
from botocore.awsrequest import AWSResponse
from eks_auditor.batch import FAILED
from eks_auditor.model.finding import Status
from eks_auditor.store import FindingQuery, FindingStore

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


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


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
            load_handler("event_audit")
            load_handler("cluster_worker")
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
def hooked(client: Any, operation: str, respond: Callable[[], Any], *, skip: int = 0) -> Iterator[list[str]]:
    """Answer the client's `operation` for the victim with `respond()` (after `skip` real calls).

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
        return respond() if len(hits) > skip else None

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
    skip: int = 0


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
    "sns-failure": Fault("sns", "Publish", lambda: answer("InternalError", 500), "InternalError"),
    "crash-between-write-and-publish": Fault("sns", "Publish", _crash, "Crash"),
    "collector-denied": Fault(
        "eks", "DescribeCluster", lambda: answer("AccessDeniedException", 403), None, skip=0
    ),
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


def emf(lines: list[str]) -> tuple[Counter[str], list[str]]:
    """Metric totals of the EMF lines printed, and the ErrorCode dimension of the per-code lines."""
    totals: Counter[str] = Counter()
    codes: list[str] = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):
            blob = json.loads(line)
            if not isinstance(blob, dict) or "_aws" not in blob:
                continue
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    totals[metric["Name"]] += sum(value) if isinstance(value, list) else value
            if "ErrorCode" in blob:
                codes.append(blob["ErrorCode"])
    return totals, codes


@contextlib.contextmanager
def later(world: World, by: timedelta) -> Iterator[None]:
    """The runtime's collectors stamp evaluations `by` later (the next run, after a redelivery delay)."""
    collectors = [load_handler(name).runtime.collector for name in ("event_audit", "cluster_worker")]
    saved = [collector.now for collector in collectors]
    for collector in collectors:
        collector.now = lambda: datetime.now(UTC) + by
    try:
        yield
    finally:
        for collector, now in zip(collectors, saved, strict=True):
            collector.now = now


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
    with hooked(client, fault.operation, fault.respond, skip=fault.skip) as hits:
        if fault.code == "Crash":
            with pytest.raises(Crash):
                run(world, "event_audit", "EventsQueue", batch, sink)
            response = None
        else:
            response = run(world, "event_audit", "EventsQueue", batch, sink)
    assert hits, f"the {fault.operation} fault was never reached"
    during = delivered(world)
    totals, codes = emf(sink.lines)
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
    # a crash or a recorded incomplete audit (the record succeeded: no redelivery) the next scan comes.
    with later(world, REDELIVERY):
        if fault.code in ("Crash", None):
            scan = {"account": ACCOUNT, "region": REGION, "cluster": VICTIM, "scan_id": f"scan-after-{name}"}
            retried = run(world, "cluster_worker", "AuditQueue", [message(scan)], LogSink())
        else:
            retried = run(world, "event_audit", "EventsQueue", [victim], LogSink())
    assert retried["batchItemFailures"] == []
    recovered = [a for a in delivered(world) if a["cluster"] == VICTIM]
    opened = [a for a in [*victim_messages, *recovered] if a["check_id"] == LOGGING]
    assert [a["change"] for a in opened] == ["OPENED"], opened  # published, exactly once
    assert not [a for a in recovered if a["change"] == "RESOLVED" and a["check_id"] != "audit_incomplete"]
    assert Counter(a["change_id"] for a in [*victim_messages, *recovered]).most_common(1)[0][1] == 1
    assert world.store.pending_changes(ACCOUNT, REGION, VICTIM) == []
    final = findings(world, VICTIM)
    assert final[next(key for key in final if key.startswith(f"{LOGGING}:"))] is Status.OPEN
