"""An event batch audits each cluster once, with the union of its records' checks; a failed audit fails
exactly the records that needed it. And the record wrapper's error codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, InvalidRegionError
from eks_auditor.audit import AuditResult
from eks_auditor.batch import error_code
from eks_auditor.dispatch import Dispatcher
from eks_auditor.entrypoints import plan_event_batch
from eks_auditor.triggers import EKS_EVENT_CHECKS, InvalidEvent, merge_checks

ACCOUNT = "123456789012"
REGION = "us-east-1"
CALLS = sorted(name for name, checks in EKS_EVENT_CHECKS.items() if checks is not None)


class FakeAuditor:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.audits: list[tuple[str, str, frozenset[str] | None]] = []
        self.failing = failing or set()

    def audit(self, region: str, cluster: str, *, check_ids: Any, source: str, account: str) -> AuditResult:
        self.audits.append((account, cluster, check_ids))
        if cluster in self.failing:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "DescribeCluster")
        return AuditResult(region=region, cluster=cluster)

    def resolve_deleted(self, account: str, region: str, cluster: str, *, source: str) -> AuditResult:
        return AuditResult(region=region, cluster=cluster, deleted=True)


def dispatcher(auditor: FakeAuditor) -> Dispatcher:
    def unused(*_: Any) -> Any:
        raise AssertionError("no VPC-scoped request in these batches")

    return Dispatcher(auditor, unused)  # type: ignore[arg-type]


def record(index: int, cluster: str, call: str) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": f"event-{index}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.eks",
        "account": ACCOUNT,
        "time": "2026-11-28T04:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"eventName": call, "awsRegion": REGION, "requestParameters": {"name": cluster}},
    }
    return {"messageId": f"m{index}", "body": json.dumps(event)}


def test_ten_events_on_two_clusters_make_two_audits_with_the_union_of_checks() -> None:
    auditor = FakeAuditor()
    records = [record(i, "alpha" if i % 2 else "beta", CALLS[i % len(CALLS)]) for i in range(10)]
    batch = plan_event_batch(records, dispatcher(auditor))

    summaries = [batch.audit(batch.event(r["messageId"])) for r in records]

    assert sorted(cluster for _, cluster, _ in auditor.audits) == ["alpha", "beta"]
    assert batch.audits.audits == 2
    for _, cluster, checks in auditor.audits:
        wanted = [CALLS[i % len(CALLS)] for i in range(10) if ("alpha" if i % 2 else "beta") == cluster]
        assert checks == merge_checks(EKS_EVENT_CHECKS[call] for call in wanted)
    assert [s["audits"][0]["cluster"] for s in summaries] == ["alpha" if i % 2 else "beta" for i in range(10)]


def test_a_failed_audit_fails_only_the_records_of_its_cluster() -> None:
    auditor = FakeAuditor(failing={"alpha"})
    records = [record(i, "alpha" if i < 3 else "beta", CALLS[0]) for i in range(6)]
    batch = plan_event_batch(records, dispatcher(auditor))

    outcomes = {}
    for r in records:
        try:
            outcomes[r["messageId"]] = batch.audit(batch.event(r["messageId"]))["audits"][0]["cluster"]
        except ClientError as exc:
            outcomes[r["messageId"]] = error_code(exc)

    assert outcomes == {
        "m0": "ThrottlingException",
        "m1": "ThrottlingException",
        "m2": "ThrottlingException",
        "m3": "beta",
        "m4": "beta",
        "m5": "beta",
    }
    assert len(auditor.audits) == 2  # the failed audit is not repeated for each of its records


def test_a_record_that_cannot_be_routed_fails_alone_when_handled() -> None:
    auditor = FakeAuditor()
    records = [
        record(0, "alpha", CALLS[0]),
        {"messageId": "bad", "body": "[" * 5000 + "]" * 5000},
        {"messageId": "junk", "body": '{"id": "x"}'},
    ]
    batch = plan_event_batch(records, dispatcher(auditor))

    with pytest.raises(InvalidEvent):
        batch.event("bad")
    with pytest.raises(InvalidEvent):
        batch.event("junk")
    assert batch.audit(batch.event("m0"))["audits"][0]["cluster"] == "alpha"
    assert len(auditor.audits) == 1


def test_an_idempotent_duplicate_costs_no_audit() -> None:
    # Audits run when a record's results are first asked for: a batch whose records all hit the
    # idempotency store (results never asked for) audits nothing.
    auditor = FakeAuditor()
    plan_event_batch([record(i, "alpha", CALLS[0]) for i in range(3)], dispatcher(auditor))
    assert auditor.audits == []


class FakeHeartbeats:
    def __init__(self, failures: int = 0) -> None:
        self.recorded: list[tuple[str, str, str, str]] = []
        self.failures = failures

    def record_event(self, account: str, region: str, *, event_id: str, event_name: str, at: Any) -> bool:
        if self.failures:
            self.failures -= 1
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")
        self.recorded.append((account, region, event_id, event_name))
        return True


def test_the_batch_records_one_heartbeat_per_account_region_failed_calls_included() -> None:
    heartbeats = FakeHeartbeats()
    failed = record(0, "alpha", CALLS[0])
    event = json.loads(failed["body"])
    event["detail"]["errorCode"] = "AccessDenied"
    failed["body"] = json.dumps(event)
    other = record(3, "alpha", CALLS[0])
    event = json.loads(other["body"])
    event["region"] = event["detail"]["awsRegion"] = "eu-west-1"
    other["body"] = json.dumps(event)
    records = [failed, record(1, "alpha", CALLS[0]), record(2, "beta", CALLS[0]), other]
    batch = plan_event_batch(records, dispatcher(FakeAuditor()), heartbeats)
    assert heartbeats.recorded == []  # nothing before a record is handled (the idempotency store first)

    summaries = [batch.audit(batch.event(r["messageId"])) for r in records]

    assert summaries[0] == {"skipped": "errorCode", "audits": []}
    # A delivered event whose call failed still shows the pipeline delivers; one write per source.
    assert heartbeats.recorded == [
        (ACCOUNT, REGION, "event-0", CALLS[0]),
        (ACCOUNT, "eu-west-1", "event-3", CALLS[0]),
    ]


def test_a_failed_heartbeat_write_fails_its_record_and_the_next_event_writes_it() -> None:
    heartbeats = FakeHeartbeats(failures=1)
    auditor = FakeAuditor()
    records = [record(i, "alpha", CALLS[0]) for i in range(3)]
    batch = plan_event_batch(records, dispatcher(auditor), heartbeats)

    with pytest.raises(ClientError):
        batch.audit(batch.event("m0"))
    assert batch.audit(batch.event("m1"))["audits"][0]["cluster"] == "alpha"
    batch.audit(batch.event("m2"))

    assert heartbeats.recorded == [(ACCOUNT, REGION, "event-1", CALLS[0])]
    assert len(auditor.audits) == 1


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ClientError({"Error": {"Code": "KMSAccessDenied"}}, "Publish"), "KMSAccessDenied"),
        (
            ClientError({"Error": {"Code": "TransactionCanceledException"}}, "TransactWriteItems"),
            "TransactionCanceledException",
        ),
        (InvalidRegionError(region_name="us-east-1 "), "InvalidRegionError"),
        (RecursionError("maximum recursion depth exceeded"), "RecursionError"),
    ],
)
def test_error_code_names_the_aws_code_or_the_type(exc: BaseException, code: str) -> None:
    assert error_code(exc) == code


def test_error_code_finds_the_aws_code_behind_a_wrapper() -> None:
    cause = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")
    try:
        try:
            raise cause
        except ClientError as inner:
            raise RuntimeError("store write failed") from inner
    except RuntimeError as wrapper:
        assert error_code(wrapper) == "ProvisionedThroughputExceededException"
