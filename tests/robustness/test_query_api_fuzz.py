"""Fuzz the query_api handler (functions/query_api/app.py) against a moto table: 0 server errors.

Every malformed parameter, forged or garbled next_token, odd path, unicode and nested junk must be a
400 (or a 404 for a well-formed id that does not exist), never a 500.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from eks_auditor import api
from eks_auditor.store import FindingQuery, FindingStore
from eks_auditor.store.query import _fingerprint
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from profiles import examples
from table import REGION, TABLE, create_table, make_evaluation, make_finding

from eks_auditor_tools.demo.api_events import http_api_event
from eks_auditor_tools.demo.lambdas import LambdaContext, LogSink, load_handler

PARAMETERS = [
    "status",
    "severity",
    "cluster",
    "account",
    "region",
    "check_id",
    "since",
    "limit",
    "next_token",
    "framework",
]
VALID: dict[str, list[str]] = {
    "status": ["OPEN", "RESOLVED", "SUPPRESSED", "ALL"],
    "severity": ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"],
    "cluster": ["prod-a", "prod-b"],
    "account": ["123456789012"],
    "region": [REGION],
    "check_id": ["endpoint_public_unrestricted"],
    "since": ["2025-03-01T00:00:00Z", "2025-03-01T12:00:00+02:00"],
    "limit": ["1", "50", "1000"],
    "framework": ["cis-eks", "fsbp", "cis-eks-1.7", "nist"],
}
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def forged_positions(draw: st.DrawFn) -> Any:
    key = st.sampled_from(["pk", "sk", "status_severity", "changed_at", "check_id", "x"])
    attribute = st.one_of(
        st.fixed_dictionaries({"S": text}), st.fixed_dictionaries({"N": text}), json_junk, text
    )
    start = st.one_of(st.none(), st.dictionaries(key, attribute, max_size=4), json_junk)
    position = st.tuples(start, st.booleans()).map(list)
    # The default query merges 5 streams (OPEN x 5 severities): mostly forge exactly 5 positions.
    size = draw(st.sampled_from([5, 5, 5, 0, 1, 6]))
    return draw(st.lists(st.one_of(position, position, json_junk), min_size=size, max_size=size))


@st.composite
def tokens(draw: st.DrawFn) -> str:
    """Forged tokens: garbage, base64 garbage, nested JSON, and the right fingerprint with bad positions."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(text)
    if kind == 1:
        return b64(draw(st.binary(max_size=200)))
    if kind == 2:
        depth = draw(st.integers(1, 3000))
        return b64(("[" * depth + "]" * depth).encode())
    if kind == 3:
        return b64(json.dumps(draw(json_junk)).encode())
    # The fingerprint is public (a hash of the query's filters): forge positions for the default query.
    state = {"q": _fingerprint(FindingQuery()), "s": forged_positions(draw)}
    return b64(json.dumps(state).encode())


@st.composite
def queries(draw: st.DrawFn) -> dict[str, str]:
    names = draw(st.lists(st.sampled_from([*PARAMETERS, "junk", "limit[]"]), unique=True, max_size=5))
    query = {}
    for name in names:
        choices = [text, st.integers().map(str), st.just("9" * 400), json_junk.map(json.dumps)]
        if name in VALID:
            choices.append(st.sampled_from(VALID[name]))
        if name == "next_token":
            choices = [tokens()]
        query[name] = draw(st.one_of(choices))
    return query


paths = st.one_of(
    st.just(("/findings", "GET /findings", None)),
    text.map(lambda c: (f"/clusters/{c}/findings", "GET /clusters/{cluster}/findings", {"cluster": c})),
    st.sampled_from(["prod-a", "prod-b"]).map(
        lambda c: (f"/clusters/{c}/findings", "GET /clusters/{cluster}/findings", {"cluster": c})
    ),
    text.map(lambda f: (f"/findings/{f}", "GET /findings/{finding_id}", {"finding_id": f})),
    st.just(("/posture", "GET /posture", None)),
)


@pytest.fixture(scope="module")
def handler() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        create_table(client)
        store = FindingStore(TABLE, client=client)
        findings = [make_finding(), make_finding("control_plane_logging_disabled", "arn-a")]
        for change in store.apply_evaluation(make_evaluation(findings)):
            store.mark_notified(change)
        api.app.dependency_overrides[api.finding_reader] = lambda: store
        logs = LogSink()
        with logs.capture():
            module = load_handler("query_api")
        yield module.handler
        api.app.dependency_overrides.pop(api.finding_reader, None)


def call(handler: Any, path: str, route: str, params: dict[str, str] | None, query: dict[str, str]) -> Any:
    event = http_api_event(path, query, route_key=route, path_parameters=params)
    context = LambdaContext(function_name="query_api", account="123456789012", region=REGION)
    with LogSink().capture():
        return handler(event, context)


@settings(max_examples=examples(200))
@given(route=paths, query=queries())
def test_no_request_is_a_server_error(
    handler: Any, route: tuple[str, str, Any], query: dict[str, str]
) -> None:
    path, route_key, params = route
    response = call(handler, path, route_key, params, query)
    assert response["statusCode"] in (200, 400, 404), response
    body = json.loads(response["body"])
    if response["statusCode"] == 400:
        assert body["statusCode"] == 400 and body["message"]


@settings(max_examples=examples(100))
@given(token=tokens())
def test_a_forged_next_token_is_never_a_server_error(handler: Any, token: str) -> None:
    # A forged token that happens to describe a real position (e.g. every stream at its start) pages.
    response = call(handler, "/findings", "GET /findings", None, {"next_token": token})
    assert response["statusCode"] in (200, 400), response
    if response["statusCode"] == 400:
        assert "next_token" in json.loads(response["body"])["message"]


def forged(*positions: Any) -> str:
    return b64(json.dumps({"q": _fingerprint(FindingQuery()), "s": list(positions)}).encode())


@pytest.mark.parametrize(
    "token",
    [
        forged(*[[{"pk": {"S": "x"}}, False]] * 5),  # a key missing attributes (moto: TypeError)
        forged(*[[{"pk": "x", "sk": "y", "status_severity": "z", "changed_at": "t"}, False]] * 5),
        forged(
            *[
                [
                    {
                        "pk": {"N": "1"},
                        "sk": {"S": "y"},
                        "status_severity": {"S": "z"},
                        "changed_at": {"S": "t"},
                    },
                    0,
                ]
            ]
            * 5
        ),
        forged(*[[{}, False]] * 5),
        forged(*[[None, "yes"]] * 5),
        b64(b"[" * 3000),  # RecursionError while decoding
        b64(b"\xff\xfe"),
        forged([None, False]),  # another query's stream count
    ],
    ids=[
        "partial-key",
        "untyped-values",
        "number-type",
        "empty-key",
        "string-done",
        "deep",
        "binary",
        "count",
    ],
)
def test_a_malformed_next_token_is_400(handler: Any, token: str) -> None:
    response = call(handler, "/findings", "GET /findings", None, {"next_token": token})
    assert response["statusCode"] == 400, response
    assert "next_token" in json.loads(response["body"])["message"]


def test_a_real_next_token_still_pages(handler: Any) -> None:
    first = call(handler, "/findings", "GET /findings", None, {"limit": "1"})
    assert first["statusCode"] == 200
    token = json.loads(first["body"])["next_token"]
    second = call(handler, "/findings", "GET /findings", None, {"limit": "1", "next_token": token})
    assert second["statusCode"] == 200, second
    assert len(json.loads(second["body"])["items"]) == 1
