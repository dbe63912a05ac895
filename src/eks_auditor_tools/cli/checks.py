"""`eks-auditor checks`: the check catalog (id, severity, title, events that re-run it, permissions; with
--output json or csv also the compliance controls each evidences)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from itertools import zip_longest
from typing import Any, TextIO

from eks_auditor.compliance.frameworks import controls_of
from eks_auditor.model.check import CLOUDTRAIL_DETAIL_TYPE, Check, Event


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "checks", help="list every check: id, severity, title, events that re-run it, IAM permissions"
    )
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


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def catalog_table(checks: list[Check]) -> str:
    from eks_auditor_tools.cli.output import table

    rows: list[tuple[str, ...]] = []
    for check in checks:
        spec = check.spec
        lines = zip_longest([_event_label(e) for e in spec.events], spec.permissions, fillvalue="")
        first = next(lines, ("", ""))
        rows.append((spec.id, spec.severity_label, _clip(spec.title, 60), *first))
        rows.extend(("", "", "", *rest) for rest in lines)
    return table(rows, ("ID", "SEVERITY", "TITLE", "EVENTS", "PERMISSIONS"))


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    from eks_auditor.checks.registry import CATALOG, REGION_CHECKS
    from eks_auditor.triggers import EVERY_CHECK_EVENTS

    out = out or sys.stdout
    checks = list(CATALOG.values())
    if args.output == "json":
        print(json.dumps([check_record(check) for check in checks], indent=2), file=out)
        return 0
    if args.output == "csv":
        out.write(catalog_csv(checks))
        return 0
    print(catalog_table(checks), file=out)
    every = ", ".join(sorted(EVERY_CHECK_EVENTS))
    print(
        f"\nEvery snapshot check also runs on the schedule and on aws.eks {every}; the spot notices come "
        "from EventBridge, audit_incomplete from the engine.",
        file=out,
    )
    if REGION_CHECKS:
        # Account-region checks read the auditor's own pipeline, not a cluster: no event re-runs them.
        print(
            f"{', '.join(REGION_CHECKS)} (kind account_region, cluster '-') run on the schedule for each "
            "account-region and with `scan --check`, whether or not the region has clusters; no event "
            "re-runs them.",
            file=out,
        )
    return 0
