"""Wiring: builds the collector, store, notifier, auditor and dispatcher once per process.

Lambda handlers build one Runtime at module scope; every client is created lazily on first use so
the cold start pays only for what the invocation touches.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from eks_auditor.config import Settings
from eks_auditor.metrics import MetricSink, NullSink

if TYPE_CHECKING:
    from datetime import datetime

    import boto3
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from eks_auditor.audit import Auditor
    from eks_auditor.collect.snapshot import SnapshotCollector
    from eks_auditor.concurrency import Limiter
    from eks_auditor.dispatch import Dispatcher
    from eks_auditor.notify import Notifier
    from eks_auditor.publish import Publisher
    from eks_auditor.securityhub import SecurityHubExporter
    from eks_auditor.spot.notices import SpotBatch
    from eks_auditor.store import FindingStore


_shared: Runtime | None = None


class PowertoolsSink:
    """Forwards core counts to Powertools Metrics (CloudWatch EMF)."""

    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics
        # Audits count from several threads; Powertools Metrics keeps plain dicts.
        self._lock = threading.Lock()

    def count(self, name: str, value: int = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        with self._lock:
            self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@dataclass
class KubeOverride:
    """Reach a cluster's API through a tunnel or bastion: endpoint URL and CA file."""

    endpoint: str | None = None
    ca_file: str | None = None


@dataclass
class Runtime:
    settings: Settings
    metrics: MetricSink = field(default_factory=NullSink)
    session: boto3.Session | None = None
    kube_overrides: Mapping[str, KubeOverride] = field(default_factory=dict)
    _dispatcher: Dispatcher | None = None

    @cached_property
    def boto_session(self) -> boto3.Session:
        import boto3

        return self.session or boto3.Session()

    def client(self, service: str, region: str | None = None) -> Any:
        return self.clients.client(service, region)

    @cached_property
    def limiter(self) -> Limiter:
        """Cluster audits in flight: overall and per account-region (settings.max_concurrency*)."""
        from eks_auditor.concurrency import Limiter

        return Limiter(
            self.settings.max_concurrency,
            min(self.settings.max_concurrency_per_account_region, self.settings.max_concurrency),
        )

    @cached_property
    def clients(self) -> Any:
        from eks_auditor.collect.clients import AwsClients

        return AwsClients(self.boto_session, on_throttle=lambda region: self.limiter.throttled_region(region))

    @cached_property
    def collector(self) -> SnapshotCollector:
        from eks_auditor.collect.snapshot import SnapshotCollector

        return SnapshotCollector(
            self.clients,
            kube_overrides=self.kube_overrides,
            known_egress_tgws=self.settings.known_egress_tgws,
        )

    @cached_property
    def store(self) -> FindingStore:
        from eks_auditor.store import FindingStore

        if not self.settings.findings_table:
            raise RuntimeError("FINDINGS_TABLE is not set")
        return FindingStore(self.settings.findings_table, client=self.client("dynamodb"))

    @cached_property
    def notifier(self) -> Notifier | None:
        from eks_auditor.notify import Notifier

        if not self.settings.topic_arn:
            return None
        return Notifier(
            self.settings.topic_arn,
            client=self.client("sns"),
            baseline=self.settings.first_run_baseline,
            daily_digest=self.settings.daily_digest,
        )

    def send_daily_digest(self, account: str, region: str, cluster: str, *, at: datetime) -> str | None:
        """The cluster's daily digest of open MEDIUM-and-lower findings; None when off or nothing is open."""
        from eks_auditor.notify import daily_digest

        if self.notifier is None or not self.settings.daily_digest:
            return None
        digest = daily_digest(self.store.open_findings(account, region, cluster), at=at)
        return self.notifier.publish_digest(digest) if digest is not None else None

    @cached_property
    def idempotency_store(self) -> DynamoDBPersistenceLayer:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(
            table_name=self.settings.idempotency_table, boto3_client=self.client("dynamodb")
        )

    @cached_property
    def publisher(self) -> Publisher:
        """The one publisher of stored changes (engine and spot alike)."""
        from eks_auditor.publish import Publisher

        store = self.store if self.settings.findings_table else None
        return Publisher(store, self.notifier, security_hub=self.security_hub, metrics=self.metrics)

    @cached_property
    def auditor(self) -> Auditor:
        from eks_auditor.audit import Auditor

        store = self.store if self.settings.findings_table else None
        return Auditor(
            self.collector,
            store=store,
            notifier=self.notifier,
            metrics=self.metrics,
            security_hub=self.security_hub,
            publisher=self.publisher,
        )

    def spot_batch(self, now: datetime) -> SpotBatch:
        """A fresh spot batch per invocation: its instance lookups and suppressions must not outlive it."""
        from eks_auditor.spot.notices import SpotBatch

        self.store.start_batch()
        return SpotBatch(
            ec2_client=self.client("ec2"),
            ec2_client_for=lambda region: self.client("ec2", region),
            store=self.store,
            publisher=self.publisher,
            now=now,
            ttl=self.settings.spot_notice_ttl,
            burst_threshold=self.settings.spot_burst_threshold,
            burst_window=self.settings.spot_burst_window,
            metrics=self.metrics,
        )

    @cached_property
    def security_hub(self) -> SecurityHubExporter | None:
        if not self.settings.security_hub_enabled:
            return None
        from eks_auditor.securityhub import SecurityHubExporter

        return SecurityHubExporter(self.client("securityhub"))

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            self.start_batch()
        assert self._dispatcher is not None
        return self._dispatcher

    def start_batch(self) -> None:
        """A fresh dispatcher per invocation: the in-batch de-duplication must not outlive it."""
        from eks_auditor.dispatch import Dispatcher

        self.collector.start_scan()
        if self.settings.findings_table:
            self.store.start_batch()
        self._dispatcher = Dispatcher(
            self.auditor,
            list_clusters=self.collector.list_clusters,
            cluster_vpc=self.collector.cluster_vpc,
            ec2_client=lambda region: self.client("ec2", region),
            limiter=self.limiter,
            eks_client=lambda region: self.client("eks", region),
        )


def lambda_runtime(metrics: MetricSink) -> Runtime:
    """The handler module's runtime, which becomes the process's shared one (see shared_runtime)."""
    from eks_auditor import redaction

    # Before any client exists: with LOG_LEVEL=DEBUG botocore logs headers, signatures and tokens.
    redaction.install()
    global _shared
    _shared = Runtime(settings=Settings.from_env(), metrics=metrics)
    return _shared


def shared_runtime() -> Runtime:
    """The process's runtime for code that is not handed one (the HTTP API's routes): the handler's, else
    one built from the environment on first use."""
    global _shared
    if _shared is None:
        _shared = Runtime(settings=Settings.from_env())
    return _shared
