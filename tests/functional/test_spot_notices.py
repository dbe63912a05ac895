"""SpotBatch.process end to end on moto: EC2 instances tagged like nodes, the findings table, SNS -> SQS.

Events come from tests/functional/spot_events/ (EC2 user guide and aws-node-termination-handler shapes);
each case sets the event id, time and instance id, since moto picks instance ids.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from accounts import Topic, drain
from eks_auditor.metrics import CountingSink
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, Status
from eks_auditor.notify import Notifier
from eks_auditor.publish import Publisher
from eks_auditor.spot.notices import EventOutcome, SpotBatch, SpotBatchResult, window_start_of
from eks_auditor.store import FindingStore
from table import CallCounter

from eks_auditor_tools.fleet import MOTO_AMI

EVENTS = Path(__file__).parent / "spot_events"
REGION = "us-east-1"
ACCOUNT = "123456789012"
WINDOW = timedelta(minutes=15)
# The store's counter and claim TTLs are checked against the wall clock, so the tests live in the present.
NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW_START = window_start_of(NOW, WINDOW)

MANAGED = {
    "eks:cluster-name": "prod",
    "eks:nodegroup-name": "ng-spot",
    "kubernetes.io/cluster/prod": "owned",
    "aws:autoscaling:groupName": "eks-ng-spot-7ec5a1b2-0b7e-2f3a-9e6c-1f0c8e0d2a11",
}
KARPENTER = {
    "kubernetes.io/cluster/prod": "owned",
    "karpenter.sh/nodepool": "default",
    "eks:eks-cluster-name": "prod",
    "karpenter.k8s.aws/ec2nodeclass": "default",
    "karpenter.sh/nodeclaim": "default-x7k2p",
}
SELF_MANAGED = {"kubernetes.io/cluster/prod": "owned", "aws:autoscaling:groupName": "prod-spot-workers"}
NOT_EKS = {"Name": "bastion", "aws:autoscaling:groupName": "bastion-asg"}


@dataclass
class Account:
    ec2: Any
    store: FindingStore
    notifier: Notifier
    queue_url: str
    spot_only_queue_url: str
    sqs: Any
    ec2_calls: CallCounter
    image_id: str

    def launch(self, tags: dict[str, str], *, instance_type: str = "m5.large", az: str = "us-east-1b") -> str:
        response = self.ec2.run_instances(
            ImageId=self.image_id,
            MinCount=1,
            MaxCount=1,
            InstanceType=instance_type,
            Placement={"AvailabilityZone": az},
            InstanceMarketOptions={"MarketType": "spot"},
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ],
        )
        return str(response["Instances"][0]["InstanceId"])

    def process(self, events: list[dict[str, Any]], **kwargs: Any) -> SpotBatchResult:
        self.ec2_calls.reset()
        kwargs.setdefault("now", NOW)
        return spot_batch(self.ec2, self.store, self.notifier, **kwargs).process(events)

    def messages(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        """Every SNS message delivered so far (SNS -> SQS envelope), drained."""
        return drain(self.sqs, queue_url or self.queue_url)


def spot_batch(ec2_client: Any, store: FindingStore, notifier: Notifier | None, **kwargs: Any) -> SpotBatch:
    """A batch wired as the spot Lambda wires it: one publisher over the store and the notifier."""
    publisher = Publisher(store, notifier, metrics=kwargs.get("metrics"))
    return SpotBatch(ec2_client=ec2_client, store=store, publisher=publisher, **kwargs)


@pytest.fixture
def account(topic: Topic, store: FindingStore) -> Account:
    ec2 = boto3.client("ec2", region_name=REGION)
    return Account(
        ec2=ec2,
        store=store,
        notifier=Notifier(topic.arn, client=topic.sns),
        queue_url=topic.subscribe("all"),
        spot_only_queue_url=topic.subscribe("spot-only", {"check_id": ["spot_interruption_notice"]}),
        sqs=topic.sqs,
        ec2_calls=CallCounter(ec2),
        image_id=MOTO_AMI,
    )


def event(
    fixture: str = "interruption-warning.json",
    *,
    instance_id: str | None = None,
    at: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    text = (EVENTS / fixture).read_text()
    if instance_id:
        text = text.replace("i-0b662ef9931388ba0", instance_id)
    data: dict[str, Any] = json.loads(text)
    data["id"] = event_id or str(uuid.uuid4())
    if at is not None:
        data["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return data


def clock(moment: datetime) -> str:
    return (
        moment.strftime("%H:%M:%SZ") if moment.date() == NOW.date() else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def test_warning_for_a_managed_node_alerts_with_the_deadline(account: Account) -> None:
    instance = account.launch(MANAGED)
    sent = event(instance_id=instance, at=NOW)
    result = account.process([sent])

    assert [(r.outcome, r.cluster, r.node_group, r.duplicate) for r in result.results] == [
        (EventOutcome.HANDLED, "prod", "ng-spot", False)
    ]
    assert account.ec2_calls["DescribeInstances"] == 1
    [change] = result.changes
    deadline = NOW + timedelta(minutes=2)
    assert change.kind is ChangeKind.OPENED
    assert (
        change.finding.title
        == f"Spot interruption: {instance} in prod/ng-spot terminates at {clock(deadline)}"
    )
    assert dict(change.finding.evidence) == {
        "event_id": sent["id"],
        "signal": "interruption_warning",
        "instance_id": instance,
        "instance_type": "m5.large",
        "availability_zone": "us-east-1b",
        "cluster": "prod",
        "node_group": "ng-spot",
        "node_group_kind": "managed",
        "action": "terminate",
        "event_time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "deadline": deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "instance_lifecycle": "spot",
        "instance_state": "running",
    }
    assert change.finding.expires_at == NOW + timedelta(days=7)

    stored = account.store.get(change.finding.id)
    assert stored is not None
    assert (stored.check_id, stored.severity, stored.source) == (
        "spot_interruption_notice",
        Severity.MEDIUM,
        sent["id"],
    )

    [message] = account.messages()
    attributes = {name: value["Value"] for name, value in message["MessageAttributes"].items()}
    assert (attributes["check_id"], attributes["severity"], attributes["cluster"]) == (
        "spot_interruption_notice",
        "MEDIUM",
        "prod",
    )
    body = json.loads(message["Message"])
    # The finding's title (with the deadline) is in the message's title, not repeated in its description.
    assert change.finding.title in body["content"]["title"]
    assert change.finding.title not in body["content"]["description"]
    # A subscription filtered on check_id takes the notice.
    assert len(account.messages(account.spot_only_queue_url)) == 1


@pytest.mark.parametrize(
    ("tags", "cluster", "group", "kind"),
    [
        (KARPENTER, "prod", "default", "karpenter"),
        (SELF_MANAGED, "prod", "prod-spot-workers", "self-managed"),
    ],
)
def test_karpenter_and_self_managed_nodes_map_to_their_group(
    account: Account, tags: dict[str, str], cluster: str, group: str, kind: str
) -> None:
    instance = account.launch(tags, instance_type="c5.xlarge", az="us-east-1a")
    result = account.process([event("interruption-warning-instance_id.json", instance_id=instance, at=NOW)])
    [change] = result.changes
    evidence = change.finding.evidence
    assert (evidence["cluster"], evidence["node_group"], evidence["node_group_kind"]) == (
        cluster,
        group,
        kind,
    )
    assert (evidence["instance_type"], evidence["availability_zone"], evidence["action"]) == (
        "c5.xlarge",
        "us-east-1a",
        "stop",
    )
    assert change.finding.title.startswith(f"Spot interruption: {instance} in {cluster}/{group} stops at ")


def test_rebalance_recommendation_alerts_without_a_deadline(account: Account) -> None:
    instance = account.launch(MANAGED)
    result = account.process([event("rebalance-recommendation.json", instance_id=instance, at=NOW)])
    [change] = result.changes
    assert change.finding.title == (
        f"Spot rebalance recommendation: {instance} in prod/ng-spot is at elevated risk of interruption"
    )
    assert change.finding.evidence["deadline"] is None
    # A later interruption warning for the same instance is news: it alerts again (another event id).
    later = account.process([event(instance_id=instance, at=NOW + timedelta(minutes=1))])
    assert [c.finding.id for c in later.changes] == [change.finding.id]
    assert len(account.messages()) == 2


def test_instance_that_is_not_an_eks_node_is_ignored_with_a_metric(account: Account) -> None:
    instance = account.launch(NOT_EKS)
    sink = CountingSink()
    result = account.process([event(instance_id=instance, at=NOW)], metrics=sink)
    assert [(r.outcome, r.reason) for r in result.results] == [
        (EventOutcome.IGNORED, f"instance {instance} is not an EKS node (no cluster tag)")
    ]
    assert result.changes == ()
    assert account.messages() == []
    assert sink.counts["SpotEventsIgnoredNotEks"] == 1


def test_instance_already_gone_is_logged_and_counted_without_a_finding(account: Account) -> None:
    # DESIGN §5: an instance that no longer exists cannot be mapped; no finding on cluster "unknown".
    sink = CountingSink()
    result = account.process([event(instance_id="i-0aaaaaaaaaaaaaaa1", at=NOW)], metrics=sink)
    assert result.changes == ()
    assert [(r.outcome, r.cluster, r.reason) for r in result.results] == [
        (
            EventOutcome.IGNORED,
            None,
            "instance i-0aaaaaaaaaaaaaaa1 not found at DescribeInstances: cannot be mapped to a cluster",
        )
    ]
    assert sink.counts["SpotInstancesNotFound"] == 1
    assert account.messages() == []


def test_duplicate_event_does_not_alert_twice(account: Account) -> None:
    instance = account.launch(MANAGED)
    sent = event(instance_id=instance, at=NOW)
    first = account.process([sent, sent])
    assert [r.duplicate for r in first.results] == [False, True]
    redelivered = account.process([sent], now=NOW + timedelta(minutes=5))
    assert [(r.outcome, r.duplicate) for r in redelivered.results] == [(EventOutcome.HANDLED, True)]
    assert redelivered.changes == ()
    assert len(account.messages()) == 1


def test_batch_of_ten_one_describe_call_and_bad_events_fail_alone(account: Account) -> None:
    instances = [account.launch(MANAGED if i % 2 else KARPENTER) for i in range(6)]
    bastion = account.launch(NOT_EKS)
    batch = [event(instance_id=i, at=NOW) for i in instances[:5]]
    batch.append(event("interruption-warning-instance_id.json", instance_id=instances[5], at=NOW))
    batch.append(event(instance_id=bastion, at=NOW))
    batch.append(event("interruption-warning-missing-instance-id.json", event_id="bad-missing-id"))
    batch.append(event("interruption-warning-bad-time.json", event_id="bad-time"))
    batch.append(event("interruption-warning-unknown-action.json", event_id="bad-action"))

    result = account.process(batch, burst_threshold=100)

    assert account.ec2_calls["DescribeInstances"] == 1
    assert result.describe_calls == 1
    assert [r.outcome for r in result.results] == [EventOutcome.HANDLED] * 6 + [EventOutcome.IGNORED] + [
        EventOutcome.FAILED
    ] * 3
    assert [(r.index, r.reason, r.retryable) for r in result.failed] == [
        (
            7,
            "event bad-missing-id: no instance id: detail has no 'instance-id' and no resource is an "
            "instance ARN",
            False,
        ),
        (
            8,
            "event bad-time: time 'yyyy-mm-ddThh:mm:ssZ' is not an ISO 8601 timestamp such as "
            "2024-05-01T12:00:00Z",
            False,
        ),
        (
            9,
            "event bad-action: unknown instance-action 'action' (expected one of terminate, stop, hibernate)",
            False,
        ),
    ]
    assert result.failed_indexes == (7, 8, 9)
    assert len(result.changes) == 6
    assert len(account.messages()) == 6


def test_burst_in_one_node_group_raises_one_high_finding_and_one_alert(account: Account) -> None:
    instances = [account.launch(MANAGED) for _ in range(5)]
    other_group = account.launch({**MANAGED, "eks:nodegroup-name": "ng-other"})
    batch = [
        event(instance_id=i, at=WINDOW_START + timedelta(seconds=10 * n)) for n, i in enumerate(instances)
    ]
    batch.append(event(instance_id=other_group, at=WINDOW_START))

    result = account.process(batch)

    bursts = [c for c in result.changes if c.finding.check_id == "spot_interruption_burst"]
    assert len(bursts) == 1
    burst = bursts[0].finding
    assert (burst.severity, burst.cluster, burst.resource) == (
        Severity.HIGH,
        "prod",
        f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/prod/nodegroup/ng-spot",
    )
    assert burst.evidence["interruptions"] == 3
    assert burst.evidence["triggering_instance_id"] == instances[2]
    assert burst.evidence["window_start"] == WINDOW_START.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert bursts[0].finding.id in result.results[2].finding_ids
    messages = account.messages()
    assert (
        sorted(m["MessageAttributes"]["check_id"]["Value"] for m in messages)
        == ["spot_interruption_burst"] + ["spot_interruption_notice"] * 6
    )
    # The spot-notice-only subscription does not get the burst.
    assert len(account.messages(account.spot_only_queue_url)) == 6


def test_rebalance_recommendations_do_not_count_toward_a_burst(account: Account) -> None:
    instances = [account.launch(MANAGED) for _ in range(3)]
    result = account.process(
        [event("rebalance-recommendation.json", instance_id=i, at=NOW) for i in instances]
    )
    assert [c.finding.check_id for c in result.changes] == ["spot_interruption_notice"] * 3


def test_next_window_can_burst_again(account: Account) -> None:
    instances = [account.launch(MANAGED) for _ in range(6)]
    first = account.process([event(instance_id=i, at=WINDOW_START - WINDOW) for i in instances[:3]])
    second = account.process([event(instance_id=i, at=WINDOW_START) for i in instances[3:]])
    assert [c.finding.check_id for c in first.changes].count("spot_interruption_burst") == 1
    assert [c.finding.check_id for c in second.changes].count("spot_interruption_burst") == 1


@pytest.fixture
def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moto's backends are not thread-safe (a shared dict changes under iteration, an ADD loses an update);
    DynamoDB itself applies each request atomically. Serialize moto per request, so concurrent invocations
    still interleave at every request boundary, which is where real races happen.
    """
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.Lock()
    unlocked = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return unlocked(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)


@pytest.mark.usefixtures("atomic_requests")
def test_burst_across_concurrent_invocations_is_counted_once(account: Account) -> None:
    instances = [account.launch(MANAGED) for _ in range(8)]
    events = [event(instance_id=i, at=WINDOW_START + timedelta(seconds=n)) for n, i in enumerate(instances)]
    results: list[SpotBatchResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(events))

    def clients() -> dict[str, Any]:
        # One Lambda invocation each. botocore clients are thread-safe, so the invocations share the
        # account's clients (creating 24 costs seconds); what they race on is the table.
        return {
            "ec2_client": account.ec2,
            "store": FindingStore(account.store.table_name, client=account.store.client),
            "notifier": Notifier(account.notifier.topic_arn, client=account.notifier.client),
        }

    invocations = [(one, clients()) for one in events]

    def invoke(one: dict[str, Any], wired: dict[str, Any]) -> None:
        try:
            start.wait()
            results.append(spot_batch(**wired, now=NOW).process([one]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=invoke, args=invocation) for invocation in invocations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [(r.outcome, r.reason) for res in results for r in res.results] == [
        (EventOutcome.HANDLED, None)
    ] * 8
    changes = [c for r in results for c in r.changes]
    assert (
        sorted(c.finding.check_id for c in changes)
        == ["spot_interruption_burst"] + ["spot_interruption_notice"] * 8
    )
    messages = account.messages()
    assert [m["MessageAttributes"]["check_id"]["Value"] for m in messages].count(
        "spot_interruption_burst"
    ) == 1
    # Every interruption was counted: the ninth makes 9, not fewer.
    late = account.process([event(instance_id=account.launch(MANAGED), at=WINDOW_START)])
    assert late.changes[0].finding.check_id == "spot_interruption_notice"
    count = account.store.increment_counter(
        f"{ACCOUNT}#{REGION}#prod#ng-spot#{WINDOW_START.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        member="one-more-event",
        expires_at=NOW + timedelta(hours=1),
    )
    assert count == 10


def test_describe_instances_failure_fails_the_events_for_retry(account: Account) -> None:
    instance = account.launch(MANAGED)

    def deny(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "UnauthorizedOperation", "Message": "not authorized"}}, "DescribeInstances"
        )

    account.ec2.meta.events.register("before-call.ec2.DescribeInstances", deny)
    result = account.process(
        [event(instance_id=instance, at=NOW), event("interruption-warning-bad-time.json")]
    )
    assert [(r.outcome, r.retryable) for r in result.results] == [
        (EventOutcome.FAILED, True),
        (EventOutcome.FAILED, False),
    ]
    assert result.results[0].reason == (
        "DescribeInstances failed in us-east-1: ClientError: An error occurred (UnauthorizedOperation) "
        "when calling the DescribeInstances operation: not authorized"
    )
    assert account.messages() == []


def test_event_from_another_region_needs_a_client_for_it(account: Account) -> None:
    instance = account.launch(MANAGED)
    elsewhere = event(instance_id="i-0bbbbbbbbbbbbbbb2", at=NOW)
    elsewhere["region"] = "eu-west-1"
    result = account.process([event(instance_id=instance, at=NOW), elsewhere])
    assert [(r.outcome, r.reason) for r in result.results] == [
        (EventOutcome.HANDLED, None),
        (EventOutcome.FAILED, "event from region eu-west-1; this function reads EC2 in us-east-1 only"),
    ]
    served = account.process(
        [elsewhere], ec2_client_for=lambda region: boto3.client("ec2", region_name=region)
    )
    # Read in eu-west-1 (no FAILED), where the instance does not exist: not mappable, no finding.
    assert [(r.outcome, r.cluster) for r in served.results] == [(EventOutcome.IGNORED, None)]
    assert served.changes == ()


def test_alert_lost_to_an_sns_failure_goes_out_on_the_retry(account: Account) -> None:
    instance = account.launch(MANAGED)
    sent = event(instance_id=instance, at=NOW)

    def throttle(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Publish")

    sns = account.notifier.client
    sns.meta.events.register("before-call.sns.Publish", throttle)
    failed = account.process([sent])
    assert [(r.outcome, r.retryable) for r in failed.results] == [(EventOutcome.FAILED, True)]
    sns.meta.events.unregister("before-call.sns.Publish", throttle)

    # A concurrent duplicate (younger than the store's outbox grace) leaves the publish to the first
    # invocation; SQS redelivers the failed message after the SpotQueue's visibility timeout (6 minutes).
    too_soon = account.process([sent], now=NOW + timedelta(seconds=5))
    assert too_soon.changes == ()
    retried = account.process([sent], now=NOW + timedelta(minutes=6))
    assert [(r.outcome, r.duplicate) for r in retried.results] == [(EventOutcome.HANDLED, True)]
    assert [c.finding.check_id for c in retried.changes] == ["spot_interruption_notice"]
    again = account.process([sent], now=NOW + timedelta(minutes=7))
    assert again.changes == ()
    assert len(account.messages()) == 1


def test_without_a_notifier_changes_are_recorded_and_returned_unpublished(account: Account) -> None:
    instance = account.launch(MANAGED)
    result = spot_batch(account.ec2, account.store, None, now=NOW).process(
        [event(instance_id=instance, at=NOW)]
    )
    [change] = result.changes
    assert account.messages() == []
    # The change stays in the outbox for a publisher to pick up.
    assert [c.change_id for c in account.store.pending_changes(ACCOUNT, REGION, "prod")] == [change.change_id]


# --- suppressions: the same store path as the engine's findings ----------------------------------------


def suppress(account: Account, check_id: str, *, until: datetime, resource: str | None = None) -> None:
    from eks_auditor.suppressions import Suppression

    account.store.put_suppression(
        Suppression(
            check_id=check_id,
            cluster="prod",
            resource=resource,
            reason="ng-spot is being diversified (OPS-42)",
            author="sre@example.com",
            created_at=NOW - timedelta(hours=1),
            expires_at=until,
        )
    )


def sent_checks(account: Account) -> list[tuple[str, str]]:
    return sorted(
        (m["MessageAttributes"]["check_id"]["Value"], m["MessageAttributes"]["change"]["Value"])
        for m in account.messages()
    )


def test_suppressed_burst_is_stored_suppressed_without_an_alert(account: Account) -> None:
    suppress(account, "spot_interruption_burst", until=NOW + timedelta(days=1))
    instances = [account.launch(MANAGED) for _ in range(6)]

    first = account.process([event(instance_id=i, at=WINDOW_START - WINDOW) for i in instances[:3]])

    [burst] = [c for c in first.changes if c.finding.check_id == "spot_interruption_burst"]
    assert (burst.kind, burst.finding.status) == (ChangeKind.SUPPRESSED, Status.SUPPRESSED)
    assert "OPS-42" in (burst.reason or "")
    assert sent_checks(account) == [("spot_interruption_notice", "OPENED")] * 3
    stored = account.store.get(burst.finding.id)
    assert stored is not None and stored.status is Status.SUPPRESSED
    assert account.store.pending_changes(ACCOUNT, REGION, "prod") == []  # recorded, nothing left to send

    # Still accepted in the next window: the burst is recorded again quietly, no change and no alert.
    second = account.process([event(instance_id=i, at=WINDOW_START) for i in instances[3:]])
    assert [c.finding.check_id for c in second.changes] == ["spot_interruption_notice"] * 3
    assert sent_checks(account) == [("spot_interruption_notice", "OPENED")] * 3
    assert [e.kind for e in account.store.history(burst.finding.id)] == [ChangeKind.SUPPRESSED]


def test_burst_after_the_suppression_expired_is_unsuppressed_and_alerts(account: Account) -> None:
    suppress(account, "spot_interruption_burst", until=NOW + timedelta(minutes=1))
    instances = [account.launch(MANAGED) for _ in range(6)]
    account.process([event(instance_id=i, at=WINDOW_START - WINDOW) for i in instances[:3]])
    account.messages()

    later = account.process(
        [event(instance_id=i, at=WINDOW_START) for i in instances[3:]], now=NOW + timedelta(minutes=2)
    )

    [burst] = [c for c in later.changes if c.finding.check_id == "spot_interruption_burst"]
    assert (burst.kind, burst.previous_status, burst.finding.status) == (
        ChangeKind.UNSUPPRESSED,
        Status.SUPPRESSED,
        Status.OPEN,
    )
    assert (burst.reason or "").startswith("expired: suppression ")
    messages = account.messages()
    [alert] = [m for m in messages if m["MessageAttributes"]["check_id"]["Value"].endswith("_burst")]
    assert alert["MessageAttributes"]["change"]["Value"] == "UNSUPPRESSED"
    assert alert["MessageAttributes"]["severity"]["Value"] == "HIGH"
    assert "[HIGH] UNSUPPRESSED spot_interruption_burst on prod" in alert["Subject"]
    assert [e.kind for e in account.store.history(burst.finding.id)] == [
        ChangeKind.SUPPRESSED,
        ChangeKind.UNSUPPRESSED,
    ]


def test_suppressed_notice_of_one_instance_sends_nothing(account: Account) -> None:
    quiet, loud = account.launch(MANAGED), account.launch(MANAGED)
    suppress(account, "spot_interruption_notice", until=NOW + timedelta(days=1), resource=f".*/{quiet}")

    result = account.process([event(instance_id=quiet, at=NOW), event(instance_id=loud, at=NOW)])

    assert [(c.kind, c.finding.resource.rsplit("/", 1)[-1]) for c in result.changes] == [
        (ChangeKind.SUPPRESSED, quiet),
        (ChangeKind.OPENED, loud),
    ]
    assert [m["MessageAttributes"]["change"]["Value"] for m in account.messages()] == ["OPENED"]
    # A redelivery of the suppressed event is a duplicate, as for any other event.
    again = account.process([event(instance_id=quiet, at=NOW, event_id=result.results[0].event_id)])
    assert [(r.duplicate, r.outcome) for r in again.results] == [(True, EventOutcome.HANDLED)]
    assert again.changes == ()


def test_burst_counts_a_notice_whose_publish_failed_exactly_once_on_its_retry(account: Account) -> None:
    instances = [account.launch(MANAGED) for _ in range(4)]
    sent = [
        event(instance_id=i, at=WINDOW_START + timedelta(seconds=10 * n)) for n, i in enumerate(instances)
    ]
    account.process(sent[:2])

    def throttle(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Publish")

    sns = account.notifier.client
    sns.meta.events.register("before-call.sns.Publish", throttle)
    failed = account.process([sent[2]])
    sns.meta.events.unregister("before-call.sns.Publish", throttle)
    assert [(r.outcome, r.retryable) for r in failed.results] == [(EventOutcome.FAILED, True)]

    retried = account.process([sent[2]], now=NOW + timedelta(minutes=6))
    redelivered = account.process([sent[2]], now=NOW + timedelta(minutes=7))
    fourth = account.process([sent[3]], now=NOW + timedelta(minutes=8))

    assert [(r.outcome, r.duplicate) for r in retried.results] == [(EventOutcome.HANDLED, True)]
    assert sorted(c.finding.check_id for c in retried.changes) == [
        "spot_interruption_burst",
        "spot_interruption_notice",
    ]
    assert redelivered.changes == ()
    assert [c.finding.check_id for c in fourth.changes] == ["spot_interruption_notice"]
    checks = [m["MessageAttributes"]["check_id"]["Value"] for m in account.messages()]
    assert sorted(checks) == ["spot_interruption_burst"] + ["spot_interruption_notice"] * 4
    [burst] = [c for c in retried.changes if c.finding.check_id == "spot_interruption_burst"]
    assert (burst.finding.severity, burst.finding.evidence["interruptions"]) == (Severity.HIGH, 3)
    key = f"{ACCOUNT}#{REGION}#prod#ng-spot#{WINDOW_START.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    # Four notices, each counted once: the failed third's retry and redelivery added nothing.
    assert (
        account.store.increment_counter(key, member=sent[3]["id"], expires_at=NOW + timedelta(hours=1)) == 4
    )
