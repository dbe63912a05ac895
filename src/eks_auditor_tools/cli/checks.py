"""`eks-auditor checks [ID]`: the check catalog (id, severity, title, events that re-run it, permissions;
with --output json or csv, or one check whole, also the compliance controls each evidences).

The catalog in the code is the only list of checks: the README points here instead of keeping a copy.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any, TextIO

from eks_auditor.compliance.frameworks import controls_of
from eks_auditor.model.check import CLOUDTRAIL_DETAIL_TYPE, Check, Event


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "checks", help="list every check (id, severity, title), or one check whole: what fails, events, IAM"
    )
    parser.add_argument("check_id", nargs="?", metavar="ID", help="show this check whole")
    parser.set_defaults(func=run)


def event_record(event: Event) -> dict[str, str]:
    record = {"source": event.source, "detail_type": event.detail_type}
    if event.name:
        record["event_name"] = event.name
    return record


def check_record(check: Check) -> dict[str, Any]:
    spec = check.spec
    return {
        "id": spec.id,
        "kind": spec.kind.value,
        "severity": spec.severity.value,
        "severity_rule": spec.severity_label,
        "title": spec.title,
        "description": spec.description,
        "parts": [part.value for part in spec.parts],
        "events": [event_record(event) for event in spec.events],
        # Parts no routed event reports, with why: only the schedule re-reads them.
        "schedule_only": {part.value: reason for part, reason in spec.schedule_only.items()},
        "permissions": list(spec.permissions),
        "references": list(spec.references),
        # The compliance controls it evidences (eks_auditor/data/frameworks), `framework:control (coverage)`.
        "controls": [f"{ref.label} ({ref.coverage.value})" for ref in controls_of(spec.id)],
    }


CSV_COLUMNS = (
    "id",
    "kind",
    "severity",
    "severity_rule",
    "title",
    "description",
    "parts",
    "events",
    "schedule_only",
    "permissions",
    "references",
    "controls",
)


def catalog_csv(checks: list[Check]) -> str:
    """One row per check; list cells joined with ' ; ' (events as `source detail-type[ event-name]`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for check in checks:
        record = check_record(check)
        record["events"] = [" ".join(event.values()) for event in record["events"]]
        record["schedule_only"] = [f"{part}: {why}" for part, why in record["schedule_only"].items()]
        writer.writerow({k: " ; ".join(v) if isinstance(v, list) else v for k, v in record.items()})
    return buffer.getvalue()


def _event_label(event: Event) -> str:
    # CloudTrail calls by name; other events (the spot notices) by their detail-type.
    return (
        f"{event.source} {event.name if event.detail_type == CLOUDTRAIL_DETAIL_TYPE else event.detail_type}"
    )


def catalog_table(checks: list[Check]) -> str:
    """One line per check within 120 columns; `checks ID` has the description, events and permissions."""
    import re

    from eks_auditor_tools.cli.output import table

    rows = [
        # The levels alone ("HIGH / MEDIUM"); what picks each one is in `checks ID`.
        (spec.id, re.sub(r" \([^)]*\)", "", spec.severity_label), str(len(spec.events)), spec.title)
        for spec in (check.spec for check in checks)
    ]
    return table(rows, ("ID", "SEVERITY", "EVENTS", "TITLE"), elide=("SEVERITY", "TITLE"))


def check_detail(check: Check) -> str:
    """One check whole, as `findings show` shows a finding: labelled lines, lists one item a line."""
    import textwrap

    spec = check.spec
    wrap = textwrap.TextWrapper(width=118, initial_indent="  ", subsequent_indent="  ")
    lines = [
        f"{spec.id}: {spec.title}",
        f"severity:    {spec.severity_label}",
        f"kind:        {spec.kind.value}",
        f"reads:       {', '.join(part.value for part in spec.parts) or '-'}",
        "",
        "fails when:",
        wrap.fill(spec.description),
        "",
        "re-run by:" if spec.events else "re-run by:   the schedule only",
        *(f"  {_event_label(event)}" for event in spec.events),
        *(f"  schedule only for {part.value}: {why}" for part, why in spec.schedule_only.items()),
        "",
        "permissions:",
        *(f"  {action}" for action in spec.permissions),
        "",
        "references:",
        *(f"  {url}" for url in spec.references),
        "",
        "compliance controls:" if controls_of(spec.id) else "compliance controls: none mapped",
        *(f"  {ref.label} ({ref.coverage.value})" for ref in controls_of(spec.id)),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    from eks_auditor.checks.registry import CATALOG, REGION_CHECKS
    from eks_auditor.triggers import EVERY_CHECK_EVENTS

    from eks_auditor_tools.cli.aws import CliError

    out = out or sys.stdout
    checks = list(CATALOG.values())
    if args.check_id is not None:
        if args.check_id not in CATALOG:
            raise CliError(f"unknown check id {args.check_id!r} (`eks-auditor checks` lists them)", code=2)
        checks = [CATALOG[args.check_id]]
        if args.output == "table":
            print(check_detail(checks[0]), file=out)
            return 0
    if args.output == "json":
        print(json.dumps([check_record(check) for check in checks], indent=2), file=out)
        return 0
    if args.output == "csv":
        out.write(catalog_csv(checks))
        return 0
    import textwrap

    every = ", ".join(sorted(EVERY_CHECK_EVENTS))
    notes = [
        "`eks-auditor checks ID` shows one check whole: what fails, the events that re-run it, IAM.",
        f"Every snapshot check also runs on the schedule and on aws.eks {every}; "
        "the spot notices come from EventBridge, audit_incomplete from the engine.",
    ]
    if REGION_CHECKS:
        # Account-region checks read the auditor's own pipeline, not a cluster: no event re-runs them.
        notes.append(
            f"{', '.join(REGION_CHECKS)} (kind account_region, cluster '-') run on the schedule for each "
            "account-region and with `scan --check`, whether or not the region has clusters; no event "
            "re-runs them."
        )
    print(catalog_table(checks), file=out)
    for note in notes:
        print(file=out)
        print(textwrap.fill(note, width=120), file=out)
    return 0
