"""`eks-auditor findings`: query the findings table (Query on the table or an index, never Scan).

`eks-auditor findings show ID`: one finding with its history and the suppression that covers it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from eks_auditor.model.finding import Status

from eks_auditor_tools.cli import aws
from eks_auditor_tools.cli.gate import add_gate_arguments, blocking, load_suppressions, severity, verdict
from eks_auditor_tools.cli.output import add_finding_output_argument, finding_list_table, to_csv, to_json

if TYPE_CHECKING:
    from eks_auditor.api import FindingDetail
    from eks_auditor.model.check import Severity
    from eks_auditor.store import FindingQuery, FindingStore
    from eks_auditor.suppressions import Suppression

STATUS_CHOICES = (*(status.value for status in Status), "ALL")


def table_name(args: argparse.Namespace) -> str:
    """--table, else FINDINGS_TABLE; exits with a message when neither is set."""
    name: str = getattr(args, "table", None) or os.environ.get("FINDINGS_TABLE", "")
    if not name:
        raise SystemExit("no findings table: pass --table TABLE or set FINDINGS_TABLE")
    return name


def open_store(args: argparse.Namespace) -> FindingStore:
    from eks_auditor.store import FindingStore

    name = table_name(args)
    return FindingStore(name, client=aws.client(args, "dynamodb"))


def _iso_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def add_table_argument(parser: argparse.ArgumentParser, *, default: Any = None) -> None:
    parser.add_argument("--table", default=default, help="findings table (default: $FINDINGS_TABLE)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "findings",
        help="query stored findings (filters map to DynamoDB Queries, never a Scan)",
        description=(
            "List findings, newest state change first. A --cluster filter needs the account and region "
            "(they are part of the cluster's key): they default to the caller's account and the AWS region."
        ),
    )
    parser.add_argument("--status", type=str.upper, choices=STATUS_CHOICES, default="OPEN")
    parser.add_argument("--severity", type=severity, metavar="MIN", help="minimum severity, e.g. HIGH")
    parser.add_argument("--cluster", help="cluster name")
    parser.add_argument("--account", help="AWS account id")
    parser.add_argument("--check", dest="check_id", metavar="CHECK", help="check id")
    parser.add_argument("--since", type=_iso_time, metavar="ISO", help="state changed at or after this time")
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="page size (1-1000, default 50)")
    parser.add_argument("--next-token", metavar="T", help="continue from the token a previous page printed")
    add_table_argument(parser)
    add_gate_arguments(parser)
    add_finding_output_argument(parser)
    parser.set_defaults(func=run)
    commands = parser.add_subparsers(dest="findings_command", metavar="show")
    show = commands.add_parser("show", help="one finding with its history")
    show.add_argument("finding_id", metavar="ID")
    # SUPPRESS: a value given before `show` (findings --table T show ID) must not be reset by this default.
    add_table_argument(show, default=argparse.SUPPRESS)
    add_finding_output_argument(show)
    show.set_defaults(func=run_show)


def _caller_account(args: argparse.Namespace) -> str:
    return str(aws.client(args, "sts").get_caller_identity()["Account"])


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from eks_auditor.store import FindingQuery, InvalidToken
    from pydantic import ValidationError

    out = out or sys.stdout
    err = err or sys.stderr
    # An explicit --region filters; --cluster needs one (it is part of the cluster's key).
    account, region = args.account, (args.region[-1] if args.region else None)
    suppressions = load_suppressions(args)
    if args.cluster:
        region = region or aws.resolve_region(args)
        account = account or _caller_account(args)
    try:
        query = FindingQuery(
            status=None if args.status == "ALL" else Status(args.status),
            min_severity=args.severity,
            cluster=args.cluster,
            account=account,
            region=region,
            check_id=args.check_id,
            since=args.since,
            limit=args.limit,
            next_token=args.next_token,
        )
    except ValidationError as exc:
        print(f"invalid query: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", file=err)
        return 2
    store = open_store(args)
    try:
        page = store.query(query)
    except InvalidToken as exc:
        print(f"--next-token: {exc}", file=err)
        return 2
    if args.output == "json":
        print(to_json(page.items, fields=None), file=out)
    elif args.output == "csv":
        out.write(to_csv(page.items))
    elif args.output == "ocsf":
        from eks_auditor_tools.ocsf import to_ocsf

        print(to_ocsf(page.items), file=out)
    else:
        print(finding_list_table(page.items), file=out)
    if page.next_token:
        print(f"more findings: --next-token {page.next_token}", file=err)
    if args.fail_on is None:
        return 0
    gate = query.model_copy(update={"status": Status.OPEN, "min_severity": args.fail_on, "next_token": None})
    return _gate(store, gate, args.fail_on, suppressions, err)


def _gate(
    store: FindingStore, query: FindingQuery, fail_on: Severity, suppressions: list[Suppression], err: TextIO
) -> int:
    """Every page of the open findings at or above --fail-on, not only the page printed."""
    found = 0
    token: str | None = None
    while True:
        page = store.query(query.model_copy(update={"next_token": token, "limit": 1000}))
        found += len(blocking(page.items, fail_on, suppressions))
        token = page.next_token
        if token is None:
            break
    return verdict(found, fail_on, err=err)


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def render_detail(detail: FindingDetail) -> str:
    """The finding, its history and its suppression, for people."""
    f = detail.finding
    lines = [
        f"Finding {f.id}  [{f.severity.value}] {f.status.value}",
        f"  title        {f.title}",
        f"  check        {f.check_id}",
        f"  cluster      {f.cluster} ({f.account}/{f.region})  {f.cluster_arn}",
        f"  resource     {f.resource}",
        f"  first seen   {_when(f.first_seen)}",
        f"  last seen    {_when(f.last_seen)}",
        f"  resolved at  {_when(f.resolved_at)}",
        f"  evaluated at {_when(f.evaluated_at)} by {f.source}",
    ]
    if detail.suppression is not None:
        lines.append(f"  suppressed   {detail.suppression.describe()}")
    lines += ["", "Description:", f"  {f.description}"]
    if f.evidence:
        evidence = json.dumps(f.evidence, indent=2, sort_keys=True, default=str)
        lines += ["", "Evidence:", *(f"  {line}" for line in evidence.splitlines())]
    lines += ["", "Remediation:", *(f"  {line}" for line in f.remediation.splitlines())]
    if f.references:
        lines += ["", "References:", *(f"  {reference}" for reference in f.references)]
    lines += ["", "History (oldest first):"]
    if not detail.history:
        lines.append("  (none recorded)")
    for entry in detail.history:
        before = entry.previous_status.value if entry.previous_status else "-"
        severity = entry.new_severity.value
        if entry.previous_severity is not None and entry.previous_severity is not entry.new_severity:
            severity = f"{entry.previous_severity.value} -> {severity}"
        lines.append(
            f"  {_when(entry.changed_at)}  {entry.kind:<16} {before} -> {entry.new_status.value:<10} "
            f"{severity:<18} source {entry.source}"
        )
        if entry.reason:
            lines.append(f"{'':22}{entry.reason}")
    return "\n".join(lines)


def run_show(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from eks_auditor.api import finding_detail
    from eks_auditor.audit import utcnow

    out = out or sys.stdout
    err = err or sys.stderr
    detail = finding_detail(open_store(args), args.finding_id, utcnow())
    if detail is None:
        print(f"finding {args.finding_id} not found", file=err)
        return 1
    if args.output == "json":
        print(detail.model_dump_json(indent=2), file=out)
    elif args.output == "csv":
        out.write(to_csv([detail.finding]))
    elif args.output == "ocsf":
        from eks_auditor_tools.ocsf import to_ocsf

        print(to_ocsf([detail.finding]), file=out)
    else:
        print(render_detail(detail), file=out)
    return 0
