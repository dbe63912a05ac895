"""The Lambda handlers (functions/*/app.py), invoked in-process as Lambda would, in the embedded account.

`embedded_account()` deploys the template's table, topic, queues and rules into moto and serves each
demo cluster's Kubernetes API. Each test works on its own cluster so the tests do not depend on order.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from eks_auditor.model.finding import Status
from eks_auditor.store import FindingQuery, FindingStore
from eks_auditor.triggers import EKS_EVENT_CHECKS
from table import make_evaluation, make_finding

from eks_auditor_tools.demo.account import DemoAccount
from eks_auditor_tools.demo.fleet import ACCOUNT, REGION, Fleet
from eks_auditor_tools.demo.lambdas import LogSink, invoke, load_handler, sqs_event
from eks_auditor_tools.demo.run import embedded_account

EVENTS = Path(__file__).resolve().parents[2] / "events"
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@dataclass
class Embedded:
    session: boto3.Session
    fleet: Fleet
    account: DemoAccount
    environ: dict[str, str]

    @property
    def store(self) -> FindingStore:
        return FindingStore(self.account.findings_table, client=self.account.client("dynamodb"))


@pytest.fixture(scope="module")
def embedded() -> Iterator[Embedded]:
    with embedded_account() as (session, fleet, account):
        yield Embedded(session, fleet, account, dict(os.environ))


@pytest.fixture
def world(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Embedded:
    """The functions' environment (and the credentials the Kubernetes servers expect) for this test."""
    for name, value in embedded.environ.items():
        monkeypatch.setenv(name, value)
    return embedded


def sample(name: str, replacements: dict[str, str] | None = None, **changes: Any) -> dict[str, Any]:
    text = (EVENTS / name).read_text(encoding="utf-8")
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    event: dict[str, Any] = json.loads(text)
    event["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event.update(changes)
    return event


def message(body: Any) -> dict[str, Any]:
    """A received SQS message (what sqs_event turns into a Lambda record)."""
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": str(uuid.uuid4()),
        "Body": body if isinstance(body, str) else json.dumps(body),
    }


def run(world: Embedded, function: str, queue: str, messages: list[dict[str, Any]], logs: LogSink) -> Any:
    return invoke(
        function,
        sqs_event(messages, world.account.queue_arn(queue)),
        account=ACCOUNT,
        region=REGION,
        logs=logs,
    )


def failures(response: Any) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def received(world: Embedded) -> set[tuple[str, str, str, str]]:
    """(change, check_id, status, cluster) of every message the security team's queue got since last read."""
    return {
        (
            m["attributes"]["change"],
            m["attributes"]["check_id"],
            m["attributes"]["status"],
            m["attributes"]["cluster"],
        )
        for m in world.account.slack_messages(world.account.security_queue)
        # The first scan's baseline digest is a summary, not a finding change (test_notify_baseline).
        if m["attributes"]["change"] != "DIGEST"
    }


def open_findings(world: Embedded, cluster: str) -> dict[str, Any]:
    page = world.store.query(
        FindingQuery(cluster=cluster, account=ACCOUNT, region=REGION, status=Status.OPEN, limit=200)
    )
    return {f.check_id: f for f in page.items}


def error_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    # caplog, not the LogSink: Powertools configures the service's logger once per process, bound to
    # whichever stdout the first handler module was imported under.
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name == "eks-auditor"]


# The checks UpdateClusterConfig re-runs that the event_audit test names: on prod-web the first three fail.
NAMED_PROD_WEB_CHECKS = frozenset(
    {
        "endpoint_public_unrestricted",
        "endpoint_private_access_disabled",
        "control_plane_logging_disabled",
        "endpoint_nodes_blocked_by_cidrs",
        "secrets_encryption_disabled",
        "cluster_subnet_ip_low",
    }
)


# --- event_audit -------------------------------------------------------------------------------------


def test_event_audit_fails_exactly_the_bad_items_and_audits_the_good_one(
    world: Embedded, caplog: pytest.LogCaptureFixture
) -> None:
    received(world)  # start from an empty security queue
    good = message(sample("eks-update-cluster-config-public-cidrs.json", {"demo-public": "prod-web"}))
    malformed = message('{"detail-type": "garbage"')
    unknown_event = sample("eks-update-cluster-config-public-cidrs.json", {"demo-public": "prod-web"})
    unknown_event["id"] = str(uuid.uuid4())
    unknown_event["detail"]["eventName"] = "TagResource"
    unknown = message(unknown_event)
    failed_call = message(sample("eks-update-cluster-config-error.json", {"demo-public": "prod-web"}))
    logs = LogSink()

    response = run(world, "event_audit", "EventsQueue", [good, malformed, unknown, failed_call], logs)

    assert failures(response) == [malformed["MessageId"], unknown["MessageId"]]
    opened = open_findings(world, "prod-web")
    assert opened["endpoint_public_unrestricted"].source == json.loads(good["Body"])["id"]
    # Only the good event's cluster changed, only through checks that declare UpdateClusterConfig; the
    # ones this test is about are named (a check added later that fails here adds a message).
    routed = EKS_EVENT_CHECKS["UpdateClusterConfig"] or frozenset()
    changes = received(world)
    assert {(kind, state, name) for kind, _, state, name in changes} == {("OPENED", "OPEN", "prod-web")}
    assert {check for _, check, _, _ in changes} <= routed
    assert {check for _, check, _, _ in changes} & NAMED_PROD_WEB_CHECKS == {
        "endpoint_public_unrestricted",
        "endpoint_private_access_disabled",
        "control_plane_logging_disabled",
    }
    errors = error_messages(caplog)
    assert any(e.startswith("rejected event: Expecting ',' delimiter") for e in errors), errors
    assert (
        f"rejected event: event {unknown_event['id']}: EKS call TagResource is not one we audit for" in errors
    )


def test_event_audit_audits_the_same_event_id_once(world: Embedded, monkeypatch: pytest.MonkeyPatch) -> None:
    event = sample(
        "eks-update-cluster-config-public-cidrs.json", {"demo-public": "analytics"}, id=str(uuid.uuid4())
    )
    logs = LogSink()
    with logs.capture():
        auditor = load_handler("event_audit").runtime.auditor
    audited: list[str] = []
    real_audit = auditor.audit

    def counting_audit(region: str, cluster: str, **kwargs: Any) -> Any:
        audited.append(cluster)
        return real_audit(region, cluster, **kwargs)

    monkeypatch.setattr(auditor, "audit", counting_audit)
    received(world)

    first = run(world, "event_audit", "EventsQueue", [message(event)], logs)
    first_messages = received(world)
    # EventBridge delivers at least once: the same event again, in another SQS message.
    second = run(world, "event_audit", "EventsQueue", [message(event)], logs)

    assert failures(first) == failures(second) == []
    assert audited == ["analytics"]
    assert ("OPENED", "endpoint_nodes_blocked_by_cidrs", "OPEN", "analytics") in first_messages
    assert received(world) == set()


def test_event_without_an_id_fails_alone(world: Embedded) -> None:
    no_id = sample("eks-associate-access-policy.json", {"demo-public": "platform"})
    del no_id["id"]
    good = message(
        sample("eks-associate-access-policy.json", {"demo-public": "platform"}, id=str(uuid.uuid4()))
    )
    bad = message(no_id)
    response = run(world, "event_audit", "EventsQueue", [bad, good], LogSink())
    assert failures(response) == [bad["MessageId"]]


def test_event_audit_records_the_pipeline_heartbeat_once_per_batch(
    world: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eks_auditor.store.heartbeat import HeartbeatStore

    logs = LogSink()
    with logs.capture():
        heartbeats = load_handler("event_audit").runtime.heartbeats
    assert heartbeats is not None
    written: list[str] = []
    real_record = heartbeats.record_event

    def counting_record(account: str, region: str, **kwargs: Any) -> bool:
        written.append(kwargs["event_id"])
        return real_record(account, region, **kwargs)

    monkeypatch.setattr(heartbeats, "record_event", counting_record)
    # A call that failed (errorCode) was delivered all the same: the pipeline works.
    failed = sample("eks-update-cluster-config-error.json", {"demo-public": "prod-web"}, id=str(uuid.uuid4()))
    good = sample("eks-associate-access-policy.json", {"demo-public": "platform"}, id=str(uuid.uuid4()))

    response = run(world, "event_audit", "EventsQueue", [message(failed), message(good)], logs)

    assert failures(response) == []
    assert written == [failed["id"]]  # one write for the account-region, not one per event
    heartbeat = HeartbeatStore(world.account.findings_table, client=world.account.client("dynamodb")).read(
        ACCOUNT, REGION
    )
    assert (heartbeat.last_event_id, heartbeat.last_event_name) == (failed["id"], "UpdateClusterConfig")
    received(world)


# --- schedule ----------------------------------------------------------------------------------------


def test_schedule_enqueues_one_audit_message_per_cluster(world: Embedded) -> None:
    queue = world.account.queues["AuditQueue"]
    world.account.delete(queue, world.account.receive(queue, max_messages=100))
    result = invoke("schedule", sample("scheduled.json"), account=ACCOUNT, region=REGION, logs=LogSink())
    # Every cluster and one pipeline audit ("-") for the region.
    assert result == {"scan_id": "scan-d32c5kddcf5bb8c3", "enqueued": 8, "regions": [REGION]}

    messages = world.account.receive(queue, max_messages=100)
    world.account.delete(queue, messages)
    bodies = sorted((json.loads(m["Body"]) for m in messages), key=lambda body: body["cluster"])
    assert bodies == [
        {"account": ACCOUNT, "region": REGION, "cluster": name, "scan_id": "scan-d32c5kddcf5bb8c3"}
        for name in sorted(["-", *world.fleet.clusters])
    ]
    assert len(bodies) == 8


# --- cluster_worker ----------------------------------------------------------------------------------


def test_cluster_worker_fails_only_the_malformed_message(
    world: Embedded, caplog: pytest.LogCaptureFixture
) -> None:
    good = message({"account": ACCOUNT, "region": REGION, "cluster": "batch", "scan_id": "scan-worker"})
    not_json = message("audit batch please")
    incomplete = message({"account": ACCOUNT, "region": REGION})
    logs = LogSink()

    response = run(world, "cluster_worker", "AuditQueue", [not_json, good, incomplete], logs)

    assert failures(response) == [not_json["MessageId"], incomplete["MessageId"]]
    opened = open_findings(world, "batch")
    assert opened["ip_capacity_exhaustion_risk"].source == "scan-worker"
    assert opened["spot_single_instance_type"].source == "scan-worker"
    errors = error_messages(caplog)
    assert any(e.startswith("rejected audit message: audit message is not JSON") for e in errors), errors
    assert "rejected audit message: audit message lacks cluster, scan_id" in errors


def test_cluster_worker_resolves_a_cluster_the_schedule_found_deleted(world: Embedded) -> None:
    stored = make_finding(
        cluster="long-gone", resource="arn:aws:eks:us-east-1:123456789012:cluster/long-gone"
    )
    world.store.apply_evaluation(make_evaluation([stored], cluster="long-gone"))
    received(world)
    gone = message(
        {"account": ACCOUNT, "region": REGION, "cluster": "long-gone", "scan_id": "scan-x", "deleted": True}
    )
    response = run(world, "cluster_worker", "AuditQueue", [gone], LogSink())
    assert failures(response) == []
    assert open_findings(world, "long-gone") == {}
    resolved = world.store.get(stored.id)
    assert resolved is not None and (resolved.status, resolved.source) == (Status.RESOLVED, "scan-x")
    assert received(world) == {("RESOLVED", "endpoint_public_unrestricted", "RESOLVED", "long-gone")}


def test_cluster_worker_audits_the_pipeline_for_the_pseudo_cluster(world: Embedded) -> None:
    events = world.account.client("events")
    rule = world.account.rules["EksApiCallsRule"]
    received(world)

    def audit(scan_id: str) -> Any:
        pipeline = message({"account": ACCOUNT, "region": REGION, "cluster": "-", "scan_id": scan_id})
        cluster = message({"account": ACCOUNT, "region": REGION, "cluster": "batch", "scan_id": scan_id})
        # In one batch with a cluster: the two are audited side by side.
        return run(world, "cluster_worker", "AuditQueue", [pipeline, cluster], LogSink())

    events.disable_rule(Name=rule)
    try:
        response = audit("scan-pipeline-1")
    finally:
        events.enable_rule(Name=rule)

    assert failures(response) == []
    broken = open_findings(world, "-")["pipeline_rule_broken"]
    assert (broken.source, broken.evidence["rule"]) == ("scan-pipeline-1", "EksApiCallsRule")
    assert ("OPENED", "pipeline_rule_broken", "OPEN", "-") in received(world)

    assert failures(audit("scan-pipeline-2")) == []
    assert "pipeline_rule_broken" not in open_findings(world, "-")
    assert ("RESOLVED", "pipeline_rule_broken", "RESOLVED", "-") in received(world)
    # The pseudo-cluster is no EKS cluster: the schedule never takes it for a deleted one.
    assert "-" not in world.store.known_clusters(ACCOUNT, REGION)


# --- spot_events -------------------------------------------------------------------------------------


def test_spot_events_fails_only_the_malformed_message(world: Embedded) -> None:
    instance = world.fleet.instances["spot-3"]
    received(world)
    warning = message(
        sample("spot-interruption-warning.json", {"i-0123456789abcdef0": instance}, id=str(uuid.uuid4()))
    )
    malformed = message('{"detail-type": "EC2 Spot Instance Interruption Warning"')
    not_spot = message({"detail-type": "Something else", "id": "x"})
    logs = LogSink()

    response = run(world, "spot_events", "SpotQueue", [warning, malformed, not_spot], logs)

    assert failures(response) == [malformed["MessageId"], not_spot["MessageId"]]
    notice = open_findings(world, "batch")["spot_interruption_notice"]
    assert instance in notice.resource
    assert notice.evidence["deadline"]
    assert ("OPENED", "spot_interruption_notice", "OPEN", "batch") in received(world)


def test_spot_events_record_the_pipeline_heartbeat(world: Embedded) -> None:
    from eks_auditor.store.heartbeat import HeartbeatStore

    instance = world.fleet.instances["spot-3"]
    event_id = str(uuid.uuid4())
    warning = message(
        sample("spot-interruption-warning.json", {"i-0123456789abcdef0": instance}, id=event_id)
    )

    response = run(world, "spot_events", "SpotQueue", [warning], LogSink())

    assert failures(response) == []
    heartbeat = HeartbeatStore(world.account.findings_table, client=world.account.client("dynamodb")).read(
        ACCOUNT, REGION
    )
    # pipeline_silent counts spot notices as events the pipeline delivered, like CloudTrail calls.
    assert (heartbeat.last_event_id, heartbeat.last_event_name) == (event_id, "interruption_warning")
    received(world)
