"""Finding queries: each maps to Query calls on the table or a GSI (never Scan), merged newest first."""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status
from eks_auditor.model.frozen import FrozenModel
from eks_auditor.store.expression import Expression
from eks_auditor.store.schema import (
    BY_CHECK,
    BY_STATUS_SEVERITY,
    FINDING_PREFIX,
    cluster_pk,
    finding_from_item,
    timestamp,
)

Item = dict[str, Any]
QueryCall = Callable[..., Mapping[str, Any]]


class FindingQuery(FrozenModel):
    """What a security team asks for. A cluster query needs account and region (they are in its key)."""

    status: Status | None = Status.OPEN
    min_severity: Severity | None = None
    cluster: str | None = None
    account: str | None = None
    region: str | None = None
    check_id: str | None = None
    since: datetime | None = None  # findings whose state changed at or after this time
    limit: int = Field(default=50, ge=1, le=1000)
    next_token: str | None = None


class FindingPage(BaseModel):
    items: list[Finding]
    next_token: str | None = None


@dataclass
class _Stream:
    """One Query (table or GSI) whose items come back in the order the page is merged in."""

    request: dict[str, Any]
    key_attributes: tuple[str, ...]
    start: Item | None = None
    done: bool = False
    fetched: list[Item] = field(default_factory=list)
    fetched_all: bool = False


class InvalidToken(ValueError):
    """The next_token is malformed or belongs to another query."""


def _severities(minimum: Severity | None) -> list[Severity]:
    return [severity for severity in Severity if minimum is None or severity.rank >= minimum.rank]


def _streams(table: str, q: FindingQuery) -> list[_Stream]:
    severities = _severities(q.min_severity)
    all_severities = q.min_severity is None
    statuses = [q.status] if q.status is not None else list(Status)
    since = timestamp(q.since) if q.since is not None else None

    if q.cluster is not None:
        if q.account is None or q.region is None:
            raise ValueError("a cluster query needs account and region: they are part of the cluster's key")
        expr = Expression()
        key = (
            f"{expr.name('pk')} = {expr.value(cluster_pk(q.account, q.region, q.cluster))}"
            f" AND begins_with({expr.name('sk')}, {expr.value(FINDING_PREFIX)})"
        )
        if q.status is not None:
            expr.equals("status", q.status.value)
        if not all_severities:
            expr.one_of("severity", [severity.value for severity in severities])
        if q.check_id is not None:
            expr.equals("check_id", q.check_id)
        if since is not None:
            expr.filters.append(f"{expr.name('changed_at')} >= {expr.value(since)}")
        return [_Stream(expr.query(key, TableName=table), ("pk", "sk"))]

    if q.check_id is not None:
        expr = Expression()
        key = f"{expr.name('check_id')} = {expr.value(q.check_id)}"
        if since is not None:
            key += f" AND {expr.name('changed_at')} >= {expr.value(since)}"
        if q.status is not None:
            expr.equals("status", q.status.value)
        if not all_severities:
            expr.one_of("severity", [severity.value for severity in severities])
        _scope(expr, q)
        request = expr.query(key, TableName=table, IndexName=BY_CHECK, ScanIndexForward=False)
        return [_Stream(request, ("pk", "sk", "check_id", "changed_at"))]

    streams = []
    for status in statuses:
        for severity in severities:
            expr = Expression()
            key = f"{expr.name('status_severity')} = {expr.value(f'{status.value}#{severity.value}')}"
            if since is not None:
                key += f" AND {expr.name('changed_at')} >= {expr.value(since)}"
            _scope(expr, q)
            request = expr.query(key, TableName=table, IndexName=BY_STATUS_SEVERITY, ScanIndexForward=False)
            streams.append(_Stream(request, ("pk", "sk", "status_severity", "changed_at")))
    return streams


def _scope(expr: Expression, q: FindingQuery) -> None:
    if q.account is not None:
        expr.equals("account", q.account)
    if q.region is not None:
        expr.equals("region", q.region)


def _fingerprint(q: FindingQuery) -> str:
    shape = q.model_dump(mode="json", exclude={"limit", "next_token"})
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _encode(q: FindingQuery, streams: list[_Stream]) -> str:
    state = {"q": _fingerprint(q), "s": [[stream.start, stream.done] for stream in streams]}
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _decode(q: FindingQuery, streams: list[_Stream]) -> None:
    if q.next_token is None:
        return
    try:
        state = json.loads(base64.urlsafe_b64decode(q.next_token.encode()))
        fingerprint, positions = state["q"], state["s"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidToken(f"invalid next_token: {type(exc).__name__}") from exc
    if fingerprint != _fingerprint(q) or not isinstance(positions, list) or len(positions) != len(streams):
        raise InvalidToken("invalid next_token: next_token belongs to another query")
    for stream, position in zip(streams, positions, strict=True):
        if not (
            isinstance(position, list)
            and len(position) == 2
            and (position[0] is None or _is_key(position[0], stream.key_attributes))
            and isinstance(position[1], bool)
        ):
            raise InvalidToken("invalid next_token: malformed position")
        stream.start, stream.done = position[0], position[1]


def _is_key(start: Any, attributes: tuple[str, ...]) -> bool:
    """A start key of this stream: exactly its key attributes, each a non-empty string value.

    Anything else would reach DynamoDB as an invalid ExclusiveStartKey (a 500 instead of a 400).
    """
    return (
        isinstance(start, dict)
        and set(start) == set(attributes)
        and all(
            isinstance(value, dict)
            and list(value) == ["S"]
            and isinstance(value["S"], str)
            and 0 < len(value["S"]) <= 2048
            for value in start.values()
        )
    )


def _fetch(query: QueryCall, stream: _Stream, limit: int) -> None:
    """At least `limit` matching items from the stream's position, or all that are left."""
    cursor = stream.start
    while True:
        request = dict(stream.request, Limit=limit)
        if cursor is not None:
            request["ExclusiveStartKey"] = cursor
        response = query(**request)
        stream.fetched.extend(response.get("Items", []))
        cursor = response.get("LastEvaluatedKey")
        if cursor is None:
            stream.fetched_all = True
            return
        if len(stream.fetched) >= limit:
            return


def run_query(query: QueryCall, table: str, q: FindingQuery) -> FindingPage:
    """One page. The token holds, per Query, the key of the last item handed out (base64 JSON)."""
    streams = _streams(table, q)
    _decode(q, streams)
    live = [stream for stream in streams if not stream.done]
    for stream in live:
        try:
            _fetch(query, stream, q.limit)
        except ClientError as exc:
            # A well-formed start key that still does not fit this query (e.g. another partition).
            if q.next_token is None or exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            raise InvalidToken("invalid next_token: the start key does not fit this query") from exc

    def tagged(index: int, stream: _Stream) -> Iterator[tuple[str, int, Item]]:
        for item in stream.fetched:
            yield item["changed_at"]["S"], index, item

    # Every GSI stream is already newest first; the single table stream keeps its own (sort key) order.
    merged = heapq.merge(*(tagged(i, s) for i, s in enumerate(live)), key=lambda t: t[0], reverse=True)
    page: list[Item] = []
    consumed = [0] * len(live)
    for _, index, item in merged:
        if len(page) == q.limit:
            break
        page.append(item)
        consumed[index] += 1
    for stream, count in zip(live, consumed, strict=True):
        if count:
            last = stream.fetched[count - 1]
            stream.start = {name: last[name] for name in stream.key_attributes}
        stream.done = stream.fetched_all and count == len(stream.fetched)
    next_token = None if all(stream.done for stream in streams) else _encode(q, streams)
    return FindingPage(items=[finding_from_item(item) for item in page], next_token=next_token)
