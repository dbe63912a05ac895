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

from eks_auditor.config import PARTS_IN_FLIGHT, VPC_READS_IN_FLIGHT, Settings
from eks_auditor.metrics import MetricSink, NullSink

if TYPE_CHECKING:
    from datetime import datetime

    import boto3
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from eks_auditor.accounts import AccountClients, AccountSessions
    from eks_auditor.audit import Auditor
    from eks_auditor.collect.pipeline import OrganizationTrails
    from eks_auditor.collect.snapshot import SnapshotCollector
    from eks_auditor.concurrency import Limiter
    from eks_auditor.dispatch import AccountAccess, Dispatcher
    from eks_auditor.notify import Notifier
    from eks_auditor.organization import AccountDirectory, OrganizationGate
    from eks_auditor.pipeline_audit import PipelineAuditor
    from eks_auditor.publish import Publisher
    from eks_auditor.securityhub import SecurityHubExporter
    from eks_auditor.spot.notices import SpotBatch
    from eks_auditor.store import FindingStore
    from eks_auditor.store.heartbeat import HeartbeatStore


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
    _batch_started: bool = False
    _account_collectors: dict[str, SnapshotCollector] = field(default_factory=dict)
    _account_lock: threading.Lock = field(default_factory=threading.Lock)

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
        return self._new_collector(self.clients)

    def _new_collector(self, clients: Any) -> SnapshotCollector:
        from eks_auditor.collect.snapshot import SnapshotCollector

        return SnapshotCollector(
            clients,
            kube_overrides=self.kube_overrides,
            known_egress_tgws=self.settings.known_egress_tgws,
            network_reads_in_flight=min(VPC_READS_IN_FLIGHT, self.settings.max_concurrency),
            parts_in_flight=min(PARTS_IN_FLIGHT, self.settings.max_concurrency),
            audits_in_flight=self.settings.max_concurrency,
        )

    # --- organization mode: everything per account ----------------------------------------------

    @cached_property
    def home_account(self) -> str:
        """The account this runtime runs in (settings, else STS GetCallerIdentity once)."""
        return self.settings.home_account or str(self.client("sts").get_caller_identity()["Account"])

    @cached_property
    def account_sessions(self) -> AccountSessions:
        from eks_auditor.accounts import AccountSessions

        return AccountSessions(
            self.boto_session,
            self.settings.member_role_name,
            home_account=self.home_account,
            sts_region=self.clients.default_region,
        )

    @cached_property
    def account_clients(self) -> AccountClients:
        from eks_auditor.accounts import AccountClients
        from eks_auditor.concurrency import limiter_key

        return AccountClients(
            self.account_sessions,
            counter=self.clients.counter,
            on_throttle=lambda account, region: self.limiter.throttled(limiter_key(account, region)),
            home=self.clients,
        )

    def collector_for(self, account: str) -> SnapshotCollector:
        """The account's collector: its own clients and per-scan caches (the home one outside org mode)."""
        if not self.settings.organization or account == self.home_account:
            return self.collector
        with self._account_lock:
            found = self._account_collectors.get(account)
            if found is None:
                found = self._account_collectors[account] = self._new_collector(
                    self.account_clients.for_account(account)
                )
            return found

    def account_access(self, account: str) -> AccountAccess:
        from eks_auditor.dispatch import AccountAccess

        collector = self.collector_for(account)
        return AccountAccess(
            list_clusters=collector.list_clusters,
            cluster_vpc=collector.cluster_vpc,
            ec2_client=collector.clients.ec2,
            eks_client=collector.clients.eks,
            client=collector.clients.client,
        )

    def organization_scan(self, scan_id: str, *, digest: bool = False) -> dict[str, Any]:
        """The organization schedule: one listing message per account x region, the coverage record."""
        from eks_auditor.entrypoints import fan_out_organization
        from eks_auditor.organization import AccountSelection
        from eks_auditor.store.coverage import put_coverage

        return fan_out_organization(
            organizations=self.client("organizations"),
            regions=self.settings.audit_regions,
            selection=AccountSelection(self.settings.account_allow_list, self.settings.account_deny_list),
            scan_id=scan_id,
            sqs=self.client("sqs"),
            queue_url=self.settings.audit_queue_url,
            record_coverage=lambda coverage: put_coverage(
                self.client("dynamodb"), self.settings.findings_table, coverage
            ),
            metrics=self.metrics,
            digest=digest,
        )

    def list_account_region(
        self, account: str, region: str, scan_id: str, *, digest: bool = False
    ) -> dict[str, Any]:
        """The organization scan's second stage (a worker's "*" message): list one account-region through
        the account's own session, send its cluster audits, record its coverage entry."""
        from eks_auditor.entrypoints import list_queued_account_region
        from eks_auditor.store.coverage import record_coverage_entry

        return list_queued_account_region(
            account,
            region,
            scan_id,
            list_clusters=lambda acct, reg: self.collector_for(acct).list_clusters(reg),
            known_clusters=self.store.known_clusters,
            sqs=self.client("sqs"),
            queue_url=self.settings.audit_queue_url,
            record_entry=lambda scan, entry: record_coverage_entry(
                self.client("dynamodb"), self.settings.findings_table, scan, entry
            ),
            metrics=self.metrics,
            digest=digest,
        )

    @property
    def lister(self) -> Any:
        """The worker's account-region lister in organization mode (None otherwise)."""
        return self.list_account_region if self.settings.organization else None

    @cached_property
    def organization_gate(self) -> OrganizationGate | None:
        """Admits events from audited accounts of the organization (None outside organization mode)."""
        if not self.settings.organization:
            return None
        from eks_auditor.organization import AccountSelection, OrganizationGate

        selection = AccountSelection(self.settings.account_allow_list, self.settings.account_deny_list)
        return OrganizationGate(
            lambda: self.client("organizations"),
            selection,
            metrics=self.metrics,
            directory=self.account_directory,
        )

    @cached_property
    def account_directory(self) -> AccountDirectory:
        """The organization's accounts and their names (ListAccounts, re-read every 15 minutes)."""
        from eks_auditor.organization import AccountDirectory

        return AccountDirectory(lambda: self.client("organizations"))

    @cached_property
    def store(self) -> FindingStore:
        from eks_auditor.store import FindingStore
        from eks_auditor.store.lifecycle import IncompleteAlerts

        if not self.settings.findings_table:
            raise RuntimeError("FINDINGS_TABLE is not set")
        alerts = IncompleteAlerts(self.settings.incomplete_alert_scans, self.settings.incomplete_alert_after)
        return FindingStore(
            self.settings.findings_table, client=self.client("dynamodb"), incomplete_alerts=alerts
        )

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
            # Organization mode: titles name the finding's account (its Organizations name).
            account_name=self.account_directory.name if self.settings.organization else None,
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
            collector_for=self.collector_for if self.settings.organization else None,
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
            heartbeats=self.heartbeats,
        )

    @cached_property
    def heartbeats(self) -> HeartbeatStore | None:
        """The pipeline's heartbeat per account-region (in the findings table); None without a table."""
        from eks_auditor.store.heartbeat import HeartbeatStore

        if not self.settings.findings_table:
            return None
        return HeartbeatStore(self.settings.findings_table, client=self.client("dynamodb"))

    def pipeline_auditor(self, region: str | None = None, account: str | None = None) -> PipelineAuditor:
        """The auditor of an account-region's pipeline: this account's own (home region: the stack's, else
        `region`), or in organization mode a member's, read through the member's session (its trails and
        forwarding rules; the organization's trails from their owner, once)."""
        from eks_auditor.collect.pipeline import PipelineCollector, PipelineSettings
        from eks_auditor.pipeline_audit import PipelineAuditor

        settings = self.settings
        member = settings.organization and account is not None and account != self.home_account
        client = self.account_clients.for_account(account).client if member and account else self.client
        collector = PipelineCollector(
            client,
            PipelineSettings(
                home_region=settings.home_region or region or self.boto_session.region_name or "",
                rule_names=settings.pipeline_rules,
                stack_name=settings.stack_name,
                queue_urls=settings.pipeline_queues,
                backlog_age=settings.pipeline_backlog_age,
                quiet_period=settings.pipeline_quiet_period,
                organization_bus_arn=settings.organization_bus_arn,
            ),
            heartbeats=self.heartbeats,
            member=member,
            organization_trails=self.organization_trails if settings.organization else None,
        )
        return PipelineAuditor(collector, self.auditor, scans=self.heartbeats)

    @cached_property
    def organization_trails(self) -> OrganizationTrails:
        """The organization's trails, read once (per 15 min) from the management account, which owns them."""
        from eks_auditor.collect.pipeline import OrganizationTrails

        def owner_client() -> Any:
            owner = self.organization_owner
            if owner == self.home_account:
                return self.client
            return self.account_clients.for_account(owner).client

        return OrganizationTrails(owner_client)

    @cached_property
    def organization_owner(self) -> str:
        """The management account (DescribeOrganization), which owns every organization trail."""
        organization = self.client("organizations").describe_organization()["Organization"]
        return str(organization["MasterAccountId"])

    @cached_property
    def security_hub(self) -> SecurityHubExporter | None:
        if not self.settings.security_hub_enabled:
            return None
        from eks_auditor.securityhub import SecurityHubExporter

        def client_for(account: str, region: str) -> Any:
            # BatchImportFindings must come from the finding's own account, in the product ARN's region.
            if self.settings.organization and account and account != self.home_account:
                return self.account_clients.for_account(account).client("securityhub", region)
            return self.client("securityhub", region)

        return SecurityHubExporter(client_for=client_for)

    @property
    def dispatcher(self) -> Dispatcher:
        """The batch's dispatcher, built on first use (a CLI scan audits without one)."""
        if not self._batch_started:
            self.start_batch()
        if self._dispatcher is None:
            self._dispatcher = self._new_dispatcher()
        return self._dispatcher

    def start_batch(self) -> None:
        """Fresh per-scan caches and a fresh dispatcher per invocation: the in-batch de-duplication must
        not outlive it."""
        self._batch_started = True
        self.collector.start_scan()
        with self._account_lock:
            account_collectors = list(self._account_collectors.values())
        for collector in account_collectors:
            collector.start_scan()
        if self.settings.findings_table:
            self.store.start_batch()
        self._dispatcher = None

    def _new_dispatcher(self) -> Dispatcher:
        from eks_auditor.dispatch import Dispatcher

        return Dispatcher(self.auditor, self.account_access, limiter=self.limiter)


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
