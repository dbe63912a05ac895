"""`eks-auditor scan`: audit now and print the findings (read-only unless --table is given)."""

from __future__ import annotations

import argparse
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


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("scan", help="audit clusters now and print findings")
    parser.add_argument("--cluster", action="append", default=[], help="cluster name (repeatable)")
    parser.add_argument("--check", action="append", default=[], help="only this check id (repeatable)")
    parser.add_argument("--table", help="DynamoDB findings table to record results in (default: none)")
    add_gate_arguments(parser)
    add_finding_output_argument(parser)
    parser.add_argument("--topic", help="SNS topic to publish state changes to (needs --table)")
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
    from eks_auditor.checks.registry import CHECKS
    from eks_auditor.collect.errors import ClusterNotFound
    from eks_auditor.config import Settings
    from eks_auditor.runtime import Runtime

    if args.topic and not args.table:
        raise SystemExit("--topic needs --table (alerts are sent on state changes the table records)")
    unknown = sorted(set(args.check) - set(CHECKS))
    if unknown:
        # The engine skips ids it does not know: a typo would print no findings, like a clean cluster.
        raise SystemExit(f"unknown check id(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    regions = aws.regions(args)
    suppressions = None if args.table else load_suppressions(args)
    runtime = Runtime(
        settings=Settings(findings_table=args.table or "", topic_arn=args.topic or ""),
        session=aws.session(args, regions[0]),
        kube_overrides=kube_overrides(args),
    )
    runtime.start_batch()
    if args.table:
        suppressions = runtime.store.suppressions()
    scan_id = f"cli-scan-{uuid.uuid4()}"
    findings: list[Finding] = []
    errors = audited = 0
    progress = Progress("scan")
    for region in regions:
        names = args.cluster or runtime.collector.list_clusters(region)
        for name in names:
            progress.step(f"{region}/{name}")
            try:
                result = runtime.auditor.audit(region, name, check_ids=args.check or None, source=scan_id)
            except ClusterNotFound:
                print(f"cluster {name} not found in {region}", file=sys.stderr)
                errors += 1
                continue
            except Exception as exc:  # one cluster's failure must not stop the scan
                logger.exception("audit of %s/%s failed", region, name)
                print(f"audit of {region}/{name} failed: {exc}", file=sys.stderr)
                errors += 1
                continue
            audited += 1
            findings.extend(result.failing)
    progress.done()
    print(render_findings(findings, args.output))
    if errors and not audited:
        return aws.FAILED
    return gate(findings, args.fail_on, suppressions or [], fallback=aws.FAILED if errors else 0)
