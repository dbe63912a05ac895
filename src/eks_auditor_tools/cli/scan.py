"""`eks-auditor scan`: audit now and print the findings (read-only unless --table is given)."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import uuid
from typing import Any

from eks_auditor.model.finding import Finding

from eks_auditor_tools.cli import aws
from eks_auditor_tools.cli.gate import add_gate_arguments, gate, load_suppressions
from eks_auditor_tools.cli.output import add_finding_output_argument, render_findings
from eks_auditor_tools.cli.progress import Progress

logger = logging.getLogger(__name__)

# Allocations between young-generation collections. A scan allocates hundreds of thousands of short-lived
# objects (botocore responses, pydantic models) and few cycles: at CPython's default of 700, the collector
# took about a tenth of a 240-cluster scan's CPU (0.42 s of 3.3-4.3 s; 0.15 s at this threshold).
GC_YOUNG_THRESHOLD = 20_000

# The services a scan's collectors call in each region, in the order they are first needed (created in
# the background, shared by the threads).
SCAN_SERVICES = ("eks", "ec2", "autoscaling", "sts")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("scan", help="audit clusters now and print findings")
    parser.add_argument("--cluster", action="append", default=[], help="cluster name (repeatable)")
    parser.add_argument("--check", action="append", default=[], help="only this check id (repeatable)")
    parser.add_argument("--table", help="DynamoDB findings table to record results in (default: none)")
    add_gate_arguments(parser)
    add_finding_output_argument(parser)
    parser.add_argument("--topic", help="SNS topic to publish state changes to (needs --table)")
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=None,
        metavar="N",
        help="cluster audits in flight (default 16, at most 8 per account-region; 1 = one at a time)",
    )
    organization = parser.add_argument_group(
        "organization", "audit every ACTIVE account of the AWS Organization (management or delegated admin)"
    )
    organization.add_argument(
        "--organization", action="store_true", help="enumerate accounts with organizations:ListAccounts"
    )
    organization.add_argument("--role-name", help="the audit role in each member account (eks-auditor-audit)")
    organization.add_argument("--account", action="append", default=[], help="only this account (repeatable)")
    organization.add_argument(
        "--exclude-account", action="append", default=[], help="never this account (repeatable)"
    )
    add_kube_arguments(parser)
    parser.set_defaults(func=run)


def add_kube_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kube-endpoint",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="reach cluster NAME's Kubernetes API at URL (a tunnel or bastion)",
    )
    parser.add_argument(
        "--kube-ca", action="append", default=[], metavar="NAME=FILE", help="CA bundle for cluster NAME"
    )


def kube_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from eks_auditor.runtime import KubeOverride

    overrides: dict[str, KubeOverride] = {}
    for option, attribute in (("kube_endpoint", "endpoint"), ("kube_ca", "ca_file")):
        for item in getattr(args, option):
            name, sep, value = item.partition("=")
            if not sep or not name or not value:
                raise SystemExit(f"--{option.replace('_', '-')} expects NAME=VALUE, got {item!r}")
            setattr(overrides.setdefault(name, KubeOverride()), attribute, value)
    return overrides


def run(args: argparse.Namespace) -> int:
    before = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *before[1:])
    try:
        return _scan(args)
    finally:
        gc.set_threshold(*before)


def _scan(args: argparse.Namespace) -> int:
    from eks_auditor.audit import AuditResult
    from eks_auditor.checks.registry import CHECKS, REGION_CHECKS
    from eks_auditor.collect.errors import ClusterNotFound
    from eks_auditor.concurrency import limiter_key, map_bounded
    from eks_auditor.config import Settings
    from eks_auditor.runtime import Runtime

    if args.topic and not args.table:
        raise SystemExit("--topic needs --table (alerts are sent on state changes the table records)")
    unknown = sorted(set(args.check) - set(CHECKS) - set(REGION_CHECKS))
    if unknown:
        # The engine skips ids it does not know: a typo would print no findings, like a clean cluster.
        known = ", ".join([*CHECKS, *REGION_CHECKS])
        raise SystemExit(f"unknown check id(s) {', '.join(unknown)}; known: {known}")
    region_checks = [check for check in args.check if check in REGION_CHECKS]
    cluster_checks = [check for check in args.check if check in CHECKS]
    if args.max_concurrency is not None and args.max_concurrency < 1:
        raise SystemExit("--max-concurrency must be at least 1")
    limits: dict[str, Any] = {} if args.max_concurrency is None else {"max_concurrency": args.max_concurrency}
    if args.organization and not args.role_name:
        raise SystemExit("--organization needs --role-name (the audit role in each member account)")
    if (args.account or args.exclude_account) and not args.organization:
        raise SystemExit("--account and --exclude-account need --organization")
    if args.organization:
        limits |= {
            "member_role_name": args.role_name,
            "account_allow_list": frozenset(args.account),
            "account_deny_list": frozenset(args.exclude_account),
        }
    regions = aws.regions(args)
    suppressions = None if args.table else load_suppressions(args)
    runtime = Runtime(
        settings=Settings(findings_table=args.table or "", topic_arn=args.topic or "", **limits),
        session=aws.session(args, regions[0]),
        kube_overrides=kube_overrides(args),
    )
    # Clients are created on a thread of their own while the first calls wait on the network (AwsClients
    # creates each under its lock: a boto3 Session is not thread-safe).
    runtime.clients.prepare_in_background(SCAN_SERVICES, regions)
    runtime.start_batch()
    if args.table:
        suppressions = runtime.store.suppressions()
    scan_id = f"cli-scan-{uuid.uuid4()}"
    findings: list[Finding] = []
    errors = audited = 0
    progress = Progress("scan")
    # Account-region checks (pipeline_*): the caller's own account, every requested region, whether or
    # not it has clusters; one audit per region, in turn, before the concurrent cluster audits.
    caller_account = ""  # the caller's account: one GetCallerIdentity for every region
    for region in regions if region_checks else ():
        progress.step(f"{region}/pipeline")
        try:
            caller_account = caller_account or runtime.client("sts", region).get_caller_identity()["Account"]
            account = caller_account
            result = runtime.pipeline_auditor(region).audit(
                account, region, source=scan_id, check_ids=region_checks
            )
        except Exception as exc:  # one region's failure must not stop the scan
            logger.error("pipeline audit of %s failed", region, exc_info=exc)
            print(f"pipeline audit of {region} failed: {exc}", file=sys.stderr)
            errors += 1
            continue
        audited += 1
        findings.extend(result.failing)
    limiter = runtime.limiter
    # (account, region): one pair per region, or per audited account x region with --organization.
    scopes: list[tuple[str, str]] = [("", region) for region in regions]
    if args.organization:
        from eks_auditor.organization import AccountSelection, list_accounts, plan_targets

        selection = AccountSelection(runtime.settings.account_allow_list, runtime.settings.account_deny_list)
        scopes, skipped = plan_targets(list_accounts(runtime.client("organizations")), regions, selection)
        for entry in skipped[:: len(regions)]:
            print(f"account {entry.account} skipped: {entry.reason}", file=sys.stderr)
    if args.check and not cluster_checks:
        scopes = []  # only account-region checks asked for: no cluster to list or audit
    listed = map_bounded(
        lambda scope: args.cluster or runtime.collector_for(scope[0]).list_clusters(scope[1]),
        scopes,
        key=lambda scope: limiter_key(*scope),
        limiter=limiter,
    )
    targets: list[tuple[str, str, str]] = []
    for (account, region), names in zip(scopes, listed, strict=True):
        if names.error is not None:
            # One account-region's failure (AssumeRole refused, AccessDenied) never stops the others.
            where = f"{account}/{region}" if account else region
            print(f"listing clusters in {where} failed: {names.error}", file=sys.stderr)
            errors += 1
        targets += [(account, region, name) for name in names.value or ()]
        if names.value:
            runtime.collector_for(account).expect_clusters(region, names.value)

    def audit(target: tuple[str, str, str]) -> AuditResult:
        account, region, name = target
        progress.step(f"{account + '/' if account else ''}{region}/{name}")
        return runtime.auditor.audit(
            region, name, check_ids=cluster_checks or None, source=scan_id, account=account or None
        )

    audits = map_bounded(audit, targets, key=lambda target: limiter_key(*target[:2]), limiter=limiter)
    for (_, region, name), attempt in zip(targets, audits, strict=True):
        if isinstance(attempt.error, ClusterNotFound):
            print(f"cluster {name} not found in {region}", file=sys.stderr)
            errors += 1
        elif attempt.error is not None:  # one cluster's failure must not stop the scan
            logger.error("audit of %s/%s failed", region, name, exc_info=attempt.error)
            print(f"audit of {region}/{name} failed: {attempt.error}", file=sys.stderr)
            errors += 1
        elif attempt.value is not None:
            audited += 1
            findings.extend(attempt.value.failing)
    progress.done()
    print(render_findings(findings, args.output))
    if errors and not audited:
        return aws.FAILED
    return gate(findings, args.fail_on, suppressions or [], fallback=aws.FAILED if errors else 0)
