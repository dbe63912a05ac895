"""FindingStore: the findings table (DynamoDB), one facade over the store's parts.

  writer.FindingWriter                    evaluations, deletions, event findings, the outbox (protocol there)
  reader.FindingReader                    one finding, its history, known clusters, queries
  suppression_records.SuppressionRecords  the suppressions (read once per batch after start_batch())
  counters.Counters                       windowed counters and one-per-window claims

They share one client and one expression builder (store.expression); only this package knows the keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from eks_auditor.compliance.posture import ClusterVerdicts
from eks_auditor.model.evaluation import Evaluation
from eks_auditor.model.finding import Finding, StateChange
from eks_auditor.store.counters import Counters
from eks_auditor.store.lifecycle import IncompleteAlerts
from eks_auditor.store.query import FindingPage, FindingQuery
from eks_auditor.store.reader import FindingReader, HistoryEntry
from eks_auditor.store.suppression_records import SuppressionRecords
from eks_auditor.store.table import default_client
from eks_auditor.store.writer import EventRecord, FindingWriter, outbox_due

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from eks_auditor.suppressions import Suppression

__all__ = ["EventRecord", "FindingStore", "HistoryEntry", "outbox_due"]


class FindingStore:
    """The findings table. Only this package knows its keys (see eks_auditor.store.schema)."""

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        heartbeat: timedelta = timedelta(hours=24),
        outbox_grace: timedelta = timedelta(minutes=5),
        incomplete_alerts: IncompleteAlerts | None = None,
    ) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client if client is not None else default_client()
        self.suppression_records = SuppressionRecords(table_name, self.client)
        self.reader = FindingReader(table_name, self.client)
        self.counters = Counters(table_name, self.client)
        self.writer = FindingWriter(
            table_name,
            self.client,
            suppressions=self.suppression_records.suppressions,
            heartbeat=heartbeat,
            outbox_grace=outbox_grace,
            incomplete_alerts=incomplete_alerts,
        )

    @property
    def heartbeat(self) -> timedelta:
        return self.writer.heartbeat

    @property
    def outbox_grace(self) -> timedelta:
        return self.writer.outbox_grace

    def start_batch(self) -> None:
        """Read the suppressions once for the evaluations of one batch (a Lambda invocation), not once
        per cluster; the next start_batch() reads them again, and put/delete invalidate them."""
        self.suppression_records.start_batch()

    # --- writes and the outbox (FindingWriter) ------------------------------------------------------

    def apply_evaluation(self, evaluation: Evaluation) -> list[StateChange]:
        """Store one evaluation; return its state changes, then the cluster's earlier unpublished ones."""
        return self.writer.apply_evaluation(evaluation)

    def resolve_cluster(
        self, account: str, region: str, cluster: str, *, source: str, evaluated_at: datetime
    ) -> list[StateChange]:
        """The cluster was deleted: resolve every OPEN or SUPPRESSED finding and mark the AUDIT deleted."""
        return self.writer.resolve_cluster(account, region, cluster, source=source, evaluated_at=evaluated_at)

    def record_transient(self, findings: Sequence[Finding]) -> list[StateChange]:
        return self.writer.record_transient(findings)

    def record_event(self, finding: Finding) -> EventRecord:
        return self.writer.record_event(finding)

    def due_changes(
        self, account: str, region: str, cluster: str, *, now: datetime, source: str
    ) -> list[StateChange]:
        return self.writer.due_changes(account, region, cluster, now=now, source=source)

    def pending_changes(self, account: str, region: str, cluster: str) -> list[StateChange]:
        return self.writer.pending_changes(account, region, cluster)

    def mark_notified(self, change: StateChange) -> None:
        self.writer.mark_notified(change)

    def fold(self, change: StateChange) -> None:
        self.writer.fold(change)

    def is_current(self, change: StateChange) -> bool:
        return self.writer.is_current(change)

    # --- counters -------------------------------------------------------------------------------

    def increment_counter(self, key: str, *, member: str, expires_at: datetime) -> int:
        return self.counters.increment_counter(key, member=member, expires_at=expires_at)

    def claim_once(self, key: str, *, claimant: str, expires_at: datetime) -> bool:
        return self.counters.claim_once(key, claimant=claimant, expires_at=expires_at)

    # --- reads ----------------------------------------------------------------------------------

    def get(self, finding_id: str) -> Finding | None:
        return self.reader.get(finding_id)

    def history(self, finding_id: str) -> list[HistoryEntry]:
        return self.reader.history(finding_id)

    def known_clusters(self, account: str, region: str) -> list[str]:
        return self.reader.known_clusters(account, region)

    def cluster_verdicts(self, account: str, region: str) -> list[ClusterVerdicts]:
        return self.reader.cluster_verdicts(account, region)

    def open_findings(self, account: str, region: str, cluster: str) -> list[Finding]:
        return self.reader.open_findings(account, region, cluster)

    def query(self, q: FindingQuery) -> FindingPage:
        return self.reader.query(q)

    # --- suppressions (eks_auditor.suppressions; items in eks_auditor.store.suppression_records) -----

    def put_suppression(self, suppression: Suppression) -> None:
        self.suppression_records.put_suppression(suppression)

    def suppressions(self) -> list[Suppression]:
        return self.suppression_records.suppressions()

    def delete_suppression(self, suppression_id: str) -> bool:
        return self.suppression_records.delete_suppression(suppression_id)
