"""Settings read once from the Lambda environment (the template's Globals) or the CLI's flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

# Cluster audits in flight at once: overall, and per account-region (EC2 Describe* calls share one token
# bucket per account-region: 100 tokens refilling 20/s, with the account's own workloads).
MAX_CONCURRENCY = 16
MAX_CONCURRENCY_PER_ACCOUNT_REGION = 8
# The independent reads of one VPC's network (DescribeVpcs, Subnets, RouteTables, NatGateways,
# VpcEndpoints, two DescribeVpcAttribute) run together, at most this many at once: every audit of a
# cluster in that VPC waits for them. Never more than max_concurrency (1 keeps a scan one call at a time).
VPC_READS_IN_FLIGHT = 7
# The snapshot parts of one audit that do not depend on each other (node groups, network, access entries,
# add-ons, ...) are read together, at most this many at once: an event-driven audit of one cluster waits
# for its deepest chain of calls instead of all of them in turn. Never more than max_concurrency.
PARTS_IN_FLIGHT = 4


# A plain dataclass, not a pydantic model: every handler builds one at import, and pydantic costs about a
# fifth of `import boto3` there (the values come typed from from_env or the CLI's parsed flags).
@dataclass(frozen=True)
class Settings:
    findings_table: str = ""
    idempotency_table: str = ""
    topic_arn: str = ""
    audit_queue_url: str = ""
    audit_regions: tuple[str, ...] = ()
    spot_notice_ttl: timedelta = timedelta(days=7)
    spot_burst_threshold: int = 3
    spot_burst_window: timedelta = timedelta(minutes=15)
    security_hub_enabled: bool = False
    # The auditor's own pipeline (pipeline_* checks): the stack's region, its rules and queues by logical id.
    home_region: str = ""
    stack_name: str = "eks-auditor"
    pipeline_rules: Mapping[str, str] = field(default_factory=dict)
    pipeline_queues: Mapping[str, str] = field(default_factory=dict)
    pipeline_quiet_period: timedelta = timedelta(hours=168)
    pipeline_backlog_age: timedelta = timedelta(minutes=30)
    first_run_baseline: bool = True  # the first scan of a cluster alerts Slack once, as a digest
    daily_digest: bool = True  # MEDIUM and lower reach Slack once a day, per cluster (template default too)
    max_concurrency: int = MAX_CONCURRENCY
    max_concurrency_per_account_region: int = MAX_CONCURRENCY_PER_ACCOUNT_REGION
    # audit_incomplete alerts (store.lifecycle.IncompleteAlerts): after this many consecutive scans or this
    # long unreadable, at once for AccessDenied; recorded (never a pass) either way.
    incomplete_alert_scans: int = 3
    incomplete_alert_after: timedelta = timedelta(hours=12)
    # Transit gateways the operator declares as leading to internet egress (KNOWN_EGRESS_TRANSIT_GATEWAYS).
    known_egress_tgws: frozenset[str] = frozenset()
    # Organization mode (MEMBER_ROLE_NAME set): audit member accounts through this role in each of them.
    member_role_name: str = ""
    account_allow_list: frozenset[str] = frozenset()
    account_deny_list: frozenset[str] = frozenset()
    # The central account itself (audited through its own roles, no AssumeRole); else from STS.
    home_account: str = ""
    # The central organization bus: every member forwarding rule targets it (pipeline_rule_broken).
    organization_bus_arn: str = ""

    @property
    def organization(self) -> bool:
        return bool(self.member_role_name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        regions = tuple(r.strip() for r in env.get("AUDIT_REGIONS", "").split(",") if r.strip())
        if not regions:
            default = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            regions = (default,) if default else ()
        return cls(
            findings_table=env.get("FINDINGS_TABLE", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            topic_arn=env.get("TOPIC_ARN", ""),
            audit_queue_url=env.get("AUDIT_QUEUE_URL", ""),
            audit_regions=regions,
            spot_notice_ttl=timedelta(days=float(env.get("SPOT_NOTICE_TTL_DAYS", "7"))),
            spot_burst_threshold=int(env.get("SPOT_BURST_THRESHOLD", "3")),
            spot_burst_window=timedelta(minutes=float(env.get("SPOT_BURST_WINDOW_MINUTES", "15"))),
            security_hub_enabled=env.get("SECURITY_HUB_ENABLED", "false").lower() == "true",
            home_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "",
            stack_name=env.get("STACK_NAME", "eks-auditor"),
            pipeline_rules=_pairs(env.get("PIPELINE_RULES", "")),
            pipeline_queues=_pairs(env.get("PIPELINE_QUEUES", "")),
            pipeline_quiet_period=timedelta(hours=float(env.get("PIPELINE_QUIET_HOURS", "168"))),
            pipeline_backlog_age=timedelta(minutes=float(env.get("PIPELINE_BACKLOG_MINUTES", "30"))),
            first_run_baseline=env.get("FIRST_RUN_BASELINE", "true").lower() == "true",
            daily_digest=env.get("DAILY_DIGEST", "true").lower() == "true",
            max_concurrency=int(env.get("MAX_CONCURRENCY", MAX_CONCURRENCY)),
            max_concurrency_per_account_region=int(
                env.get("MAX_CONCURRENCY_PER_ACCOUNT_REGION", MAX_CONCURRENCY_PER_ACCOUNT_REGION)
            ),
            incomplete_alert_scans=int(env.get("INCOMPLETE_ALERT_SCANS", "3")),
            incomplete_alert_after=timedelta(hours=float(env.get("INCOMPLETE_ALERT_HOURS", "12"))),
            known_egress_tgws=_csv(env.get("KNOWN_EGRESS_TRANSIT_GATEWAYS", "")),
            member_role_name=env.get("MEMBER_ROLE_NAME", ""),
            account_allow_list=_csv(env.get("ACCOUNT_ALLOW_LIST", "")),
            account_deny_list=_csv(env.get("ACCOUNT_DENY_LIST", "")),
            home_account=env.get("CENTRAL_ACCOUNT_ID", ""),
            organization_bus_arn=env.get("ORGANIZATION_EVENT_BUS_ARN", ""),
        )


def _pairs(value: str) -> dict[str, str]:
    """ "A=x,B=y" -> {"A": "x", "B": "y"} (the template joins logical ids and their names or URLs so)."""
    pairs = (item.partition("=") for item in value.split(",") if item.strip())
    return {key.strip(): val.strip() for key, sep, val in pairs if sep and key.strip() and val.strip()}


def _csv(value: str) -> frozenset[str]:
    return frozenset(item.strip() for item in value.split(",") if item.strip())
