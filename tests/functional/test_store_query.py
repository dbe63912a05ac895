"""FindingStore.query: every path is a Query on the table or a GSI (never Scan), with pagination."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status
from eks_auditor.store import FindingQuery, FindingStore, InvalidToken
from table import ACCOUNT, REGION, T0, TABLE, CallCounter, create_table, later, make_evaluation, make_finding

ENDPOINT = "endpoint_public_unrestricted"
LOGGING = "control_plane_logging_disabled"
SEVERITIES = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]


@pytest.fixture(scope="module")
def world(module_aws: boto3.Session) -> tuple[Any, dict[str, list[Finding]]]:
    """One table for the module (queries only read): built once, as building it is the slow part."""
    dynamodb = module_aws.client("dynamodb")
    create_table(dynamodb)
    return dynamodb, build_fleet(dynamodb)


@pytest.fixture
def client(world: tuple[Any, dict[str, list[Finding]]]) -> Any:
    return world[0]


@pytest.fixture
def fleet(world: tuple[Any, dict[str, list[Finding]]]) -> dict[str, list[Finding]]:
    return world[1]


@pytest.fixture
def calls(client: Any) -> Iterator[CallCounter]:
    counter = CallCounter(client)
    yield counter
    counter.detach()


def build_fleet(client: Any) -> dict[str, list[Finding]]:
    """prod-a: 10 findings opened a minute apart (each severity twice); prod-b: two, one resolved since."""
    store = FindingStore(TABLE, client=client)
    failing: list[Finding] = []
    for i in range(10):
        failing.append(
            make_finding(ENDPOINT if i % 2 == 0 else LOGGING, f"resource-{i}", severity=SEVERITIES[i % 5])
        )
        evaluation = make_evaluation(failing, at=T0 + timedelta(minutes=i), source=f"scan-{i}")
        for change in store.apply_evaluation(evaluation):
            store.mark_notified(change)
    b = [make_finding(ENDPOINT, f"b-{i}", cluster="prod-b", severity=Severity.HIGH) for i in range(2)]
    for evaluation in (
        make_evaluation(b, at=later(1), source="b-1", cluster="prod-b"),
        make_evaluation(b[:1], at=later(2), source="b-2", cluster="prod-b"),  # b-1 is fixed
    ):
        for change in store.apply_evaluation(evaluation):
            store.mark_notified(change)
    return {"prod-a": [store.get(f.id) for f in failing], "prod-b": [store.get(f.id) for f in b]}  # type: ignore[misc]


def all_pages(store: FindingStore, q: FindingQuery) -> list[list[Finding]]:
    pages = []
    while True:
        page = store.query(q)
        pages.append(page.items)
        if page.next_token is None:
            return pages
        q = q.model_copy(update={"next_token": page.next_token})


def ids(findings: list[Finding]) -> list[str]:
    return [finding.resource for finding in findings]


def test_open_findings_at_or_above_a_severity_newest_first_across_pages(
    client: Any, calls: CallCounter, fleet: dict[str, list[Finding]]
) -> None:
    store = FindingStore(TABLE, client=client)
    calls.reset()

    pages = all_pages(store, FindingQuery(min_severity=Severity.HIGH, limit=2))

    # HIGH and above: prod-a resources 0,1,5,6 (CRITICAL, HIGH twice) and prod-b's open b-0.
    assert [ids(page) for page in pages] == [
        ["b-0", "resource-6"],
        ["resource-5", "resource-1"],
        ["resource-0"],
    ]
    assert calls["Scan"] == 0
    assert set(calls.calls) == {"Query"}


def test_open_findings_of_every_severity(client: Any, fleet: dict[str, list[Finding]]) -> None:
    store = FindingStore(TABLE, client=client)

    page = store.query(FindingQuery(limit=50))

    assert ids(page.items) == ["b-0"] + [f"resource-{i}" for i in range(9, -1, -1)]
    assert page.next_token is None


def test_findings_by_check_with_status_and_severity_filters(
    client: Any, calls: CallCounter, fleet: dict[str, list[Finding]]
) -> None:
    store = FindingStore(TABLE, client=client)
    calls.reset()

    every_status = all_pages(store, FindingQuery(check_id=ENDPOINT, status=None, limit=3))
    open_medium_up = store.query(FindingQuery(check_id=ENDPOINT, min_severity=Severity.MEDIUM))

    assert [ids(page) for page in every_status] == [
        ["b-1", "b-0", "resource-8"],
        ["resource-6", "resource-4", "resource-2"],
        ["resource-0"],
    ]
    assert every_status[0][0].status is Status.RESOLVED
    assert ids(open_medium_up.items) == ["b-0", "resource-6", "resource-2", "resource-0"]
    assert calls["Scan"] == 0


def test_findings_of_one_cluster_paginate_in_key_order(
    client: Any, calls: CallCounter, fleet: dict[str, list[Finding]]
) -> None:
    store = FindingStore(TABLE, client=client)
    calls.reset()
    q = FindingQuery(cluster="prod-a", account=ACCOUNT, region=REGION, status=None, limit=4)

    pages = all_pages(store, q)

    assert [len(page) for page in pages] == [4, 4, 2]
    flat = [finding for page in pages for finding in page]
    assert sorted(ids(flat)) == sorted(ids(fleet["prod-a"]))
    assert [f.id for f in flat] == sorted(f.id for f in flat)
    assert calls["Scan"] == 0


def test_cluster_query_filters(client: Any, fleet: dict[str, list[Finding]]) -> None:
    store = FindingStore(TABLE, client=client)

    resolved = store.query(
        FindingQuery(cluster="prod-b", account=ACCOUNT, region=REGION, status=Status.RESOLVED)
    )
    logging_high = store.query(
        FindingQuery(
            cluster="prod-a", account=ACCOUNT, region=REGION, check_id=LOGGING, min_severity=Severity.HIGH
        )
    )

    assert ids(resolved.items) == ["b-1"]
    assert sorted(ids(logging_high.items)) == ["resource-1", "resource-5"]


def test_since_limits_to_recent_state_changes(client: Any, fleet: dict[str, list[Finding]]) -> None:
    store = FindingStore(TABLE, client=client)

    recent = store.query(FindingQuery(since=T0 + timedelta(minutes=7)))
    recent_checks = store.query(FindingQuery(check_id=LOGGING, since=T0 + timedelta(minutes=7)))

    assert ids(recent.items) == ["b-0", "resource-9", "resource-8", "resource-7"]
    assert ids(recent_checks.items) == ["resource-9", "resource-7"]


def test_account_and_region_scope_the_index_queries(client: Any, fleet: dict[str, list[Finding]]) -> None:
    store = FindingStore(TABLE, client=client)

    assert store.query(FindingQuery(account="999999999999")).items == []
    assert len(store.query(FindingQuery(account=ACCOUNT, region=REGION)).items) == 11


def test_cluster_query_needs_account_and_region(client: Any, fleet: dict[str, list[Finding]]) -> None:
    store = FindingStore(TABLE, client=client)

    with pytest.raises(ValueError, match="needs account and region"):
        store.query(FindingQuery(cluster="prod-a"))


def test_token_of_another_query_is_rejected(client: Any, fleet: dict[str, list[Finding]]) -> None:
    store = FindingStore(TABLE, client=client)
    token = store.query(FindingQuery(limit=1)).next_token
    assert token is not None

    with pytest.raises(InvalidToken, match=r"^invalid next_token: next_token belongs to another query$"):
        store.query(FindingQuery(check_id=ENDPOINT, limit=1, next_token=token))
    with pytest.raises(InvalidToken, match=r"^invalid next_token"):
        store.query(FindingQuery(limit=1, next_token="not-base64!"))


def test_known_clusters_and_get_never_scan(
    client: Any, calls: CallCounter, fleet: dict[str, list[Finding]]
) -> None:
    store = FindingStore(TABLE, client=client)
    calls.reset()

    assert store.known_clusters(ACCOUNT, REGION) == ["prod-a", "prod-b"]
    assert store.known_clusters(ACCOUNT, "eu-west-1") == []
    assert store.get(fleet["prod-a"][0].id) == fleet["prod-a"][0]
    assert dict(calls.calls) == {"Query": 3}
