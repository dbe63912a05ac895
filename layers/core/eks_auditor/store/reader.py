"""Reading findings: one finding, its history, the clusters known, and the security team's queries."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from pydantic import Field

from eks_auditor.compliance.posture import ClusterVerdicts
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, Finding, Status
from eks_auditor.model.frozen import FrozenModel
from eks_auditor.model.pipeline import ACCOUNT_REGION
from eks_auditor.store.expression import Expression
from eks_auditor.store.query import FindingPage, FindingQuery, run_query
from eks_auditor.store.schema import (
    AUDIT_SK,
    BY_ID,
    BY_REGISTRY,
    FINDING_PREFIX,
    HISTORY_PREFIX,
    cluster_pk,
    finding_from_item,
    history_fields,
    registry_key,
    verdicts_from_item,
)
from eks_auditor.store.table import Table


class Transition(FrozenModel):
    """One state change of a finding and the evaluation (event id or scan id) that made it: what the
    HTTP API and `findings show` print of a finding's history."""

    kind: ChangeKind
    previous_status: Status | None
    new_status: Status
    previous_severity: Severity | None
    new_severity: Severity
    source: str
    changed_at: datetime
    reason: str | None = Field(default=None, description="why, when the kind alone does not say")


class HistoryEntry(Transition):
    """A transition as kept in the finding's history, with the keys that place it there."""

    finding_id: str
    change_id: str


_BATCH_GET_KEYS = 100  # BatchGetItem's limit
_BATCH_GET_ATTEMPTS = 8


class FindingReader(Table):
    def get(self, finding_id: str) -> Finding | None:
        expr = Expression()
        request = expr.query(f"{expr.name('id')} = {expr.value(finding_id)}", IndexName=BY_ID)
        items = self.client.query(TableName=self.table_name, **request).get("Items", [])
        return finding_from_item(items[0]) if items else None

    def history(self, finding_id: str) -> list[HistoryEntry]:
        """The finding's state changes, oldest first."""
        finding = self.get(finding_id)
        if finding is None:
            return []
        expr = Expression()
        pk = cluster_pk(finding.account, finding.region, finding.cluster)
        key = f"{expr.name('pk')} = {expr.value(pk)} AND begins_with({expr.name('sk')}, "
        key += f"{expr.value(f'{HISTORY_PREFIX}{finding_id}#')})"
        items = self.query_all(**expr.query(key, ConsistentRead=True))
        return [HistoryEntry(**history_fields(item)) for item in items]

    def known_clusters(self, account: str, region: str) -> list[str]:
        """Clusters audited in this account and region and not deleted since (GSI by_registry).

        Not the pseudo-cluster "-" of account-region findings: it is no EKS cluster, and the schedule would
        otherwise take it for one deleted while no event reached us and resolve its findings.
        """
        expr = Expression()
        key = f"{expr.name('registry')} = {expr.value(registry_key(account, region))}"
        items = self.query_all(**expr.query(key, IndexName=BY_REGISTRY))
        return sorted(item["cluster"]["S"] for item in items if item["cluster"]["S"] != ACCOUNT_REGION)

    def cluster_verdicts(self, account: str, region: str) -> list[ClusterVerdicts]:
        """The latest check verdicts of every known cluster of the account and region: one Query of the
        registry index, then the AUDIT items by key (BatchGetItem, 100 keys a call), never a Scan."""
        clusters = self.known_clusters(account, region)
        keys = [{"pk": {"S": cluster_pk(account, region, name)}, "sk": {"S": AUDIT_SK}} for name in clusters]
        items: list[dict[str, Any]] = []
        for start in range(0, len(keys), _BATCH_GET_KEYS):
            pending: dict[str, Any] = {self.table_name: {"Keys": keys[start : start + _BATCH_GET_KEYS]}}
            for attempt in range(_BATCH_GET_ATTEMPTS):
                if attempt:
                    # Keys left unprocessed under throttling: botocore does not retry them, we back off.
                    time.sleep(min(1.0, 0.05 * 2**attempt))
                response = self.client.batch_get_item(RequestItems=pending)
                items.extend(response.get("Responses", {}).get(self.table_name, []))
                pending = dict(response.get("UnprocessedKeys") or {})
                if not pending:
                    break
            else:
                raise RuntimeError(f"{self.table_name}: AUDIT items still unprocessed after throttling")
        by_cluster = {item["cluster"]["S"]: item for item in items if "cluster" in item}
        return [
            ClusterVerdicts(
                account=account,
                region=region,
                cluster=name,
                verdicts=verdicts_from_item(by_cluster.get(name, {})),
            )
            for name in clusters
        ]

    def open_findings(self, account: str, region: str, cluster: str) -> list[Finding]:
        """The cluster's OPEN findings (one paginated Query of its partition), for its daily digest."""
        expr = Expression()
        pk = cluster_pk(account, region, cluster)
        key = f"{expr.name('pk')} = {expr.value(pk)} AND begins_with({expr.name('sk')}, "
        key += f"{expr.value(FINDING_PREFIX)})"
        findings = [
            finding_from_item(item) for item in self.query_all(**expr.query(key, ConsistentRead=True))
        ]
        return [finding for finding in findings if finding.status is Status.OPEN]

    def query(self, q: FindingQuery) -> FindingPage:
        """One page of findings (Query on the table or a GSI, never Scan); see FindingQuery."""
        return run_query(self.client.query, self.table_name, q)
