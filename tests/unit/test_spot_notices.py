"""The notice and burst findings built from a signal and the node it names, without AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status, finding_id
from eks_auditor.spot.events import InstanceAction, SignalKind, SpotSignal
from eks_auditor.spot.mapping import EksNode, InstanceFacts, NodeGroupKind
from eks_auditor.spot.notices import (
    EVENT_CHECK_SPECS,
    SPOT_INTERRUPTION_BURST,
    SPOT_INTERRUPTION_NOTICE,
    burst_counter_key,
    burst_finding,
    notice_finding,
    window_start_of,
)

NOW = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
TTL = timedelta(days=7)
WARNING = SpotSignal(
    event_id="1e5527d7-bb36-4607-3370-4164db56a40e",
    kind=SignalKind.INTERRUPTION_WARNING,
    instance_id="i-0b662ef9931388ba0",
    action=InstanceAction.TERMINATE,
    time=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    deadline=datetime(2024, 5, 1, 12, 2, tzinfo=UTC),
    account="123456789012",
    region="us-east-1",
)
REBALANCE = WARNING.model_copy(
    update={"kind": SignalKind.REBALANCE_RECOMMENDATION, "action": None, "deadline": None, "event_id": "r-1"}
)
NODE = EksNode(
    instance=InstanceFacts(
        instance_id="i-0b662ef9931388ba0",
        instance_type="m5.large",
        availability_zone="us-east-1b",
        lifecycle="spot",
        state="running",
        tags={"eks:cluster-name": "prod", "eks:nodegroup-name": "ng-spot"},
    ),
    cluster="prod",
    node_group="ng-spot",
    node_group_kind=NodeGroupKind.MANAGED,
)
INSTANCE_ARN = "arn:aws:ec2:us-east-1:123456789012:instance/i-0b662ef9931388ba0"
CLUSTER_ARN = "arn:aws:eks:us-east-1:123456789012:cluster/prod"


def test_event_check_specs_are_the_two_event_born_ids() -> None:
    assert [(s.id, s.severity) for s in EVENT_CHECK_SPECS] == [
        ("spot_interruption_notice", Severity.MEDIUM),
        ("spot_interruption_burst", Severity.HIGH),
    ]
    assert all(
        s.references and s.references[0].startswith("https://docs.aws.amazon.com/") for s in EVENT_CHECK_SPECS
    )


def test_notice_for_a_managed_node_carries_the_deadline() -> None:
    assert notice_finding(WARNING, NODE, now=NOW, ttl=TTL) == Finding(
        id=finding_id("123456789012", "us-east-1", "prod", "spot_interruption_notice", INSTANCE_ARN),
        check_id="spot_interruption_notice",
        severity=Severity.MEDIUM,
        status=Status.OPEN,
        account="123456789012",
        region="us-east-1",
        cluster="prod",
        cluster_arn=CLUSTER_ARN,
        resource=INSTANCE_ARN,
        title="Spot interruption: i-0b662ef9931388ba0 in prod/ng-spot terminates at 12:02:00Z",
        description=(
            "EC2 sent a spot interruption warning for i-0b662ef9931388ba0 at 2024-05-01T12:00:00Z: the "
            "instance will terminate at 2024-05-01T12:02:00Z. " + SPOT_INTERRUPTION_NOTICE.description
        ),
        evidence={
            "event_id": "1e5527d7-bb36-4607-3370-4164db56a40e",
            "signal": "interruption_warning",
            "instance_id": "i-0b662ef9931388ba0",
            "instance_type": "m5.large",
            "availability_zone": "us-east-1b",
            "cluster": "prod",
            "node_group": "ng-spot",
            "node_group_kind": "managed",
            "action": "terminate",
            "event_time": "2024-05-01T12:00:00Z",
            "deadline": "2024-05-01T12:02:00Z",
            "instance_lifecycle": "spot",
            "instance_state": "running",
        },
        remediation=SPOT_INTERRUPTION_NOTICE.remediation,
        references=SPOT_INTERRUPTION_NOTICE.references,
        first_seen=WARNING.time,
        last_seen=WARNING.time,
        source="1e5527d7-bb36-4607-3370-4164db56a40e",
        evaluated_at=NOW,
        expires_at=NOW + TTL,
    )


@pytest.mark.parametrize(
    ("action", "now", "title_end"),
    [
        (InstanceAction.STOP, NOW, "stops at 12:02:00Z"),
        (InstanceAction.HIBERNATE, NOW, "hibernates at 12:02:00Z"),
        (InstanceAction.TERMINATE, NOW + timedelta(minutes=5), "terminated at 12:02:00Z"),
        (InstanceAction.TERMINATE, NOW + timedelta(days=1), "terminated at 2024-05-01T12:02:00Z"),
    ],
)
def test_title_tense_and_date_follow_the_deadline(
    action: InstanceAction, now: datetime, title_end: str
) -> None:
    signal = WARNING.model_copy(update={"action": action})
    title = notice_finding(signal, NODE, now=now, ttl=TTL).title
    assert title == f"Spot interruption: i-0b662ef9931388ba0 in prod/ng-spot {title_end}"


def test_rebalance_notice_has_no_deadline() -> None:
    finding = notice_finding(REBALANCE, NODE, now=NOW, ttl=TTL)
    assert finding.title == (
        "Spot rebalance recommendation: i-0b662ef9931388ba0 in prod/ng-spot "
        "is at elevated risk of interruption"
    )
    assert (finding.evidence["signal"], finding.evidence["action"], finding.evidence["deadline"]) == (
        "rebalance_recommendation",
        None,
        None,
    )
    assert finding.source == "r-1"


def test_notice_for_a_gone_instance_holds_what_the_event_says() -> None:
    finding = notice_finding(WARNING, None, now=NOW, ttl=TTL)
    assert (finding.cluster, finding.cluster_arn, finding.resource) == ("unknown", "", INSTANCE_ARN)
    assert finding.id == finding_id(
        "123456789012", "us-east-1", "unknown", "spot_interruption_notice", INSTANCE_ARN
    )
    assert finding.title == "Spot interruption: i-0b662ef9931388ba0 in unknown terminates at 12:02:00Z"
    assert dict(finding.evidence) == {
        "event_id": "1e5527d7-bb36-4607-3370-4164db56a40e",
        "signal": "interruption_warning",
        "instance_id": "i-0b662ef9931388ba0",
        "instance_type": None,
        "availability_zone": None,
        "cluster": "unknown",
        "node_group": None,
        "node_group_kind": None,
        "action": "terminate",
        "event_time": "2024-05-01T12:00:00Z",
        "deadline": "2024-05-01T12:02:00Z",
        "instance_lifecycle": None,
        "instance_state": "not found at DescribeInstances",
    }
    assert "DescribeInstances no longer returns the instance" in finding.description


@pytest.mark.parametrize(
    ("time", "start"),
    [
        (datetime(2024, 5, 1, 12, 0, tzinfo=UTC), datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        (datetime(2024, 5, 1, 12, 14, 59, tzinfo=UTC), datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        (datetime(2024, 5, 1, 12, 15, tzinfo=UTC), datetime(2024, 5, 1, 12, 15, tzinfo=UTC)),
        (datetime(2024, 5, 1, 21, 29, tzinfo=UTC).astimezone(), datetime(2024, 5, 1, 21, 15, tzinfo=UTC)),
    ],
)
def test_fixed_windows_floor_the_event_time(time: datetime, start: datetime) -> None:
    assert window_start_of(time, timedelta(minutes=15)) == start


def test_counter_key_names_account_region_cluster_group_and_window() -> None:
    key = burst_counter_key(
        "123456789012", "us-east-1", "prod", "ng-spot", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    )
    assert key == "123456789012#us-east-1#prod#ng-spot#2024-05-01T12:00:00Z"


def test_burst_finding_is_high_per_node_group() -> None:
    finding = burst_finding(
        WARNING,
        NODE,
        count=3,
        threshold=3,
        window_start=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        window_end=datetime(2024, 5, 1, 12, 15, tzinfo=UTC),
        now=NOW,
        ttl=TTL,
    )
    resource = f"{CLUSTER_ARN}/nodegroup/ng-spot"
    assert finding.id == finding_id("123456789012", "us-east-1", "prod", "spot_interruption_burst", resource)
    assert (finding.check_id, finding.severity, finding.resource) == (
        "spot_interruption_burst",
        Severity.HIGH,
        resource,
    )
    assert (
        finding.title
        == "Spot interruption burst: 3 interruptions in prod/ng-spot within 15 min (12:00:00Z-12:15:00Z)"
    )
    assert finding.remediation == SPOT_INTERRUPTION_BURST.remediation
    assert "price-capacity-optimized" in finding.remediation
    assert finding.expires_at == NOW + TTL
    assert finding.evidence["interruptions"] == 3
    assert finding.evidence["window_start"] == "2024-05-01T12:00:00Z"


def test_karpenter_burst_resource_names_the_nodepool() -> None:
    node = NODE.model_copy(update={"node_group": "default", "node_group_kind": NodeGroupKind.KARPENTER})
    finding = burst_finding(
        WARNING,
        node,
        count=4,
        threshold=3,
        window_start=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        window_end=datetime(2024, 5, 1, 12, 15, tzinfo=UTC),
        now=NOW,
        ttl=TTL,
    )
    assert finding.resource == f"{CLUSTER_ARN}/nodepool/default"
