"""`eks-auditor report --html FILE`: one self-contained HTML page of the open findings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from eks_auditor.model.finding import Finding, Status

from eks_auditor_tools.cli.findings import add_table_argument, open_store, table_name

if TYPE_CHECKING:
    from datetime import datetime

    from eks_auditor.compliance.posture import Posture
    from eks_auditor.store import FindingStore

_PAGE = 1000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report of open findings",
        description=(
            "Open findings by severity and cluster, a chart of them, each cluster's node-subnet IP headroom "
            "where recorded, every finding with its evidence and remediation, and the suppressed findings, "
            "filterable by severity, account, cluster and check: one HTML file that fetches nothing."
        ),
    )
    parser.add_argument("--html", required=True, metavar="FILE", help="where to write the page ('-': stdout)")
    parser.add_argument("--title", default="eks-auditor report")
    parser.add_argument(
        "--framework",
        action="append",
        default=[],
        help="compliance framework of the posture section (repeatable; default: cis-eks and fsbp)",
    )
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        help="posture: also the clusters of this account (with --region); the accounts and regions of the "
        "findings are always read",
    )
    parser.add_argument(
        "--no-account-names",
        dest="account_names",
        action="store_false",
        help="label accounts by id only (by default, findings of several accounts are grouped under the "
        "accounts' Organizations names: organizations:ListAccounts with the caller's credentials)",
    )
    add_table_argument(parser)
    parser.set_defaults(func=run)


def current_findings(store: FindingStore) -> list[Finding]:
    """Every OPEN and SUPPRESSED finding, all pages (GSI Queries, never a Scan)."""
    from eks_auditor.store import FindingQuery

    findings: list[Finding] = []
    for status in (Status.OPEN, Status.SUPPRESSED):
        token: str | None = None
        while True:
            page = store.query(FindingQuery(status=status, limit=_PAGE, next_token=token))
            findings.extend(page.items)
            token = page.next_token
            if token is None:
                break
    return findings


def read_postures(
    store: FindingStore, findings: list[Finding], args: argparse.Namespace, now: datetime
) -> list[Posture]:
    """The posture of the clusters in every account and region the findings name, and in each --account x
    --region given (a scope whose clusters all pass has no finding to name it)."""
    from eks_auditor.compliance.frameworks import framework
    from eks_auditor.compliance.posture import read_posture

    scopes = {(f.account, f.region): None for f in findings}
    given_regions = [r for r in getattr(args, "region", None) or [] if r]
    scopes.update({(account, region): None for account in args.account for region in given_regions})
    names = args.framework or ["cis-eks", "fsbp"]
    return [read_posture(store, framework(name), list(scopes), now=now) for name in names]


def account_names(args: argparse.Namespace) -> dict[str, str]:
    """Account id -> its Organizations name; {} (ids only, with a warning) when Organizations cannot be read
    (the caller is not the management or a delegated administrator account)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from eks_auditor.collect.errors import describe_error
    from eks_auditor.organization import list_accounts

    from eks_auditor_tools.cli import aws

    try:
        return {a.id: a.name for a in list_accounts(aws.client(args, "organizations")) if a.name}
    except (ClientError, BotoCoreError) as exc:
        print(f"account names unavailable ({describe_error(exc)}): accounts are shown by id", file=sys.stderr)
        return {}


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    from eks_auditor.audit import utcnow

    from eks_auditor_tools.report import render_report

    out = out or sys.stdout
    store = open_store(args)
    findings = current_findings(store)
    now = utcnow()
    postures = read_postures(store, findings, args, now)
    several = len({f.account for f in findings}) > 1
    names = account_names(args) if several and args.account_names else {}
    page = render_report(
        findings,
        generated_at=now,
        source=table_name(args),
        title=args.title,
        postures=postures,
        account_names=names,
    )
    if args.html == "-":
        out.write(page)
    else:
        Path(args.html).write_text(page, encoding="utf-8")
        opened = sum(1 for f in findings if f.status is Status.OPEN)
        print(f"wrote {args.html}: {opened} open, {len(findings) - opened} suppressed finding(s)", file=out)
    return 0
