"""The findings HTTP API through its Powertools resolver, with real-shaped HTTP API v2 events, under moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from eks_auditor import api
from eks_auditor.model.check import Severity
from eks_auditor.store import FindingStore
from eks_auditor.suppressions import Suppression
from table import ACCOUNT, REGION, T0, TABLE, CallCounter, create_table, later, make_evaluation, make_finding

from eks_auditor_tools.demo.api_events import http_api_event
from eks_auditor_tools.demo.lambdas import LambdaContext, forget_handlers, load_handler

ENDPOINT = "endpoint_public_unrestricted"
LOGGING = "control_plane_logging_disabled"
IP = "ip_capacity_exhaustion_risk"


class Fleet:
    """prod-a: CRITICAL, 2 x HIGH, MEDIUM open and a LOW that was resolved; prod-b: one HIGH."""

    def __init__(self, store: FindingStore) -> None:
        self.critical = make_finding(IP, "subnet-0aaa", severity=Severity.CRITICAL)
        self.high = [make_finding(ENDPOINT, "arn-a"), make_finding(ENDPOINT, "arn-a2")]
        self.medium = make_finding(LOGGING, "arn-a", severity=Severity.MEDIUM)
        self.low = make_finding(IP, "subnet-0ccc", severity=Severity.LOW)
        self.other = make_finding(ENDPOINT, "arn-b", cluster="prod-b")
        checks = (ENDPOINT, LOGGING, IP)
        first = [self.critical, *self.high, self.medium, self.low]
        publish(store, store.apply_evaluation(make_evaluation(first, checks_run=checks)))
        publish(
            store, store.apply_evaluation(make_evaluation([self.other], checks_run=checks, cluster="prod-b"))
        )
        second = [self.critical, *self.high, self.medium]
        publish(
            store,
            store.apply_evaluation(make_evaluation(second, at=later(2), source="evt-9", checks_run=checks)),
        )

    @property
    def open_high_or_worse(self) -> set[str]:
        return {self.critical.id, *(f.id for f in self.high), self.other.id}


def publish(store: FindingStore, changes: list[Any]) -> None:
    for change in changes:
        store.mark_notified(change)


@pytest.fixture(scope="module")
def table_world(module_aws: boto3.Session) -> tuple[Fleet, Any]:
    """One table for the module: the routes only read (a test that writes a suppression removes it)."""
    client = module_aws.client("dynamodb")
    create_table(client)
    return Fleet(FindingStore(TABLE, client=client)), client


@pytest.fixture
def world(
    table_world: tuple[Fleet, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Fleet, CallCounter]]:
    fleet, client = table_world
    monkeypatch.setenv("AWS_REGION", REGION)
    api.app.dependency_overrides[api.finding_reader] = lambda: FindingStore(TABLE, client=client)
    calls = CallCounter(client)
    yield fleet, calls
    calls.detach()
    api.app.dependency_overrides.clear()


def call(path: str, query: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    response = api.app.resolve(
        http_api_event(path, query, **kwargs), LambdaContext("query_api", ACCOUNT, REGION)
    )
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_open_findings_high_and_above(world: tuple[Fleet, CallCounter]) -> None:
    fleet, calls = world
    status, body = call("/findings", {"severity": "HIGH"})
    assert status == 200
    assert {item["id"] for item in body["items"]} == fleet.open_high_or_worse
    assert {item["status"] for item in body["items"]} == {"OPEN"}
    assert body["next_token"] is None
    assert calls["Scan"] == 0
    assert set(calls.calls) == {"Query"}


def test_pages_follow_next_token_without_gaps_or_repeats(world: tuple[Fleet, CallCounter]) -> None:
    fleet, calls = world
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        query = {"status": "ALL", "limit": "2", **({"next_token": token} if token else {})}
        status, body = call("/findings", query)
        assert status == 200
        assert len(body["items"]) <= 2
        seen.extend(item["id"] for item in body["items"])
        pages += 1
        token = body["next_token"]
        if token is None:
            break
    everything = {
        fleet.critical.id,
        *(f.id for f in fleet.high),
        fleet.medium.id,
        fleet.low.id,
        fleet.other.id,
    }
    assert len(seen) == len(everything) and set(seen) == everything
    assert pages == 3
    assert calls["Scan"] == 0


def test_filters_by_check_and_status(world: tuple[Fleet, CallCounter]) -> None:
    fleet, _ = world
    status, body = call("/findings", {"check_id": IP, "status": "RESOLVED"})
    assert status == 200
    assert [item["id"] for item in body["items"]] == [fleet.low.id]
    assert body["items"][0]["resolved_at"] == later(2).isoformat().replace("+00:00", "Z")


def test_one_finding_with_history(world: tuple[Fleet, CallCounter]) -> None:
    fleet, _ = world
    status, body = call(f"/findings/{fleet.low.id}")
    assert status == 200
    assert body["finding"]["id"] == fleet.low.id
    assert body["finding"]["first_seen"] == "2025-03-01T12:00:00Z"
    assert [(h["kind"], h["new_status"], h["source"]) for h in body["history"]] == [
        ("OPENED", "OPEN", "scan-1"),
        ("RESOLVED", "RESOLVED", "evt-9"),
    ]
    assert body["suppression"] is None


def test_finding_shows_the_suppression_that_covers_it(world: tuple[Fleet, CallCounter]) -> None:
    fleet, _ = world
    api.app.dependency_overrides[api.finding_reader]().put_suppression(
        Suppression(
            id="sup1",
            check_id=IP,
            cluster="prod-*",
            reason="subnet migration in April",
            author="alice",
            created_at=T0,
            expires_at=T0 + timedelta(days=3650),
        )
    )
    status, body = call(f"/findings/{fleet.critical.id}")
    assert api.app.dependency_overrides[api.finding_reader]().delete_suppression("sup1")
    assert status == 200
    assert (body["suppression"]["id"], body["suppression"]["author"]) == ("sup1", "alice")


def test_unknown_finding_is_404(world: tuple[Fleet, CallCounter]) -> None:
    status, body = call(f"/findings/{'0' * 32}")
    assert (status, body) == (404, {"statusCode": 404, "message": f"finding {'0' * 32} not found"})


def test_cluster_route_defaults_to_the_api_account_and_region(world: tuple[Fleet, CallCounter]) -> None:
    fleet, calls = world
    status, body = call("/clusters/prod-b/findings")
    assert status == 200
    assert [item["id"] for item in body["items"]] == [fleet.other.id]
    status, body = call("/clusters/prod-a/findings", {"severity": "CRITICAL"})
    assert [item["id"] for item in body["items"]] == [fleet.critical.id]
    # Explicit account and region that hold nothing.
    status, body = call("/clusters/prod-a/findings", {"account": "210987654321", "region": "eu-west-1"})
    assert (status, body["items"]) == (200, [])
    assert calls["Scan"] == 0


@pytest.mark.parametrize(
    ("path", "query", "parameter", "message"),
    [
        ("/findings", {"severity": "URGENT"}, "severity", "Input should be 'CRITICAL', 'HIGH', 'MEDIUM'"),
        (
            "/findings",
            {"status": "CLOSED"},
            "status",
            "Input should be 'OPEN', 'RESOLVED', 'SUPPRESSED' or 'ALL'",
        ),
        ("/findings", {"limit": "0"}, "limit", "Input should be greater than or equal to 1"),
        ("/findings", {"limit": "5000"}, "limit", "Input should be less than or equal to 1000"),
        ("/findings", {"limit": "ten"}, "limit", "Input should be a valid integer"),
        ("/findings", {"since": "yesterday"}, "since", "Input should be a valid datetime"),
        ("/findings", {"account": "12345"}, "account", "String should match pattern"),
        ("/findings", {"region": "Mars-1"}, "region", "String should match pattern"),
        ("/findings/not-an-id", {}, "finding_id", "String should match pattern"),
        ("/clusters/bad$name/findings", {}, "cluster", "String should match pattern"),
    ],
)
def test_malformed_parameters_are_400_naming_the_parameter(
    world: tuple[Fleet, CallCounter], path: str, query: dict[str, str], parameter: str, message: str
) -> None:
    status, body = call(path, query)
    assert status == 400
    assert body["statusCode"] == 400
    assert [error["parameter"] for error in body["errors"]] == [parameter]
    assert message in body["errors"][0]["message"]
    assert f"parameter '{parameter}'" in body["message"]


def test_bad_next_token_is_400(world: tuple[Fleet, CallCounter]) -> None:
    status, body = call("/findings", {"next_token": "bm90LWEtdG9rZW4="})
    assert status == 400
    assert body["message"].startswith("query parameter 'next_token': invalid next_token")
    # A token from another query is refused too, rather than silently skipping findings.
    _, first = call("/findings", {"limit": "1"})
    status, body = call("/findings", {"limit": "1", "severity": "LOW", "next_token": first["next_token"]})
    assert (status, body["message"]) == (
        400,
        "query parameter 'next_token': invalid next_token: next_token belongs to another query",
    )


def test_lambda_handler_serves_from_findings_table(
    world: tuple[Fleet, CallCounter], monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet, _ = world
    api.app.dependency_overrides.clear()  # the handler builds its store from FINDINGS_TABLE, as in Lambda
    monkeypatch.setenv("FINDINGS_TABLE", TABLE)
    forget_handlers()
    module = load_handler("query_api")
    event = http_api_event("/findings", {"severity": "CRITICAL"})
    response = module.handler(event, LambdaContext("query_api", ACCOUNT, REGION))
    forget_handlers()
    assert response["statusCode"] == 200
    assert [item["id"] for item in json.loads(response["body"])["items"]] == [fleet.critical.id]


def test_without_an_override_the_routes_read_through_the_shared_runtime(
    table_world: tuple[Fleet, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eks_auditor import runtime
    from eks_auditor.metrics import NullSink

    fleet, _ = table_world
    for name, value in {
        "FINDINGS_TABLE": TABLE,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(runtime, "_shared", None)
    shared = runtime.lambda_runtime(NullSink())  # what the query_api handler module does at import

    status, body = call("/findings", {"severity": "HIGH"})

    assert status == 200
    assert {item["id"] for item in body["items"]} == fleet.open_high_or_worse
    assert api.finding_reader() is shared.store


def test_posture_per_control_without_a_scan(world: tuple[Fleet, CallCounter]) -> None:
    _, calls = world
    status, body = call("/posture", {"framework": "cis-eks"})
    assert status == 200
    assert (body["framework"], body["clusters"]) == (
        "cis-eks-1.7",
        [f"{ACCOUNT}/{REGION}/prod-a", f"{ACCOUNT}/{REGION}/prod-b"],
    )
    rows = {row["control"]: row for row in body["controls"]}
    # 5.4.1: endpoint_public_unrestricted fails on both clusters.
    assert (rows["5.4.1"]["failing"], rows["5.4.1"]["pass_rate"], rows["5.4.1"]["failing_clusters"]) == (
        2,
        0.0,
        [f"{ACCOUNT}/{REGION}/prod-a", f"{ACCOUNT}/{REGION}/prod-b"],
    )
    # 5.4.2: endpoint_public_access_enabled never ran on these clusters: incomplete, no pass rate.
    assert (rows["5.4.2"]["incomplete"], rows["5.4.2"]["pass_rate"]) == (2, None)
    assert [cell["verdict"] for cell in rows["2.1.1"]["cells"]] == ["NOT_ASSESSED", "NOT_ASSESSED"]
    assert calls["Scan"] == 0
    assert set(calls.calls) == {"Query", "BatchGetItem"}

    status, body = call("/posture", {"framework": "fsbp", "cluster": "prod-b"})
    assert status == 200
    assert body["clusters"] == [f"{ACCOUNT}/{REGION}/prod-b"]


def test_posture_of_an_unknown_framework_is_a_400(world: tuple[Fleet, CallCounter]) -> None:
    status, body = call("/posture", {"framework": "nist"})
    assert status == 400
    assert "framework" in body["message"]
