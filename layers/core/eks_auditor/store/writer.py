"""The writing side of the store: evaluations, deletions and event-born findings through the lifecycle, and
the outbox their changes wait in until published.

Write protocol of apply_evaluation, for one cluster:
 1. Stale guard: one conditional UpdateItem on the AUDIT item sets `evaluated#<check>` = evaluated_at for
    every check run, on condition that each is absent or not newer, and `verdict#<check>` (the check's latest
    verdict on the cluster, which the compliance posture reads). A failed condition means a newer
    evaluation of one of these checks got there first: nothing is written and [] is returned. The same
    update keeps `first#<check>` (the time of the check's first evaluation on the cluster) and returns the
    item as it was, which tells the checks evaluated here for the first time: their OPENED changes carry
    `baseline` (the first-run baseline, see notify). The guard runs
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eks_auditor.compliance.verdict import Verdict, check_verdicts
from eks_auditor.model.evaluation import Evaluation
from eks_auditor.model.finding import ChangeKind, Finding, StateChange
from eks_auditor.store.expression import Expression
from eks_auditor.store.lifecycle import (
    IncompleteAlerts,
    Write,
    plan_deletion,
    plan_evaluation,
    plan_transient,
)
from eks_auditor.store.schema import (
    AUDIT_SK,
    CHECK_ATTRIBUTE_PREFIX,
    CLUSTER_READ_RANGE,
    FINDING_PREFIX,
    PUBLISHED_ATTRIBUTE,
    check_attribute,
    cluster_pk,
    failing_since_attribute,
    finding_attributes,
    finding_from_item,
    finding_sk,
    first_check_attribute,
    history_item,
    owner_check,
    pending_attribute,
    pending_from_item,
    registry_key,
    sequence_of,
    timestamp,
    verdict_attribute,
    verdict_value,
)
from eks_auditor.store.table import TRANSACTION_ATTEMPTS, Item, Table, utc

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from eks_auditor.suppressions import Suppression

logger = logging.getLogger(__name__)


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
        if not superseded(item, change)
        and ((change.changed_at == now and change.finding.source == source) or change.changed_at <= cutoff)
    ]
    return sorted(due, key=lambda change: (change.changed_at, change.finding.sequence, change.change_id))


def superseded(item: Item, change: StateChange) -> bool:
    """A newer change of the finding was stored (higher sequence) or already published: never send this."""
    sequence = change.finding.sequence
    return sequence < sequence_of(item) or sequence <= sequence_of(item, PUBLISHED_ATTRIBUTE)


def narrowed(evaluation: Evaluation, checks: Sequence[str]) -> Evaluation:
    """The evaluation restricted to `checks` (audit_incomplete findings belong to the check they name)."""
    keep = set(checks)
    return evaluation.model_copy(
        update={
            "checks_run": tuple(check for check in evaluation.checks_run if check in keep),
            "failing": tuple(f for f in evaluation.failing if owner_check(f) in keep),
            "passing": tuple((check, resource) for check, resource in evaluation.passing if check in keep),
            "errored_checks": tuple(check for check in evaluation.errored_checks if check in keep),
            "not_applicable": tuple(entry for entry in evaluation.not_applicable if entry[0] in keep),
        }
    )


def as_baseline(write: Write) -> Write:
    """An opening found by the first evaluation of its check on the cluster: published as baseline."""
    if write.change is None or write.change.kind is not ChangeKind.OPENED:
        return write
    return replace(write, change=write.change.model_copy(update={"baseline": True}))


@dataclass(frozen=True)
class EventRecord:
    """What recording one event-born finding did: `new` False for an event recorded before (a duplicate);
    `change` None for a new event that changed no state (a suppressed finding stays suppressed)."""

    new: bool
    change: StateChange | None


class FindingWriter(Table):
    """Every finding write; `suppressions` reads the suppressions the lifecycle applies."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        *,
        suppressions: Callable[[], list[Suppression]],
        heartbeat: timedelta,
        outbox_grace: timedelta,
        incomplete_alerts: IncompleteAlerts | None = None,
    ) -> None:
        super().__init__(table_name, client)
        self.suppressions = suppressions
        self.heartbeat = heartbeat
        self.outbox_grace = outbox_grace
        self.incomplete_alerts = incomplete_alerts or IncompleteAlerts()

    def apply_evaluation(self, evaluation: Evaluation) -> list[StateChange]:
        """Store one evaluation; return its state changes, then the cluster's earlier unpublished ones."""
        at = utc(evaluation.evaluated_at)
        evaluation = evaluation.model_copy(update={"evaluated_at": at})
        pk = cluster_pk(evaluation.account, evaluation.region, evaluation.cluster)
        claimed = self._claim_checks(pk, evaluation)
        if claimed is None:
            logger.info(
                "stale evaluation %s of %s at %s ignored: a newer evaluation of all its checks was stored",
                evaluation.source,
                pk,
                timestamp(at),
            )
            return []
        evaluation, first = claimed
        items = self._read_cluster(pk)
        stored = {item["id"]["S"]: finding_from_item(item) for item in items}
        writes = plan_evaluation(
            evaluation,
            stored,
            heartbeat=self.heartbeat,
            suppressions=self.suppressions(),
            incomplete_alerts=self.incomplete_alerts,
        )
        writes = [as_baseline(write) if write.owner in first else write for write in writes]
        changes = self._write_all(pk, writes, at)
        return changes + self._outbox(items, changes, evaluation)

    def resolve_cluster(
        self, account: str, region: str, cluster: str, *, source: str, evaluated_at: datetime
    ) -> list[StateChange]:
        """The cluster was deleted: resolve every OPEN or SUPPRESSED finding and mark the AUDIT deleted."""
        at = utc(evaluated_at)
        pk = cluster_pk(account, region, cluster)
        audit, items = self._read_cluster_with_audit(pk)
        checks = [name for name in (audit or {}) if name.startswith(CHECK_ATTRIBUTE_PREFIX)]
        update = Expression()
        update.set("deleted", {"BOOL": True})
        update.set("deleted_at", {"S": timestamp(at)})
        update.set("deleted_source", {"S": source})
        update.remove("registry")
        new = update.value({"S": timestamp(at)})
        conditions = [f"(attribute_not_exists(deleted_at) OR deleted_at < {new})"]
        conditions += [f"{update.name(name)} <= {new}" for name in checks]
        if not self._update_audit(pk, update, conditions):
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
        finding = finding.model_copy(update={"evaluated_at": utc(finding.evaluated_at)})
        pk = cluster_pk(finding.account, finding.region, finding.cluster)
        for _ in range(TRANSACTION_ATTEMPTS):
            stored_item = self.get_item(pk, finding_sk(finding.id))
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
                if self.conditional("update_item", **request) is None:
                    continue
                return EventRecord(new=True, change=None)
            history = history_item(write.change, finding.expires_at)
            items = [{"Update": request}, {"Put": {"TableName": self.table_name, "Item": history}}]
            if self.transact(items, f"finding {finding.id}"):
                return EventRecord(new=True, change=write.change)
        raise RuntimeError(f"finding {finding.id}: kept changing under concurrent events, not recorded")

    # --- outbox ----------------------------------------------------------------------------------

    def due_changes(
        self, account: str, region: str, cluster: str, *, now: datetime, source: str
    ) -> list[StateChange]:
        """The cluster's pending changes that are due for (re-)publishing at `now` (see outbox_due)."""
        items = self._read_cluster(cluster_pk(account, region, cluster))
        return self._due(items, now=utc(now), source=source)

    def pending_changes(self, account: str, region: str, cluster: str) -> list[StateChange]:
        """Every change of the cluster written but not yet marked notified, oldest first."""
        items = self._read_cluster(cluster_pk(account, region, cluster))
        pending = [change for item in items for change in pending_from_item(item)]
        return sorted(pending, key=lambda change: (change.changed_at, change.change_id))

    def mark_notified(self, change: StateChange) -> None:
        """Remove the change from the outbox and record its sequence as published (never lowered);
        a second call for the same change is a no-op."""
        pending, published = pending_attribute(change.change_id), PUBLISHED_ATTRIBUTE
        recorded = self.conditional(
            "update_item",
            Key=_finding_key(change.finding),
            UpdateExpression="REMOVE #p SET #s = :s",
            ConditionExpression="attribute_exists(#p) AND (attribute_not_exists(#s) OR #s < :s)",
            ExpressionAttributeNames={"#p": pending, "#s": published},
            ExpressionAttributeValues={":s": {"N": str(change.finding.sequence)}},
        )
        if recorded is None:
            self.fold(change)

    def fold(self, change: StateChange) -> None:
        """Remove the change from the outbox without publishing it (a newer change supersedes it)."""
        removed = self.conditional(
            "update_item",
            Key=_finding_key(change.finding),
            UpdateExpression="REMOVE #p",
            ConditionExpression="attribute_exists(#p)",
            ExpressionAttributeNames={"#p": pending_attribute(change.change_id)},
        )
        if removed is None:
            logger.debug("change %s was already marked notified", change.change_id)

    def is_current(self, change: StateChange) -> bool:
        """False when a newer change of the finding was stored or published: sending this one now would
        tell subscribers an older state last (one consistent GetItem)."""
        finding = change.finding
        item = self.get_item(
            cluster_pk(finding.account, finding.region, finding.cluster), finding_sk(finding.id)
        )
        return item is None or not superseded(item, change)

    # --- internals -------------------------------------------------------------------------------

    def _claim_checks(self, pk: str, evaluation: Evaluation) -> tuple[Evaluation, set[str]] | None:
        """Claim the checks of `evaluation` no newer evaluation has stored (per check, not per cluster).

        Returns the evaluation narrowed to the checks claimed, with those of them evaluated on the cluster
        for the first time (the baseline); None when none is left (or the cluster was deleted later). A
        check another evaluation stored more recently keeps that evaluation's verdict; the others keep ours:
        a scan overtaken by an event audit keeps what the event audit did not re-check.
        """
        for _ in range(TRANSACTION_ATTEMPTS):
            before = self._claim(pk, evaluation)
            if before is not None:
                return evaluation, _first_checks(evaluation, before)
            audit = self.get_item(pk, AUDIT_SK) or {}
            at = timestamp(evaluation.evaluated_at)
            if "deleted_at" in audit and audit["deleted_at"]["S"] >= at:
                return None
            fresh = [
                check
                for check in evaluation.checks_run
                if audit.get(check_attribute(check), {}).get("S", "") <= at
            ]
            if not fresh:
                return None
            evaluation = narrowed(evaluation, fresh)
        return None

    def _claim(self, pk: str, evaluation: Evaluation) -> Item | None:
        """The stale guard's UpdateItem: the AUDIT item as it was before (None when a condition failed).

        `first#<check>` keeps the time of a check's first evaluation on the cluster, so a retry of that very
        evaluation still knows it was the first (its `evaluated#<check>` exists by then).
        """
        update = Expression()
        new = update.value({"S": timestamp(evaluation.evaluated_at)})
        conditions = [f"(attribute_not_exists(deleted_at) OR deleted_at < {new})"]
        verdicts = check_verdicts(evaluation)
        for check in evaluation.checks_run:
            name = update.name(check_attribute(check))
            first = update.name(first_check_attribute(check))
            update.sets.append(f"{name} = {new}")
            update.sets.append(f"{first} = if_not_exists({first}, {new})")
            # The posture reads the latest verdict of each check here (see compliance.posture), and since
            # when it fails: kept through further failures and incomplete runs, cleared by a pass.
            verdict = verdicts[check]
            update.set(verdict_attribute(check), verdict_value(verdict))
            if verdict.verdict is Verdict.FAIL:
                since = update.name(failing_since_attribute(check))
                update.sets.append(f"{since} = if_not_exists({since}, {new})")
            elif verdict.verdict is not Verdict.INCOMPLETE:
                update.remove(failing_since_attribute(check))
            # Equal is allowed: a retried evaluation (same evaluated_at) must go on to finish its writes.
            conditions.append(f"(attribute_not_exists({name}) OR {name} <= {new})")
        update.set("last_source", {"S": evaluation.source})
        update.set("cluster_arn", {"S": evaluation.cluster_arn})
        update.set("cluster", {"S": evaluation.cluster})
        update.set("registry", {"S": registry_key(evaluation.account, evaluation.region)})
        update.set("deleted", {"BOOL": False})
        request = update.update_request(self.table_name, _audit_key(pk), " AND ".join(conditions))
        response = self.conditional("update_item", **request, ReturnValues="ALL_OLD")
        return None if response is None else response.get("Attributes", {})

    def _update_audit(self, pk: str, update: Expression, conditions: list[str]) -> bool:
        """Update the cluster's audit item; False when a condition does not hold."""
        request = update.update_request(self.table_name, _audit_key(pk), " AND ".join(conditions))
        return self.conditional("update_item", **request) is not None

    def _read_cluster_with_audit(self, pk: str) -> tuple[Item | None, list[Item]]:
        low, high = CLUSTER_READ_RANGE
        items = self.query_all(
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
        due = self._due(items, now=at, source=source)
        return [change for change in due if change.change_id not in seen]

    def _due(self, items: Sequence[Item], *, now: datetime, source: str) -> list[StateChange]:
        """outbox_due, with the changes a newer change of their finding superseded folded away."""
        for item in items:
            for change in pending_from_item(item):
                if superseded(item, change):
                    logger.info("change %s folded: a newer change of its finding exists", change.change_id)
                    self.fold(change)
        return outbox_due(items, now=now, source=source, grace=self.outbox_grace)

    def _finding_update(
        self, finding: Finding, change: StateChange | None, changed_at: datetime | None
    ) -> Expression:
        attributes, removed = finding_attributes(finding, changed_at)
        update = Expression()
        for name, value in attributes.items():
            update.set(name, value)
        for name in removed:
            update.remove(name)
        if change is not None:
            update.set(pending_attribute(change.change_id), {"S": change.model_dump_json()})
        return update

    def _update_request(self, pk: str, finding_id: str, update: Expression, condition: str) -> dict[str, Any]:
        key = {"pk": {"S": pk}, "sk": {"S": finding_sk(finding_id)}}
        return update.update_request(self.table_name, key, condition)

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
        changed_at = write.change.changed_at if write.change is not None else write.moved_at
        update = self._finding_update(finding, write.change, changed_at)
        new = update.value({"S": timestamp(at)})
        condition = f"attribute_not_exists(pk) OR {update.name('evaluated_at')} < {new}"
        request = self._update_request(pk, finding.id, update, condition)
        if write.change is None:
            if self.conditional("update_item", **request) is None:
                logger.info("quiet refresh of finding %s skipped: written by a newer evaluation", finding.id)
                return False
            return True
        audit_condition = self._audit_condition(pk, write.owner, at, deletion=deletion)
        items = [
            {"ConditionCheck": audit_condition},
            {"Update": request},
            {"Put": {"TableName": self.table_name, "Item": history_item(write.change, finding.expires_at)}},
        ]
        return self.transact(items, f"finding {finding.id}")

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
            "Key": _audit_key(pk),
            "ConditionExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }


def _first_checks(evaluation: Evaluation, before: Item) -> set[str]:
    """The checks of `evaluation` evaluated on the cluster for the first time, by the AUDIT item as it was
    before the claim: never evaluated, or first evaluated by this very evaluation (a retry of it)."""
    at = {"S": timestamp(evaluation.evaluated_at)}
    return {
        check
        for check in evaluation.checks_run
        if check_attribute(check) not in before or before.get(first_check_attribute(check)) == at
    }


def _audit_key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": AUDIT_SK}}


def _finding_key(finding: Finding) -> dict[str, Any]:
    return {
        "pk": {"S": cluster_pk(finding.account, finding.region, finding.cluster)},
        "sk": {"S": finding_sk(finding.id)},
    }
