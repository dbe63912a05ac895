"""The one way a stored state change leaves the auditor: SNS, then Security Hub, then the marker cleared.

The store writes each change with its outbox marker (`pending#<change id>`) in the same transaction as the
finding. The publisher sends it and clears the marker last, so a handler that dies (or an SNS or Security Hub
call that fails) anywhere before that leaves the change in the outbox, where the next writer of the cluster
finds it (FindingStore.due_changes, one grace for every pipeline) and publishes it again. Subscribers may
therefore see a change twice: the change id is in every message to deduplicate on. The first-run baseline
digests go out after the changes and before any marker is cleared; a digest that fails keeps the baseline
openings in the outbox, so the retry sends them and the digest (same digest id) again.

Order: every change carries its finding's sequence number (one more per state change). Right before sending,
the publisher checks that no newer change of the finding was stored or published (FindingStore.is_current);
an older one is folded (its marker cleared, never sent), so a retried REOPENED never follows the RESOLVED
that came after it. What is left is the race of two handlers sending within the same moment.

The audit engine and the spot pipeline both publish through here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from eks_auditor.metrics import MetricSink, NullSink
from eks_auditor.model.finding import ChangeKind, StateChange

if TYPE_CHECKING:
    from eks_auditor.notify import Notifier
    from eks_auditor.securityhub import SecurityHubExporter
    from eks_auditor.store import FindingStore

logger = logging.getLogger(__name__)


class Publisher:
    """Publishes stored changes; without a notifier (the CLI without a topic) they stay in the outbox."""

    def __init__(
        self,
        store: FindingStore | None,
        notifier: Notifier | None,
        *,
        security_hub: SecurityHubExporter | None = None,
        metrics: MetricSink | None = None,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.security_hub = security_hub
        self.metrics: MetricSink = metrics or NullSink()

    def publish(self, changes: Sequence[StateChange], *, counted_at: datetime | None = None) -> None:
        """Send each change once, in order; then export them to Security Hub; then clear their markers.

        With `counted_at`, only the changes made at that time are counted in the metrics: earlier changes
        handed back from the outbox for re-publishing were counted when they happened.

        When SNS fails on one change, the changes sent before it are still exported and cleared (they
        must not be sent again), and the error propagates: the failed change and those after it stay in
        the outbox for the caller's retry.
        """
        for change in changes:
            if counted_at is None or change.changed_at == counted_at:
                self.metrics.count(metric_name(change))
        if self.notifier is None or self.store is None:
            return
        sent: list[StateChange] = []
        digested = False
        try:
            for change in changes:
                if not self.store.is_current(change):
                    logger.info("change %s not sent: a newer change of its finding exists", change.change_id)
                    self.metrics.count("ChangesSuperseded")
                    self.store.fold(change)
                    continue
                self.notifier.publish(change)
                sent.append(change)
            # After the openings it sums up: one first-run baseline digest per cluster (notify.Notifier).
            self.notifier.publish_digests(sent)
            digested = True
        finally:
            # Until the digests are out, the baseline openings stay in the outbox: the retry sends them again
            # (to the subscribers that take baseline=true; the change id deduplicates) and then the digest,
            # under the same digest id. Clearing them first would lose the digest with them.
            self._settle(sent if digested else [change for change in sent if not awaits_digest(change)])

    def _settle(self, sent: Sequence[StateChange]) -> None:
        assert self.store is not None
        if self.security_hub is not None and sent:
            # Suppressed and resolved changes too: Security Hub mirrors workflow and record state. A finding
            # with no cluster ARN (a spot instance already gone) has no resource Security Hub could name.
            exported = [change for change in sent if change.finding.cluster_arn]
            if exported:
                self.security_hub.export(exported)
        for change in sent:
            self.store.mark_notified(change)


def awaits_digest(change: StateChange) -> bool:
    """A first-run baseline opening: a baseline digest sums it up (notify.baseline_digests)."""
    return change.baseline and change.kind is ChangeKind.OPENED


def metric_name(change: StateChange) -> str:
    if change.kind in (ChangeKind.OPENED, ChangeKind.REOPENED):
        return f"FindingsOpened{change.finding.severity.value.title()}"
    return f"Findings{change.kind.value.title().replace('_', '')}"
