"""Fuzz every SQS handler (event_audit, cluster_worker, spot_events) and the schedule's input in process
against moto: 0 batch crashes, 0 good records lost, and every failed record leaves exactly one ERROR line
(its message id, exception type and error code) and one metric (EventsRejected or RecordsFailed).

Each example is one batch mixing good records (well-formed, for clusters and instances that do not
exist, so that each is cheap: a lookup and a resolve) with malformed ones (junk, deep nesting, mutated
fields, oversized names, odd regions), in random order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from eks_auditor.batch import BATCH_FAILURES, FAILED, REJECTED, REJECTED_CODE
from eks_auditor.model.events import parse_cluster_audit_message
from eks_auditor.triggers import EKS_EVENT_CHECKS
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from profiles import NIGHTLY, examples
from recording import Records, emf_metrics

from eks_auditor_tools.demo.account import DemoAccount, deploy
from eks_auditor_tools.demo.fleet import ACCOUNT, REGION
from eks_auditor_tools.demo.lambdas import LambdaContext, LogSink, forget_handlers, load_handler, sqs_event

EVENTS = Path(__file__).resolve().parents[2] / "events"
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@dataclass
class World:
    account: DemoAccount
    logs: Records
    # function -> error code -> failed records, printed at the end (`pytest -s`) for the fuzz report.
    codes: dict[str, Counter[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    saved = dict(os.environ)
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    os.environ.update({"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION})
    logs = Records()
    service = logging.getLogger("eks-auditor")
    try:
        with mock_aws():
            account = deploy(boto3.Session(region_name=REGION), REGION, ACCOUNT)
            os.environ.update(account.environment())
            forget_handlers()
            with LogSink().capture():
                for name in ("event_audit", "cluster_worker", "spot_events", "schedule"):
                    load_handler(name)
            # After the imports: Powertools treats the logger's first handler as its own.
            service.addHandler(logs)
            world = World(account, logs)
            yield world
            for function, counts in world.codes.items():
                print(f"\n{function}: failed records by error code {dict(counts.most_common())}")
    finally:
        service.removeHandler(logs)
        forget_handlers()
        os.environ.clear()
        os.environ.update(saved)


# --- inputs ------------------------------------------------------------------------------------------

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=10,
)
deep = st.integers(300, 950).map(lambda n: json.loads("[" * n + "]" * n))
odd_values = st.one_of(
    json_junk,
    st.just("a" * 3000),  # oversized: past DynamoDB's 2,048-byte partition key
    st.sampled_from(["us-east-1 ", "moon-1", "US-EAST-1", "", " ", "false", "123456789012 ", "0"]),
    st.integers(400, 3000).map(lambda n: "[" * n + "]" * n),
)
clusters = st.sampled_from([f"fuzz-{i}" for i in range(4)])
instance_ids = st.text("0123456789abcdef", min_size=17, max_size=17).map(lambda h: f"i-{h}")
# Good records are the slow ones (each stores and publishes): fewer per batch in the ci profile.
GOOD_PER_BATCH = 5 if NIGHTLY else 3
EKS_CALLS = [*sorted(name for name in EKS_EVENT_CHECKS), "DeleteCluster"]


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    event["id"] = str(uuid.uuid4())
    return event


@st.composite
def cloudtrail_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["eks", "eks", "ec2", "error"]))
    if kind == "ec2":
        return sample("ec2-delete-route.json")
    if kind == "error":
        return sample("eks-update-cluster-config-error.json")
    event = sample("eks-update-cluster-config-public-cidrs.json")
    event["detail"]["eventName"] = draw(st.sampled_from(EKS_CALLS))
    event["detail"]["requestParameters"] = {"name": draw(clusters)}
    return event


@st.composite
def audit_messages(draw: st.DrawFn) -> dict[str, Any]:
    message = {"account": ACCOUNT, "region": REGION, "cluster": draw(clusters), "scan_id": "scan-fuzz"}
    if draw(st.booleans()):
        message["deleted"] = True
    return message


@st.composite
def spot_events(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(["spot-interruption-warning.json", "spot-rebalance-recommendation.json"]))
    event = sample(name)
    instance = draw(instance_ids)
    event["detail"]["instance-id"] = instance
    event["resources"] = [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"]
    return event


@st.composite
def mutated(draw: st.DrawFn, good: st.SearchStrategy[dict[str, Any]]) -> str:
    """A good message with one field replaced by junk, deep nesting or an odd value, or removed."""
    message = draw(good)
    target = message["detail"] if "detail" in message and draw(st.booleans()) else message
    key = draw(st.sampled_from([*sorted(target), "instance-id", "name"]))
    if draw(st.integers(0, 4)) == 0:
        target.pop(key, None)
    else:
        target[key] = draw(st.one_of(odd_values, deep))
    return json.dumps(message)


def bad_bodies(good: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[str]:
    return st.one_of(
        text,
        json_junk.map(json.dumps),
        st.integers(400, 5000).map(lambda n: "[" * n + "]" * n),
        st.integers(400, 5000).map(lambda n: '{"a":' * n + "1" + "}" * n),
        mutated(good),
        mutated(good),
        mutated(good),
    )


@st.composite
def batches(draw: st.DrawFn, good: st.SearchStrategy[dict[str, Any]]) -> list[tuple[str, bool]]:
    """(body, is_good) for up to 10 records, good and bad shuffled."""
    goods = [(json.dumps(m), True) for m in draw(st.lists(good, max_size=GOOD_PER_BATCH))]
    bads = [(b, False) for b in draw(st.lists(bad_bodies(good), min_size=1, max_size=10 - len(goods)))]
    return draw(st.permutations(goods + bads))


# --- invariants --------------------------------------------------------------------------------------


def run_batch(world: World, function: str, queue: str, batch: list[tuple[str, bool]]) -> dict[str, str]:
    """Invoke the handler on the batch and check the invariants; the failed records' error codes."""
    messages = [{"MessageId": str(uuid.uuid4()), "ReceiptHandle": "r", "Body": body} for body, _ in batch]
    good = {m["MessageId"] for m, (_, ok) in zip(messages, batch, strict=True) if ok}
    event = sqs_event(messages, world.account.queue_arn(queue))
    context = LambdaContext(function_name=function, account=ACCOUNT, region=REGION)
    world.logs.records.clear()
    sink = LogSink()
    with sink.capture():
        response = load_handler(function).handler(event, context)  # a crash fails the test here

    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failed <= {m["MessageId"] for m in messages}
    lost = [body for m, (body, _) in zip(messages, batch, strict=True) if m["MessageId"] in failed & good]
    assert not lost, f"good records lost: {lost}"
    errors = [r for r in world.logs.records if r.levelno >= logging.ERROR and hasattr(r, "message_id")]
    per_record = Counter(r.message_id for r in errors)  # type: ignore[attr-defined]
    assert set(per_record) == failed, "an ERROR line for a record that did not fail, or none for one that did"
    assert all(count == 1 for count in per_record.values()), per_record
    codes = {r.message_id: r.error_code for r in errors}  # type: ignore[attr-defined]
    world.codes.setdefault(function, Counter()).update(codes.values())
    assert all(r.error_type and r.error_code for r in errors)  # type: ignore[attr-defined]
    totals, by_code = emf_metrics(sink.lines)
    unexpected = [code for code in codes.values() if code != REJECTED_CODE]
    assert totals[REJECTED] == len(failed) - len(unexpected)
    assert totals[FAILED] == len(unexpected)
    assert totals[BATCH_FAILURES] == len(failed)
    assert sorted(line["ErrorCode"] for line in by_code) == sorted(unexpected)
    return codes


@settings(max_examples=examples(20))
@given(batch=batches(cloudtrail_events()))
def test_event_audit_batches(world: World, batch: list[tuple[str, bool]]) -> None:
    run_batch(world, "event_audit", "EventsQueue", batch)


@settings(max_examples=examples(20))
@given(batch=batches(audit_messages()))
def test_cluster_worker_batches(world: World, batch: list[tuple[str, bool]]) -> None:
    run_batch(world, "cluster_worker", "AuditQueue", batch)


@settings(max_examples=examples(10))
@given(batch=batches(spot_events()))
def test_spot_events_batches(world: World, batch: list[tuple[str, bool]]) -> None:
    run_batch(world, "spot_events", "SpotQueue", batch)


@contextlib.contextmanager
def failing(faults: dict[str, str]) -> Iterator[None]:
    """Each `service:Operation` in `faults` raises its AWS error code (as after botocore's retries)."""
    original = BaseClient._make_api_call

    def call(client: BaseClient, name: str, params: Any) -> Any:
        code = faults.get(f"{client.meta.service_model.endpoint_prefix}:{name}")
        if code:
            raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, name)
        return original(client, name, params)

    with patch.object(BaseClient, "_make_api_call", call):
        yield


@pytest.mark.parametrize(
    ("faults", "code"),
    [
        (
            {"dynamodb:Query": "ProvisionedThroughputExceededException"},
            "ProvisionedThroughputExceededException",
        ),
        (
            {
                "eks:DescribeCluster": "ThrottlingException",
                "dynamodb:UpdateItem": "TransactionConflictException",
            },
            "TransactionConflictException",
        ),
        # AccessDenied, not throttling: an unreadable cluster alerts (publishes) at once only when refused.
        (
            {"eks:DescribeCluster": "AccessDeniedException", "sns:Publish": "KMSAccessDenied"},
            "KMSAccessDenied",
        ),
        # Found by the fuzzing: a padded region audited (and recorded) a region no scan resolves.
        ({}, REJECTED_CODE),
    ],
    ids=["throttled-query", "write-conflict", "sns-kms-denied", "invalid-region"],
)
def test_an_unexpected_failure_is_one_error_line_and_a_metric(
    world: World, faults: dict[str, str], code: str
) -> None:
    """A record failed by a fault, not by its input: its ERROR line and RecordsFailed name the code."""
    event = sample("eks-update-cluster-config-public-cidrs.json")
    event["detail"]["requestParameters"] = {"name": f"fuzz-fault-{uuid.uuid4().hex[:8]}"}
    if code == REJECTED_CODE:
        event["detail"]["awsRegion"] = "us-east-1 "
    with failing(faults):
        codes = run_batch(world, "event_audit", "EventsQueue", [(json.dumps(event), False), ("{", False)])
    assert sorted(codes.values()) == sorted([code, REJECTED_CODE])


scheduler_inputs = st.one_of(
    json_junk,
    st.fixed_dictionaries({"id": st.one_of(odd_values, deep, text)}, optional={"detail": json_junk}),
    st.just(json.loads((EVENTS / "scheduled.json").read_text(encoding="utf-8"))),
    # The daily digest schedule's input (template: DailyDigestSchedule).
    st.just(
        json.loads((EVENTS / "scheduled.json").read_text(encoding="utf-8")) | {"detail": {"digest": "daily"}}
    ),
)


@settings(max_examples=examples(25))
@given(event=scheduler_inputs)
def test_schedule_input(world: World, event: Any) -> None:
    """Whatever the scheduler hands over, the fan-out runs, and every message it enqueues is one the worker
    accepts: its scan id, the pseudo-cluster of the region's pipeline audit, the digest flag only on the
    daily digest schedule's input."""
    context = LambdaContext(function_name="schedule", account=ACCOUNT, region=REGION)
    queue = world.account.queues["AuditQueue"]
    world.account.delete(queue, world.account.receive(queue, max_messages=1000))
    with LogSink().capture():
        result = load_handler("schedule").handler(event, context)
    # No live cluster here; clusters the other tests left findings for are fanned out as deleted.
    assert result["regions"] == [REGION] and result["enqueued"] >= 1
    assert len(result["scan_id"]) <= 128
    sent = world.account.receive(queue, max_messages=1000)
    world.account.delete(queue, sent)
    messages = [parse_cluster_audit_message(m["Body"]) for m in sent]  # raises for one the worker rejects
    assert len(messages) == result["enqueued"]
    assert {m.scan_id for m in messages} == {result["scan_id"]}
    assert [m.cluster for m in messages].count("-") == 1
    daily = (
        isinstance(event, dict)
        and isinstance(event.get("detail"), dict)
        and event["detail"].get("digest") == "daily"
    )
    assert all(not m.digest or (daily and not m.deleted) for m in messages)
