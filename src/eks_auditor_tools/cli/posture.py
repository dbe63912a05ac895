"""`eks-auditor posture`: per control of a compliance framework, the clusters passing, failing and
incomplete, and the pass rate, from the latest check verdicts the findings table keeps (no Scan).

The arithmetic is eks_auditor.compliance.posture's; this module reads the table and renders the result.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import TYPE_CHECKING, TextIO

from eks_auditor_tools.cli import aws
from eks_auditor_tools.cli.findings import add_table_argument, open_store
from eks_auditor_tools.cli.output import table

if TYPE_CHECKING:
    from eks_auditor.compliance.posture import ControlPosture, Posture


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from eks_auditor.compliance.frameworks import family_names, frameworks

    names = [*family_names(), *(f.id for f in frameworks() if f.id not in family_names())]
    parser = subparsers.add_parser(
        "posture",
        help="compliance posture per control: clusters passing / failing / incomplete, pass rate",
        description=(
            "Per control of a framework: the clusters passing, failing, suppressed (EXC), incomplete (INC) "
            "and not applicable (N/A), and the pass rate PASS / (PASS + FAIL + EXC), from each cluster's "
            "latest check verdicts. A control no check tests exactly is NOT ASSESSED, never passed by "
            "approximation. Clusters: those audited in each --account (default: the caller's) and --region."
        ),
    )
    parser.add_argument("--framework", choices=names, default="cis-eks", help="framework (default cis-eks)")
    parser.add_argument("--account", action="append", default=[], help="AWS account id (repeatable)")
    parser.add_argument("--cluster", action="append", default=[], help="only this cluster (repeatable)")
    parser.add_argument(
        "--all", action="store_true", help="also list the controls no check evidences (all NOT ASSESSED)"
    )
    add_table_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """0 with the posture; 1 when no audited cluster is in scope (nothing to report, as `scan` and
    `findings` say when they produce no result)."""
    from eks_auditor.audit import utcnow
    from eks_auditor.compliance.frameworks import framework
    from eks_auditor.compliance.posture import read_posture

    out = out or sys.stdout
    err = err or sys.stderr
    store = open_store(args)
    accounts = args.account or [str(aws.client(args, "sts").get_caller_identity()["Account"])]
    scopes = [(account, region) for account in accounts for region in aws.regions(args)]
    result = read_posture(store, framework(args.framework), scopes, now=utcnow(), clusters=args.cluster)
    print(render(result, args.output, everything=args.all), file=out)
    if not result.clusters:
        where = ", ".join(f"{account}/{region}" for account, region in scopes)
        print(f"eks-auditor: no audited cluster in {where}: run a scan with --table first", file=err)
        return 1
    return 0


def render(result: Posture, output: str, *, everything: bool = False) -> str:
    if output == "json":
        return json.dumps(result.model_dump(mode="json"), indent=2)
    if output == "csv":
        return posture_csv(result).rstrip("\n")
    return posture_table(result, everything=everything)


NOT_ASSESSED_MARK = "—"
FAILING_WIDTH = 36  # cluster names are ids: listed whole while they fit, then counted


def rate(row: ControlPosture) -> str:
    if not row.assessed:
        return NOT_ASSESSED_MARK
    return "-" if row.pass_rate is None else f"{row.pass_rate:.0%}"


def failing_names(names: list[str], width: int = FAILING_WIDTH) -> str:
    """`a, b, c` while it fits `width`, then `a, b +3`: never a cluster name cut in the middle."""
    if not names:
        return "-"
    shown: list[str] = []
    for index, name in enumerate(names):
        rest = len(names) - index - 1
        candidate = ", ".join([*shown, name]) + (f" +{rest}" if rest else "")
        if shown and len(candidate) > width:
            break
        shown.append(name)
    hidden = len(names) - len(shown)
    return ", ".join(shown) + (f" +{hidden}" if hidden else "")


def short_names(result: Posture) -> dict[str, str]:
    """account/region/cluster -> the cluster name alone, where no other cluster has that name."""
    names = [label.rsplit("/", 1)[-1] for label in result.clusters]
    return {
        label: name if names.count(name) == 1 else label
        for label, name in zip(result.clusters, names, strict=True)
    }


def posture_table(result: Posture, *, everything: bool = False) -> str:
    """One row per control some check evidences (all controls with `everything`), 120 columns."""
    shown = [row for row in result.controls if everything or row.full_checks or row.partial_checks]
    short = short_names(result)
    rows = [
        (
            row.control,
            row.title,
            row.passing,
            row.failing,
            row.exceptions,
            row.incomplete,
            row.not_applicable,
            rate(row),
            failing_names([short[label] for label in row.failing_clusters]),
        )
        for row in shown
    ]
    headers = ("CONTROL", "TITLE", "PASS", "FAIL", "EXC", "INC", "N/A", "RATE", "FAILING CLUSTERS")
    lines = [
        f"{result.name} {result.version} ({result.framework}): {len(result.clusters)} cluster(s)",
        table(rows, headers, elide=("TITLE",)),
    ]
    if any(not row.assessed for row in shown):
        lines.append(f"RATE {NOT_ASSESSED_MARK}: not assessed, no check tests the control's exact condition")
    hidden = len(result.controls) - len(shown)
    if hidden:
        lines.append(f"{hidden} more control(s) no check evidences, not assessed (--all lists them)")
    return "\n".join(lines)


def posture_csv(result: Posture) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        (
            "framework",
            "control",
            "title",
            "assessed",
            "passing",
            "failing",
            "exceptions",
            "incomplete",
            "not_applicable",
            "pass_rate",
            "failing_clusters",
        )
    )
    for row in result.controls:
        writer.writerow(
            (
                result.framework,
                row.control,
                row.title,
                str(row.assessed).lower(),
                row.passing,
                row.failing,
                row.exceptions,
                row.incomplete,
                row.not_applicable,
                "" if row.pass_rate is None else row.pass_rate,
                " ".join(row.failing_clusters),
            )
        )
    return buffer.getvalue()
