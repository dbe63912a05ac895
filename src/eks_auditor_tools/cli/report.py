"""`eks-auditor report --html FILE`: one self-contained HTML page of the open findings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from eks_auditor.model.finding import Finding, Status

from eks_auditor_tools.cli.findings import add_table_argument, open_store, table_name

if TYPE_CHECKING:
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
    findings = current_findings(open_store(args))
    several = len({f.account for f in findings}) > 1
    names = account_names(args) if several and args.account_names else {}
    page = render_report(
        findings, generated_at=utcnow(), source=table_name(args), title=args.title, account_names=names
    )
    if args.html == "-":
        out.write(page)
    else:
        Path(args.html).write_text(page, encoding="utf-8")
        opened = sum(1 for f in findings if f.status is Status.OPEN)
        print(f"wrote {args.html}: {opened} open, {len(findings) - opened} suppressed finding(s)", file=out)
    return 0
