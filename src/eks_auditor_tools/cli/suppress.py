"""`eks-auditor suppress add|list|remove|import-prowler`: accepted risks, stored in the findings table.

A suppression takes effect on each cluster's next evaluation (an event or the scheduled scan): matching
findings turn SUPPRESSED without an alert; after the expiry they reopen, with an alert.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from eks_auditor.suppressions import ANY_CHECK, Suppression, parse_expiry

from eks_auditor_tools.cli.findings import add_table_argument, open_store
from eks_auditor_tools.cli.output import table

if TYPE_CHECKING:
    from collections.abc import Sequence


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "suppress",
        help="accept a risk until a date: suppressed findings are still evaluated but not alerted",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="suppress_command", required=True, metavar="COMMAND")

    add = commands.add_parser("add", help="suppress matching findings until an expiry")
    add.add_argument("--check", required=True, help=f"check id ({ANY_CHECK!r} for every check)")
    add.add_argument("--cluster", default="*", metavar="GLOB", help="cluster name glob (default: *)")
    add.add_argument("--resource", metavar="REGEX", help="regular expression matching the whole resource id")
    add.add_argument("--account", help="AWS account id")
    add.add_argument(
        "--scope-region", dest="scope_region", metavar="REGION", help="only findings in this AWS region"
    )
    add.add_argument("--reason", required=True, help="why the risk is accepted")
    add.add_argument("--author", required=True, help="who accepts it")
    add.add_argument("--expires", required=True, metavar="ISO|7d", help="an ISO 8601 time or 30m/12h/7d/2w")
    add_table_argument(add)
    add.set_defaults(func=run_add)

    listing = commands.add_parser("list", help="list suppressions (active ones unless --all)")
    listing.add_argument("--all", action="store_true", help="include expired suppressions")
    add_table_argument(listing)
    listing.set_defaults(func=run_list)

    remove = commands.add_parser(
        "remove", help="remove a suppression (its findings reopen on next evaluation)"
    )
    remove.add_argument("suppression_id", metavar="ID")
    add_table_argument(remove)
    remove.set_defaults(func=run_remove)

    prowler = commands.add_parser(
        "import-prowler", help="import a Prowler mutelist's entries for the EKS checks eks-auditor shares"
    )
    prowler.add_argument("file", metavar="FILE", help="Prowler mutelist YAML")
    prowler.add_argument("--author", required=True, help="who accepts the imported risks")
    prowler.add_argument("--expires", required=True, metavar="ISO|7d", help="expiry for every imported entry")
    prowler.add_argument("--dry-run", action="store_true", help="print what would be imported, store nothing")
    add_table_argument(prowler)
    prowler.set_defaults(func=run_import_prowler)


def _now() -> datetime:
    from eks_auditor.audit import utcnow

    return utcnow()


def known_check_ids() -> set[str]:
    # The whole catalog: spot notices and audit_incomplete are findings one may accept too.
    from eks_auditor.checks.registry import CATALOG

    return set(CATALOG)


def run_add(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    from pydantic import ValidationError

    out = out or sys.stdout
    err = err or sys.stderr
    if args.check != ANY_CHECK and args.check not in known_check_ids():
        print(f"unknown check id {args.check!r}; known: {', '.join(sorted(known_check_ids()))}", file=err)
        return 2
    now = _now()
    try:
        suppression = Suppression(
            check_id=args.check,
            cluster=args.cluster,
            resource=args.resource,
            account=args.account,
            region=args.scope_region,
            reason=args.reason,
            author=args.author,
            created_at=now,
            expires_at=parse_expiry(args.expires, now),
        )
    except (ValidationError, ValueError) as exc:
        print(f"invalid suppression: {exc}", file=err)
        return 2
    open_store(args).put_suppression(suppression)
    print(f"added {suppression.describe()}", file=out)
    print("it applies from each cluster's next evaluation (an event or the scheduled scan)", file=err)
    return 0


def suppressions_table(suppressions: Sequence[Suppression], now: datetime) -> str:
    if not suppressions:
        return "(no suppressions)"
    rows = [
        (
            s.id,
            s.check_id,
            s.cluster,
            s.resource or "",
            s.account or "",
            s.region or "",
            s.expires_at.strftime("%Y-%m-%dT%H:%MZ") + ("" if s.active(now) else " (expired)"),
            s.author,
            s.reason,
        )
        for s in suppressions
    ]
    return table(
        rows,
        ("ID", "CHECK", "CLUSTER", "RESOURCE", "ACCOUNT", "REGION", "EXPIRES", "AUTHOR", "REASON"),
        elide=("REASON", "RESOURCE", "AUTHOR"),
    )


def _write_csv(suppressions: Sequence[Suppression], out: TextIO) -> None:
    import csv

    columns = list(Suppression.model_fields)
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for suppression in suppressions:
        writer.writerow(suppression.model_dump(mode="json"))


def run_list(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    import json

    out = out or sys.stdout
    now = _now()
    suppressions = open_store(args).suppressions()
    if not args.all:
        suppressions = [s for s in suppressions if s.active(now)]
    suppressions.sort(key=lambda s: (s.expires_at, s.id))
    if args.output == "json":
        print(json.dumps([s.model_dump(mode="json") for s in suppressions], indent=2), file=out)
    elif args.output == "csv":
        _write_csv(suppressions, out)
    else:
        print(suppressions_table(suppressions, now), file=out)
    return 0


def run_remove(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if not open_store(args).delete_suppression(args.suppression_id):
        print(f"no suppression {args.suppression_id}", file=err)
        return 1
    print(
        f"removed suppression {args.suppression_id}; its findings reopen on their next evaluation", file=out
    )
    return 0


def run_import_prowler(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    from pathlib import Path

    from eks_auditor_tools.prowler import MutelistError, import_mutelist

    out = out or sys.stdout
    err = err or sys.stderr
    now = _now()
    try:
        expires_at = parse_expiry(args.expires, now)
        result = import_mutelist(
            Path(args.file).read_text(), author=args.author, created_at=now, expires_at=expires_at
        )
    except (OSError, ValueError, MutelistError) as exc:
        print(f"cannot import {args.file}: {exc}", file=err)
        return 2
    for skipped in result.skipped:
        print(f"skipped: {skipped}", file=err)
    store = None if args.dry_run else open_store(args)
    for suppression in result.suppressions:
        if store is not None:
            store.put_suppression(suppression)
        print(f"{'would add' if store is None else 'added'} {suppression.describe()}", file=out)
    return 0
