"""The findings table's key schema and item codec: the only place that knows how items are laid out.

One table, string keys pk/sk:
  CLUSTER#<account>#<region>#<cluster> / AUDIT                       per-check evaluated_at, verdict; deleted
  CLUSTER#<account>#<region>#<cluster> / FINDING#<finding id>        one finding (+ its unpublished changes)
  CLUSTER#<account>#<region>#<cluster> / HISTORY#<finding id>#<time> one state change
  COUNTER#<key> / COUNTER                                             spot burst counters (TTL)
  CLAIM#<key> / CLAIM                                                 one-alert-per-window claims (TTL)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eks_auditor.compliance.verdict import CheckVerdict, Verdict
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status

TTL_ATTRIBUTE = "expires_at_epoch"

BY_STATUS_SEVERITY = "by_status_severity"
BY_CHECK = "by_check"
BY_ID = "by_id"
BY_REGISTRY = "by_registry"  # AUDIT items of live clusters, so known_clusters() is a Query, not a Scan


def _index(
    name: str, hash_key: str, range_key: str | None = None, *, projection: str = "ALL"
) -> dict[str, Any]:
    keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key is not None:
        keys.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return {"IndexName": name, "KeySchema": keys, "Projection": {"ProjectionType": projection}}


# What CreateTable needs (and what template.yaml must declare); TTL is set separately (TTL_ATTRIBUTE).
TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "status_severity", "AttributeType": "S"},
        {"AttributeName": "changed_at", "AttributeType": "S"},
        {"AttributeName": "check_id", "AttributeType": "S"},
        {"AttributeName": "id", "AttributeType": "S"},
        {"AttributeName": "registry", "AttributeType": "S"},
        {"AttributeName": "cluster", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        _index(BY_STATUS_SEVERITY, "status_severity", "changed_at"),
        _index(BY_CHECK, "check_id", "changed_at"),
        _index(BY_ID, "id"),
        _index(BY_REGISTRY, "registry", "cluster", projection="KEYS_ONLY"),
    ],
    "BillingMode": "PAY_PER_REQUEST",
}

AUDIT_SK = "AUDIT"
FINDING_PREFIX = "FINDING#"
HISTORY_PREFIX = "HISTORY#"
# Sort keys sort AUDIT < FINDING#... < HISTORY#...: one BETWEEN reads the audit record and the findings
# of a cluster without its (ever-growing) history. "$" is the character after "#".
CLUSTER_READ_RANGE = (AUDIT_SK, "FINDING$")
CHECK_ATTRIBUTE_PREFIX = "evaluated#"  # AUDIT: one top-level attribute per check (see FindingStore)
FIRST_CHECK_PREFIX = "first#"  # AUDIT: when each check was first evaluated on the cluster (the baseline)
VERDICT_PREFIX = "verdict#"  # AUDIT: each check's latest verdict (map: verdict, at, failing, more)
FAILING_SINCE_PREFIX = "failing_since#"  # AUDIT: since when each check fails on the cluster (no pass since)
PUBLISHED_ATTRIBUTE = "published_sequence"  # FINDING: the sequence of the last change published
PENDING_PREFIX = "pending#"  # FINDING: one attribute per unpublished change, value = the change as JSON

AUDIT_INCOMPLETE = "audit_incomplete"


def cluster_pk(account: str, region: str, cluster: str) -> str:
    return f"CLUSTER#{account}#{region}#{cluster}"


def finding_sk(finding_id: str) -> str:
    return f"{FINDING_PREFIX}{finding_id}"


def history_sk(finding_id: str, changed_at: datetime) -> str:
    return f"{HISTORY_PREFIX}{finding_id}#{timestamp(changed_at)}"


def registry_key(account: str, region: str) -> str:
    return f"{account}#{region}"


def check_attribute(check_id: str) -> str:
    return f"{CHECK_ATTRIBUTE_PREFIX}{check_id}"


def first_check_attribute(check_id: str) -> str:
    return f"{FIRST_CHECK_PREFIX}{check_id}"


def verdict_attribute(check_id: str) -> str:
    return f"{VERDICT_PREFIX}{check_id}"


def failing_since_attribute(check_id: str) -> str:
    return f"{FAILING_SINCE_PREFIX}{check_id}"


def verdict_value(verdict: CheckVerdict) -> dict[str, Any]:
    value: dict[str, Any] = {
        "verdict": {"S": verdict.verdict.value},
        "at": {"S": timestamp(verdict.evaluated_at)},
    }
    if verdict.failing:
        value["failing"] = {"L": [{"S": resource} for resource in verdict.failing]}
    if verdict.more_failing:
        value["more"] = {"N": str(verdict.more_failing)}
    return {"M": value}


def verdicts_from_item(item: Mapping[str, Any]) -> dict[str, CheckVerdict]:
    """The check verdicts an AUDIT item keeps, by check id."""
    verdicts: dict[str, CheckVerdict] = {}
    for name, value in item.items():
        if not name.startswith(VERDICT_PREFIX):
            continue
        check, fields = name.removeprefix(VERDICT_PREFIX), value["M"]
        since = item.get(failing_since_attribute(check))
        verdicts[check] = CheckVerdict(
            check_id=check,
            verdict=Verdict(fields["verdict"]["S"]),
            evaluated_at=parse_timestamp(fields["at"]["S"]),
            failing=tuple(entry["S"] for entry in fields.get("failing", {}).get("L", [])),
            more_failing=int(fields.get("more", {}).get("N", "0")),
            failing_since=parse_timestamp(since["S"]) if since else None,
        )
    return verdicts


def pending_attribute(change_id: str) -> str:
    return f"{PENDING_PREFIX}{change_id}"


def timestamp(value: datetime) -> str:
    """Fixed-width UTC ISO 8601, so that string order is time order (conditions compare strings)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def epoch(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def changed_at_key(changed_at: datetime, finding_id: str) -> str:
    """The GSIs' sort key: unique per finding, newest first with ScanIndexForward=False."""
    return f"{timestamp(changed_at)}#{finding_id}"


def owner_check(finding: Finding) -> str | None:
    """The check a finding belongs to for resolution (audit_incomplete: the check that could not run)."""
    if finding.check_id == AUDIT_INCOMPLETE:
        owner = finding.evidence.get("check_id")
        return owner if isinstance(owner, str) else None
    return finding.check_id


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


def finding_attributes(finding: Finding, changed_at: datetime | None) -> tuple[dict[str, Any], list[str]]:
    """Every non-key attribute of a finding item: (attributes to SET, attribute names to REMOVE).

    `changed_at` is the time of a state change; None (a quiet refresh) keeps the stored GSI position.
    """
    attributes: dict[str, Any] = {
        "id": _s(finding.id),
        "check_id": _s(finding.check_id),
        "severity": _s(finding.severity.value),
        "status": _s(finding.status.value),
        "account": _s(finding.account),
        "region": _s(finding.region),
        "cluster": _s(finding.cluster),
        "cluster_arn": _s(finding.cluster_arn),
        "resource": _s(finding.resource),
        "title": _s(finding.title),
        "description": _s(finding.description),
        # JSON keeps evidence lossless (floats, nesting) without DynamoDB's Decimal and empty-set rules.
        "evidence": _s(evidence_json(finding.evidence)),
        "remediation": _s(finding.remediation),
        "references": {"L": [_s(reference) for reference in finding.references]},
        "first_seen": _s(timestamp(finding.first_seen)),
        "last_seen": _s(timestamp(finding.last_seen)),
        "source": _s(finding.source),
        "evaluated_at": _s(timestamp(finding.evaluated_at)),
        "status_severity": _s(f"{finding.status.value}#{finding.severity.value}"),
        "sequence": {"N": str(finding.sequence)},
    }
    removed: list[str] = []
    if finding.held:
        attributes["held"] = {"BOOL": True}
    else:
        removed.append("held")
    if changed_at is not None:
        attributes["changed_at"] = _s(changed_at_key(changed_at, finding.id))
    if finding.resolved_at is not None:
        attributes["resolved_at"] = _s(timestamp(finding.resolved_at))
    else:
        removed.append("resolved_at")
    if finding.expires_at is not None:
        attributes["expires_at"] = _s(timestamp(finding.expires_at))
        attributes[TTL_ATTRIBUTE] = {"N": str(epoch(finding.expires_at))}
    else:
        removed.extend(("expires_at", TTL_ATTRIBUTE))
    return attributes, removed


def evidence_json(evidence: Mapping[str, Any]) -> str:
    return json.dumps(evidence, sort_keys=True, separators=(",", ":"), default=str)


def finding_from_item(item: Mapping[str, Any]) -> Finding:
    def text(name: str) -> str:
        return str(item[name]["S"])

    def optional_time(name: str) -> datetime | None:
        return parse_timestamp(text(name)) if name in item else None

    return Finding(
        id=text("id"),
        check_id=text("check_id"),
        severity=Severity(text("severity")),
        status=Status(text("status")),
        account=text("account"),
        region=text("region"),
        cluster=text("cluster"),
        cluster_arn=text("cluster_arn"),
        resource=text("resource"),
        title=text("title"),
        description=text("description"),
        evidence=json.loads(text("evidence")),
        remediation=text("remediation"),
        references=tuple(str(value["S"]) for value in item.get("references", {}).get("L", [])),
        first_seen=parse_timestamp(text("first_seen")),
        last_seen=parse_timestamp(text("last_seen")),
        resolved_at=optional_time("resolved_at"),
        source=text("source"),
        evaluated_at=parse_timestamp(text("evaluated_at")),
        expires_at=optional_time("expires_at"),
        sequence=sequence_of(item),
        held=bool(item.get("held", {}).get("BOOL", False)),
    )


def sequence_of(item: Mapping[str, Any], attribute: str = "sequence") -> int:
    """A finding item's sequence (or PUBLISHED_ATTRIBUTE); 0 for items written before sequences."""
    return int(item[attribute]["N"]) if attribute in item else 0


def pending_from_item(item: Mapping[str, Any]) -> list[StateChange]:
    """The changes of a finding item that were written but not yet marked notified."""
    return [
        StateChange.model_validate_json(value["S"])
        for name, value in item.items()
        if name.startswith(PENDING_PREFIX)
    ]


def history_item(change: StateChange, expires_at: datetime | None) -> dict[str, Any]:
    finding = change.finding
    item: dict[str, Any] = {
        "pk": _s(cluster_pk(finding.account, finding.region, finding.cluster)),
        "sk": _s(history_sk(finding.id, change.changed_at)),
        # No id/check_id/status_severity attributes: history stays out of every GSI.
        "finding_id": _s(finding.id),
        "change_id": _s(change.change_id),
        "kind": _s(change.kind.value),
        "new_status": _s(finding.status.value),
        "new_severity": _s(finding.severity.value),
        "source": _s(finding.source),
        "changed_at": _s(timestamp(change.changed_at)),
    }
    if change.previous_status is not None:
        item["previous_status"] = _s(change.previous_status.value)
    if change.previous_severity is not None:
        item["previous_severity"] = _s(change.previous_severity.value)
    if change.reason is not None:
        item["reason"] = _s(change.reason)
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = {"N": str(epoch(expires_at))}
    return item


def history_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """The HistoryEntry fields of a history item."""

    def optional(name: str) -> str | None:
        return str(item[name]["S"]) if name in item else None

    previous_status = optional("previous_status")
    previous_severity = optional("previous_severity")
    return {
        "finding_id": item["finding_id"]["S"],
        "change_id": item["change_id"]["S"],
        "kind": ChangeKind(item["kind"]["S"]),
        "previous_status": Status(previous_status) if previous_status else None,
        "new_status": Status(item["new_status"]["S"]),
        "previous_severity": Severity(previous_severity) if previous_severity else None,
        "new_severity": Severity(item["new_severity"]["S"]),
        "source": item["source"]["S"],
        "changed_at": parse_timestamp(item["changed_at"]["S"]),
        "reason": optional("reason"),
    }
