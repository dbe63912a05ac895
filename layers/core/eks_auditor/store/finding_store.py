"""FindingStore: the findings table (DynamoDB) with the finding lifecycle, history and an outbox.

Write protocol of apply_evaluation, for one cluster:
 1. Stale guard: one conditional UpdateItem on the AUDIT item sets `evaluated#<check>` = evaluated_at for
    every check run, on condition that each is absent or not newer. A failed condition means a newer
    evaluation of one of these checks got there first: nothing is written and [] is returned. The guard runs
    BEFORE the read: an older evaluation that passed its guard earlier either wrote before our (strongly
    consistent) read, so we see it, or writes after our guard, and then its writes fail (step 3).
 2. One paginated Query reads the AUDIT item and every finding of the cluster (not the history), and one
    Query the suppressions (their fixed partition, see suppression_records): the lifecycle decides SUPPRESSED.
 3. Each state change is one TransactWriteItems: a ConditionCheck that the AUDIT item still names this
    evaluation for the finding's check (not superseded, not deleted since), the finding Update (condition:
    new, or stored evaluated_at older) with the change as `pending#<change id>`, and the history Put.
    Quiet refreshes (heartbeat) are one conditional UpdateItem and no change.
An unchanged re-scan costs 1 UpdateItem + 2 Query (1 Query plus one per batch after start_batch()).

Outbox: a change stays `pending#<change id>` on its finding until mark_notified removes it. apply_evaluation
returns the new changes followed by the cluster's earlier pending changes (see _outbox), so a handler that
died between the write and the publish publishes them on its retry. Subscribers may therefore see a change
twice (a crash after publish, before mark_notified): the change id is in every message to deduplicate on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from eks_auditor.model.check import Severity
from eks_auditor.model.evaluation import Evaluation
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status
from eks_auditor.store.lifecycle import Write, plan_deletion, plan_evaluation, plan_transient
from eks_auditor.store.query import FindingPage, FindingQuery, run_query
from eks_auditor.store.schema import (
    AUDIT_SK,
    BY_ID,
    BY_REGISTRY,
    CHECK_ATTRIBUTE_PREFIX,
    CLUSTER_READ_RANGE,
    FINDING_PREFIX,
    HISTORY_PREFIX,
    TTL_ATTRIBUTE,
    check_attribute,
    cluster_pk,
    epoch,
    finding_attributes,
    finding_from_item,
    finding_sk,
    first_check_attribute,
    history_fields,
    history_item,
    pending_attribute,
    pending_from_item,
    registry_key,
    timestamp,
)
from eks_auditor.store.suppression_records import delete_suppression, load_suppressions, put_suppression

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from eks_auditor.suppressions import Suppression

logger = logging.getLogger(__name__)

Item = dict[str, Any]
_TRANSACTION_ATTEMPTS = 3


def outbox_due(items: Sequence[Item], *, now: datetime, source: str, grace: timedelta) -> list[StateChange]:
    """The one retry policy for every publisher: which pending changes to publish (again), oldest first.

    Due: the changes of this very evaluation or event (`source` at `now`: a retry of it), and any change
    older than the grace. A pending change of another writer younger than the grace most likely belongs to a
    handler that is still running and about to publish it; returning it too would publish it twice.
    """
    cutoff = now - grace
    due = [
        change
        for item in items
        for change in pending_from_item(item)
        if (change.changed_at == now and change.finding.source == source) or change.changed_at <= cutoff
    ]
    return sorted(due, key=lambda change: (change.changed_at, change.change_id))


@dataclass(frozen=True)
class EventRecord:
    """What recording one event-born finding did: `new` False for an event recorded before (a duplicate);
    `change` None for a new event that changed no state (a suppressed finding stays suppressed)."""

    new: bool
    change: StateChange | None


class HistoryEntry(BaseModel):
    """One state change of a finding, as kept in its history."""

    model_config = ConfigDict(frozen=True)

    finding_id: str
    change_id: str
    kind: ChangeKind
    previous_status: Status | None
    new_status: Status
    previous_severity: Severity | None
    new_severity: Severity
    source: str
    changed_at: datetime
    reason: str | None = None


def _as_baseline(write: Write) -> Write:
    """An opening found by the first evaluation of its check on the cluster: published as baseline."""
    if write.change is None or write.change.kind is not ChangeKind.OPENED:
        return write
    return replace(write, change=write.change.model_copy(update={"baseline": True}))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _default_client() -> DynamoDBClient:
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", config=Config(retries={"mode": "standard"}))


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class _Update:
    """An UpdateExpression built from attribute values, with placeholders for every name."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.sets: list[str] = []
        self.removes: list[str] = []

    def name(self, attribute: str) -> str:
        placeholder = f"#a{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":u{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def set(self, attribute: str, value: Any) -> None:
        self.sets.append(f"{self.name(attribute)} = {self.value(value)}")

    def remove(self, attribute: str) -> None:
        self.removes.append(self.name(attribute))

    @property
    def expression(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)


class FindingStore:
    """The findings table. Only this package knows its keys (see eks_auditor.store.schema)."""

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        heartbeat: timedelta = timedelta(hours=24),
        outbox_grace: timedelta = timedelta(minutes=5),
    ) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client if client is not None else _default_client()
        self.heartbeat = heartbeat
        self.outbox_grace = outbox_grace
        # Off until start_batch(): the CLI and one-off callers always read the current suppressions.
        self._batch_caching = False
        self._batch_suppressions: list[Suppression] | None = None

    def start_batch(self) -> None:
        """Read the suppressions once for the evaluations of one batch (a Lambda invocation), not once
        per cluster; the next start_batch() reads them again, and put/delete invalidate them."""
        self._batch_caching = True
        self._batch_suppressions = None

    # --- lifecycle -------------------------------------------------------------------------------

    def apply_evaluation(self, evaluation: Evaluation) -> list[StateChange]:
        """Store one evaluation; return its state changes, then the cluster's earlier unpublished ones."""
        at = _utc(evaluation.evaluated_at)
        evaluation = evaluation.model_copy(update={"evaluated_at": at})
        pk = cluster_pk(evaluation.account, evaluation.region, evaluation.cluster)
        first = self._claim_checks(pk, evaluation)
        if first is None:
            logger.info(
                "stale evaluation %s of %s at %s ignored: a newer evaluation of its checks was stored",
                evaluation.source,
                pk,
                timestamp(at),
            )
            return []
        items = self._read_cluster(pk)
        stored = {item["id"]["S"]: finding_from_item(item) for item in items}
        writes = plan_evaluation(
            evaluation, stored, heartbeat=self.heartbeat, suppressions=self.suppressions()
        )
        writes = [_as_baseline(write) if write.owner in first else write for write in writes]
        changes = self._write_all(pk, writes, at)
        return changes + self._outbox(items, changes, evaluation)

    def resolve_cluster(
        self, account: str, region: str, cluster: str, *, source: str, evaluated_at: datetime
    ) -> list[StateChange]:
        """The cluster was deleted: resolve every OPEN or SUPPRESSED finding and mark the AUDIT deleted."""
        at = _utc(evaluated_at)
        pk = cluster_pk(account, region, cluster)
        audit, items = self._read_cluster_with_audit(pk)
        checks = [name for name in (audit or {}) if name.startswith(CHECK_ATTRIBUTE_PREFIX)]
        update = _Update()
        update.set("deleted", {"BOOL": True})
        update.set("deleted_at", {"S": timestamp(at)})
        update.set("deleted_source", {"S": source})
        update.remove("registry")
        new = update.value({"S": timestamp(at)})
        conditions = [f"(attribute_not_exists(deleted_at) OR deleted_at < {new})"]
        conditions += [f"{update.name(name)} <= {new}" for name in checks]
        if self._update_audit(pk, update, conditions) is None:
            logger.info("deletion of %s at %s ignored: the cluster was evaluated or deleted later", pk, at)
            return []
        stored = {item["id"]["S"]: finding_from_item(item) for item in items}
        writes = plan_deletion(stored, source=source, evaluated_at=at)
        return self._write_all(pk, writes, at, deletion=True)

    def record_transient(self, findings: Sequence[Finding]) -> list[StateChange]:
        """Event-born findings (spot notices): written when new or from another event; TTL from expires_at."""
        changes: list[StateChange] = []
        for finding in findings:
            recorded = self.record_event(finding)
            if recorded.change is not None:
                changes.append(recorded.change)
        return changes

    def record_event(self, finding: Finding) -> EventRecord:
        """One event-born finding, through the suppressions as apply_evaluation (lifecycle.plan_transient).

        Read, plan, then write on condition that the stored source is still the one read: a concurrent event
        for the same finding makes us read and plan again; a concurrent duplicate of this event then reads
        as recorded.
        """
        finding = finding.model_copy(update={"evaluated_at": _utc(finding.evaluated_at)})
        pk = cluster_pk(finding.account, finding.region, finding.cluster)
        for _ in range(_TRANSACTION_ATTEMPTS):
            stored_item = self._get_item(pk, finding_sk(finding.id))
            stored = finding_from_item(stored_item) if stored_item is not None else None
            write = plan_transient(finding, stored, suppressions=self.suppressions())
            if write is None:
                logger.debug("transient finding %s from %s already recorded", finding.id, finding.source)
                return EventRecord(new=False, change=None)
            at = write.finding.evaluated_at
            update = self._finding_update(write.finding, write.change, at if write.change else None)
            if stored is None:
                condition = "attribute_not_exists(pk)"
            else:
                condition = f"{update.name('source')} = {update.value({'S': stored.source})}"
            request = self._update_request(pk, finding.id, update, condition)
            if write.change is None:
                try:
                    self.client.update_item(**request)
                except self.client.exceptions.ConditionalCheckFailedException:
                    continue
                return EventRecord(new=True, change=None)
            history = history_item(write.change, finding.expires_at)
            items = [{"Update": request}, {"Put": {"TableName": self.table_name, "Item": history}}]
            if self._transact(items, finding.id):
                return EventRecord(new=True, change=write.change)
        raise RuntimeError(f"finding {finding.id}: kept changing under concurrent events, not recorded")

    # --- outbox ----------------------------------------------------------------------------------

    def due_changes(
        self, account: str, region: str, cluster: str, *, now: datetime, source: str
    ) -> list[StateChange]:
        """The cluster's pending changes that are due for (re-)publishing at `now` (see outbox_due)."""
        items = self._read_cluster(cluster_pk(account, region, cluster))
        return outbox_due(items, now=_utc(now), source=source, grace=self.outbox_grace)

    def pending_changes(self, account: str, region: str, cluster: str) -> list[StateChange]:
        """Every change of the cluster written but not yet marked notified, oldest first."""
        items = self._read_cluster(cluster_pk(account, region, cluster))
        pending = [change for item in items for change in pending_from_item(item)]
        return sorted(pending, key=lambda change: (change.changed_at, change.change_id))

    def mark_notified(self, change: StateChange) -> None:
        """Remove the change from the outbox; a second call for the same change is a no-op."""
        finding = change.finding
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={
                    "pk": {"S": cluster_pk(finding.account, finding.region, finding.cluster)},
                    "sk": {"S": finding_sk(finding.id)},
                },
                UpdateExpression="REMOVE #p",
                ConditionExpression="attribute_exists(#p)",
                ExpressionAttributeNames={"#p": pending_attribute(change.change_id)},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            logger.debug("change %s was already marked notified", change.change_id)

    # --- counters --------------------------------------------------------------------------------

    def increment_counter(self, key: str, *, expires_at: datetime) -> int:
        """Atomically add one to the counter `key` and return the new count (TTL from expires_at).

        A counter whose window has ended (past expires_at, not yet removed by TTL) starts again at 1.
        """
        item_key = {"pk": {"S": f"COUNTER#{key}"}, "sk": {"S": "COUNTER"}}
        while True:
            now = {"N": str(int(time.time()))}
            try:
                response = self.client.update_item(
                    TableName=self.table_name,
                    Key=item_key,
                    UpdateExpression="ADD #n :one SET #ttl = if_not_exists(#ttl, :ttl)",
                    ConditionExpression="attribute_not_exists(pk) OR #ttl > :now",
                    ExpressionAttributeNames={"#n": "count", "#ttl": TTL_ATTRIBUTE},
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":ttl": {"N": str(epoch(expires_at))},
                        ":now": now,
                    },
                    ReturnValues="UPDATED_NEW",
                )
                return int(response["Attributes"]["count"]["N"])
            except self.client.exceptions.ConditionalCheckFailedException:
                pass
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item={**item_key, "count": {"N": "1"}, TTL_ATTRIBUTE: {"N": str(epoch(expires_at))}},
                    ConditionExpression="#ttl <= :now",
                    ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                    ExpressionAttributeValues={":now": now},
                )
                return 1
            except self.client.exceptions.ConditionalCheckFailedException:
                continue  # another caller restarted the window first: count on top of it

    def claim_once(self, key: str, *, expires_at: datetime) -> bool:
        """True for the first caller only, until expires_at (one alert per burst window)."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": f"CLAIM#{key}"},
                    "sk": {"S": "CLAIM"},
                    TTL_ATTRIBUTE: {"N": str(epoch(expires_at))},
                },
                # TTL deletes expired items only eventually: an expired claim must not block a new window.
                ConditionExpression="attribute_not_exists(pk) OR #ttl <= :now",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # --- reads -----------------------------------------------------------------------------------

    def get(self, finding_id: str) -> Finding | None:
        response = self.client.query(
            TableName=self.table_name,
            IndexName=BY_ID,
            KeyConditionExpression="#id = :id",
            ExpressionAttributeNames={"#id": "id"},
            ExpressionAttributeValues={":id": {"S": finding_id}},
        )
        items = response.get("Items", [])
        return finding_from_item(items[0]) if items else None

    def history(self, finding_id: str) -> list[HistoryEntry]:
        """The finding's state changes, oldest first."""
        finding = self.get(finding_id)
        if finding is None:
            return []
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": cluster_pk(finding.account, finding.region, finding.cluster)},
                ":prefix": {"S": f"{HISTORY_PREFIX}{finding_id}#"},
            },
            ConsistentRead=True,
        )
        return [HistoryEntry(**history_fields(item)) for item in items]

    def known_clusters(self, account: str, region: str) -> list[str]:
        """Clusters audited in this account and region and not deleted since (GSI by_registry)."""
        items = self._query_all(
            IndexName=BY_REGISTRY,
            KeyConditionExpression="#r = :r",
            ExpressionAttributeNames={"#r": "registry"},
            ExpressionAttributeValues={":r": {"S": registry_key(account, region)}},
        )
        return sorted(item["cluster"]["S"] for item in items)

    def open_findings(self, account: str, region: str, cluster: str) -> list[Finding]:
        """The cluster's OPEN findings (one paginated Query of its partition), for its daily digest."""
        findings = [
            finding_from_item(item) for item in self._read_cluster(cluster_pk(account, region, cluster))
        ]
        return [finding for finding in findings if finding.status is Status.OPEN]

    def query(self, q: FindingQuery) -> FindingPage:
        """One page of findings (Query on the table or a GSI, never Scan); see FindingQuery."""
        return run_query(self.client.query, self.table_name, q)

    # --- suppressions (eks_auditor.suppressions; items in eks_auditor.store.suppression_records) -----

    def put_suppression(self, suppression: Suppression) -> None:
        put_suppression(self.client, self.table_name, suppression)
        self._batch_suppressions = None

    def suppressions(self) -> list[Suppression]:
        """Every stored suppression, expired ones included (one Query on their fixed partition)."""
        if not self._batch_caching:
            return load_suppressions(self.client, self.table_name)
        if self._batch_suppressions is None:
            self._batch_suppressions = load_suppressions(self.client, self.table_name)
        return self._batch_suppressions

    def delete_suppression(self, suppression_id: str) -> bool:
        self._batch_suppressions = None
        return delete_suppression(self.client, self.table_name, suppression_id)

    # --- internals -------------------------------------------------------------------------------

    def _claim_checks(self, pk: str, evaluation: Evaluation) -> set[str] | None:
        """The stale guard; returns the checks evaluated here for the first time (None: a newer one won).

        `first#<check>` keeps the time of a check's first evaluation on the cluster, so a retry of that very
        evaluation still knows it was the first (its `evaluated#<check>` exists by then).
        """
        at = {"S": timestamp(evaluation.evaluated_at)}
        update = _Update()
        new = update.value(at)
        conditions = [f"(attribute_not_exists(deleted_at) OR deleted_at < {new})"]
        for check in evaluation.checks_run:
            name = update.name(check_attribute(check))
            first = update.name(first_check_attribute(check))
            update.sets.append(f"{name} = {new}")
            update.sets.append(f"{first} = if_not_exists({first}, {new})")
            # Equal is allowed: a retried evaluation (same evaluated_at) must go on to finish its writes.
            conditions.append(f"(attribute_not_exists({name}) OR {name} <= {new})")
        update.set("last_source", {"S": evaluation.source})
        update.set("cluster_arn", {"S": evaluation.cluster_arn})
        update.set("cluster", {"S": evaluation.cluster})
        update.set("registry", {"S": registry_key(evaluation.account, evaluation.region)})
        update.set("deleted", {"BOOL": False})
        before = self._update_audit(pk, update, conditions)
        if before is None:
            return None
        return {
            check
            for check in evaluation.checks_run
            if check_attribute(check) not in before or before.get(first_check_attribute(check)) == at
        }

    def _update_audit(self, pk: str, update: _Update, conditions: list[str]) -> Item | None:
        """Update the cluster's audit item; returns it as it was (None when a condition does not hold)."""
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": pk}, "sk": {"S": AUDIT_SK}},
                UpdateExpression=update.expression,
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return response.get("Attributes", {})

    def _query_all(self, **request: Any) -> list[Item]:
        items: list[Item] = []
        while True:
            response = self.client.query(TableName=self.table_name, **request)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _read_cluster_with_audit(self, pk: str) -> tuple[Item | None, list[Item]]:
        low, high = CLUSTER_READ_RANGE
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={":pk": {"S": pk}, ":low": {"S": low}, ":high": {"S": high}},
            ConsistentRead=True,
        )
        audit = next((item for item in items if item["sk"]["S"] == AUDIT_SK), None)
        findings = [item for item in items if item["sk"]["S"].startswith(FINDING_PREFIX)]
        return audit, findings

    def _read_cluster(self, pk: str) -> list[Item]:
        return self._read_cluster_with_audit(pk)[1]

    def _outbox(self, items: list[Item], new: list[StateChange], evaluation: Evaluation) -> list[StateChange]:
        seen = {change.change_id for change in new}
        at, source = evaluation.evaluated_at, evaluation.source
        due = outbox_due(items, now=at, source=source, grace=self.outbox_grace)
        return [change for change in due if change.change_id not in seen]

    def _get_item(self, pk: str, sk: str) -> Item | None:
        response = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        return response.get("Item")

    def _finding_update(
        self, finding: Finding, change: StateChange | None, changed_at: datetime | None
    ) -> _Update:
        attributes, removed = finding_attributes(finding, changed_at)
        update = _Update()
        for name, value in attributes.items():
            update.set(name, value)
        for name in removed:
            update.remove(name)
        if change is not None:
            update.set(pending_attribute(change.change_id), {"S": change.model_dump_json()})
        return update

    def _update_request(self, pk: str, finding_id: str, update: _Update, condition: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": pk}, "sk": {"S": finding_sk(finding_id)}},
            "UpdateExpression": update.expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": update.names,
        }
        if update.values:
            request["ExpressionAttributeValues"] = update.values
        return request

    def _write_all(
        self, pk: str, writes: list[Write], at: datetime, *, deletion: bool = False
    ) -> list[StateChange]:
        changes: list[StateChange] = []
        for write in writes:
            if self._write(pk, write, at, deletion=deletion) and write.change is not None:
                changes.append(write.change)
        return changes

    def _write(self, pk: str, write: Write, at: datetime, *, deletion: bool) -> bool:
        finding = write.finding
        changed_at = write.change.changed_at if write.change is not None else None
        update = self._finding_update(finding, write.change, changed_at)
        new = update.value({"S": timestamp(at)})
        condition = f"attribute_not_exists(pk) OR {update.name('evaluated_at')} < {new}"
        request = self._update_request(pk, finding.id, update, condition)
        if write.change is None:
            try:
                self.client.update_item(**request)
            except self.client.exceptions.ConditionalCheckFailedException:
                logger.info("quiet refresh of finding %s skipped: written by a newer evaluation", finding.id)
                return False
            return True
        audit_condition = self._audit_condition(pk, write.owner, at, deletion=deletion)
        items = [
            {"ConditionCheck": audit_condition},
            {"Update": request},
            {"Put": {"TableName": self.table_name, "Item": history_item(write.change, finding.expires_at)}},
        ]
        return self._transact(items, finding.id)

    def _audit_condition(self, pk: str, owner: str | None, at: datetime, *, deletion: bool) -> dict[str, Any]:
        """The AUDIT item still names this evaluation (or deletion) as the latest for the finding's check."""
        names: dict[str, str] = {"#deleted_at": "deleted_at"}
        values: dict[str, Any] = {":at": {"S": timestamp(at)}}
        if deletion:
            expression = "#deleted_at = :at"
        else:
            expression = "(attribute_not_exists(#deleted_at) OR #deleted_at < :at)"
            if owner is not None:
                names["#check"] = check_attribute(owner)
                expression += " AND (attribute_not_exists(#check) OR #check = :at)"
        return {
            "TableName": self.table_name,
            "Key": {"pk": {"S": pk}, "sk": {"S": AUDIT_SK}},
            "ConditionExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _transact(self, items: list[dict[str, Any]], finding_id: str) -> bool:
        """True when written; False when a condition failed (a newer write won, or a duplicate)."""
        for attempt in range(1, _TRANSACTION_ATTEMPTS + 1):
            try:
                self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
            except self.client.exceptions.TransactionCanceledException as exc:
                cancelled = exc.response.get("CancellationReasons", [])
                reasons = [reason.get("Code", "None") for reason in cancelled]
                if "ConditionalCheckFailed" in reasons:
                    logger.info("write of finding %s skipped (condition failed: %s)", finding_id, reasons)
                    return False
                if "TransactionConflict" in reasons and attempt < _TRANSACTION_ATTEMPTS:
                    time.sleep(0.05 * attempt)
                    continue
                raise
            return True
        return False
