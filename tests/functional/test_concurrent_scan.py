"""Concurrent scans on a moto fleet: the same findings, in the same order, at --max-concurrency 1 and 8;
caches fetched once under contention; throttling reported to the limiter, and a part still throttled
after the retries is audit_incomplete, never a pass."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from eks_auditor.audit import Auditor
from eks_auditor.collect import instance_types
from eks_auditor.collect.clients import AwsClients, CallCounter
from eks_auditor.collect.snapshot import SnapshotCollector
from eks_auditor.concurrency import Limiter, map_bounded
from eks_auditor.model.check import Result
from moto import mock_aws

from eks_auditor_tools.cli.main import main
from eks_auditor_tools.demo.fleet import Fleet, build_fleet, clone_clusters

REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="module")
def fleets() -> Iterator[dict[str, Fleet]]:
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        session = boto3.Session(region_name="us-east-1")
        built = {}
        for region in REGIONS:
            built[region] = build_fleet(session, region)
            clone_clusters(session, built[region], copies=1)
        yield built


def scan_json(capsys: pytest.CaptureFixture[str], concurrency: int) -> list[dict[str, Any]]:
    instance_types.clear_cache()
    regions = [arg for region in REGIONS for arg in ("--region", region)]
    code = main(["scan", *regions, "--max-concurrency", str(concurrency), "--output", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return list(json.loads(out))


def test_identical_findings_in_identical_order_at_concurrency_1_and_8(
    fleets: dict[str, Fleet], capsys: pytest.CaptureFixture[str]
) -> None:
    sequential = scan_json(capsys, 1)
    concurrent = scan_json(capsys, 8)
    assert concurrent == sequential
    clusters = {(f["region"], f["cluster"]) for f in sequential}
    assert len(clusters) == 2 * 2 * 7  # two regions, seven clusters and their clones each
    assert Counter(f["check_id"] for f in sequential)["endpoint_public_unrestricted"] >= 4


def test_max_concurrency_below_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="at least 1"):
        main(["scan", "--max-concurrency", "0"])


def test_shared_caches_fetch_once_when_clusters_are_audited_concurrently(fleets: dict[str, Fleet]) -> None:
    instance_types.clear_cache()
    counter = CallCounter()
    clients = AwsClients(boto3.Session(), counter=counter)
    collector = SnapshotCollector(clients)
    collector.unregister("kubernetes")
    region = "us-east-1"
    described: list[str] = []
    clients.ec2(region).meta.events.register(
        "provide-client-params.ec2.DescribeInstanceTypes",
        lambda params, **_: described.extend(params["InstanceTypes"]),
    )
    names = collector.list_clusters(region)
    counter.reset()
    attempts = map_bounded(
        lambda name: collector.collect(region, name), names, key=lambda _: region, limiter=Limiter(8, 8)
    )
    assert [a.error for a in attempts] == [None] * len(names)
    vpcs = {a.value.cluster.vpc_id for a in attempts if a.value and a.value.cluster}
    # One fetch per VPC, one IAM listing per scan, each instance type described once.
    assert counter["ec2:DescribeSubnets"] == len(vpcs) == 3
    assert counter["ec2:DescribeRouteTables"] == len(vpcs)
    assert counter["iam:ListOpenIDConnectProviders"] == 1
    assert sorted(described) == sorted(set(described))
    assert len(described) >= 3
    assert counter["eks:DescribeCluster"] == len(names)


def test_instance_type_cache_is_single_flight_under_contention() -> None:
    instance_types.clear_cache()
    calls: list[list[str]] = []
    arrived = threading.Semaphore(0)
    callers = 6

    class SlowEc2:
        def describe_instance_types(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(list(kwargs["InstanceTypes"]))
            for _ in range(callers):  # every caller has entered before the answer comes back
                arrived.acquire(timeout=5)
            threading.Event().wait(0.05)
            return {
                "InstanceTypes": [
                    {
                        "InstanceType": name,
                        "VCpuInfo": {"DefaultVCpus": 2},
                        "NetworkInfo": {"MaximumNetworkInterfaces": 3, "Ipv4AddressesPerInterface": 10},
                    }
                    for name in kwargs["InstanceTypes"]
                ]
            }

    ec2: Any = SlowEc2()

    def describe(_: int) -> list[str]:
        arrived.release()
        return sorted(instance_types.describe_instance_types(ec2, "us-east-1", ["m5.large", "c5.large"]))

    attempts = map_bounded(
        describe, list(range(callers)), key=lambda _: "k", limiter=Limiter(callers, callers)
    )
    assert [a.value for a in attempts] == [["c5.large", "m5.large"]] * callers
    assert calls == [["c5.large", "m5.large"]]
    instance_types.clear_cache()


def throttle(operations: set[str], times: int | None) -> Any:
    """A before-send handler answering `operations` with RequestLimitExceeded (`times` times, or always)."""
    seen: Counter[str] = Counter()

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        operation = next((op for op in operations if f"Action={op}" in body), None)
        if operation is None or (times is not None and seen[operation] >= times):
            return None
        seen[operation] += 1
        xml = (
            b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
            b"</Message></Error></Errors><RequestID>r</RequestID></Response>"
        )
        return AWSResponse(request.url, 503, {}, _Raw(xml))

    return handler


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_throttling_is_reported_per_region_and_retried(fleets: dict[str, Fleet]) -> None:
    regions: list[str] = []
    clients = AwsClients(boto3.Session(), on_throttle=regions.append)
    ec2 = clients.ec2("eu-west-1")
    ec2.meta.events.register_first("before-send", throttle({"DescribeVpcs"}, times=2))
    assert ec2.describe_vpcs()["Vpcs"]  # standard retry mode retried it
    assert regions == ["eu-west-1", "eu-west-1"]


def test_a_part_still_throttled_after_retries_is_audit_incomplete(fleets: dict[str, Fleet]) -> None:
    limiter = Limiter(4, 4, jitter=lambda _: 0.0)
    clients = AwsClients(
        boto3.Session(),
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
        on_throttle=limiter.throttled_region,
    )
    clients.ec2("us-east-1").meta.events.register_first("before-send", throttle({"DescribeSubnets"}, None))
    collector = SnapshotCollector(clients)
    collector.unregister("kubernetes")
    result = Auditor(collector).audit("us-east-1", "payments", source="t")
    throttled = {
        o.check_id
        for o in result.outcomes
        if o.result is Result.ERROR and "RequestLimitExceeded on ec2:DescribeSubnets" in (o.reason or "")
    }
    assert {"vpc_endpoint_missing", "nodes_public_subnet", "ip_capacity_exhaustion_risk"} <= throttled
    assert result.evaluation is not None
    assert throttled & {check for check, _ in result.evaluation.passing} == set()
    reported = {f.evidence["check_id"] for f in result.failing if f.check_id == "audit_incomplete"}
    assert throttled <= reported
    assert limiter.limit_of(("", "us-east-1")) < 4
