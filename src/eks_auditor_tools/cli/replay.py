"""`eks-auditor replay`: route EventBridge events through the template's rules and the same dispatch
as the Lambdas, and print what they produce."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eks_auditor.model.finding import Finding

from eks_auditor_tools.cli.output import findings_table, render_findings

# The queue each rule targets decides which function handles the event (template.yaml).
SPOT_QUEUE = "SpotQueue"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("replay", help="route sample events through the rules and handlers")
    parser.add_argument("events", nargs="+", type=Path, help="EventBridge event JSON files")
    parser.add_argument("--template", type=Path, default=None, help="template.yaml (default: the checkout's)")
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="run against the demo's embedded account; sample ids are mapped onto its fleet",
    )
    parser.add_argument("--table", help="DynamoDB findings table (needed for spot events unless --embedded)")
    parser.add_argument("--topic", help="SNS topic to publish state changes to")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eks_auditor_tools.patterns import load_rules

    template = args.template or _default_template()
    rules = load_rules(template)
    from eks_auditor_tools.cli.progress import Progress

    events = [json.loads(path.read_text(encoding="utf-8")) for path in args.events]
    progress = Progress("replay")
    if args.embedded:
        progress.status("starting the embedded account (its demo fleet takes a few seconds)")
    with _environment(args) as (runtime, replacements):
        progress.clear()  # each event prints its own line from here on
        findings: list[Finding] = []
        status = 0
        for path, raw in zip(args.events, events, strict=True):
            event = _substitute(raw, replacements)
            matched = [name for name, rule in rules.items() if rule.matches(event)]
            queues = sorted({t.resource for name in matched for t in rules[name].targets if t.resource})
            print(f"{path}: rules {matched or 'none'} -> {queues or 'nothing'}", file=sys.stderr)
            try:
                if SPOT_QUEUE in queues:
                    findings += _spot(runtime, event)
                elif queues:
                    findings += _cloudtrail(runtime, event)
            except Exception as exc:  # one bad event must not hide the others' results
                print(f"{path}: {type(exc).__name__}: {exc}", file=sys.stderr)
                status = 1
        print(_table(findings) if args.output == "table" else render_findings(findings, args.output))
    return status


def _table(findings: list[Finding]) -> str:
    lines = [findings_table(findings)]
    for finding in findings:
        deadline = finding.evidence.get("deadline")
        if deadline:
            lines.append(f"{finding.check_id} {finding.resource}: {finding.title} (deadline {deadline})")
    return "\n".join(lines)


def _cloudtrail(runtime: Any, event: dict[str, Any]) -> list[Finding]:
    from eks_auditor.triggers import requests_from_event

    findings: list[Finding] = []
    runtime.start_batch()
    for request in requests_from_event(event):
        for result in runtime.dispatcher.handle(request):
            findings += [c.finding for c in result.changes] if result.changes else list(result.failing)
    return findings


def _spot(runtime: Any, event: dict[str, Any]) -> list[Finding]:
    from eks_auditor.spot.notices import SpotBatch

    if not runtime.settings.findings_table:
        raise SystemExit("spot events need a findings table: --table TABLE, or --embedded")
    settings = runtime.settings
    result = SpotBatch(
        ec2_client=runtime.client("ec2", event.get("region")),
        store=runtime.store,
        publisher=runtime.publisher,
        now=datetime.now(UTC),
        ttl=settings.spot_notice_ttl,
        burst_threshold=settings.spot_burst_threshold,
        burst_window=settings.spot_burst_window,
    ).process([event])
    for item in result.results:
        print(f"  {item.outcome.value}: {item.reason or item.instance_id}", file=sys.stderr)
    return [change.finding for change in result.changes]


@contextmanager
def _environment(args: argparse.Namespace) -> Iterator[tuple[Any, dict[str, str]]]:
    from eks_auditor.config import Settings
    from eks_auditor.runtime import Runtime

    if not args.embedded:
        from eks_auditor_tools.cli import aws

        yield (
            Runtime(
                settings=Settings(findings_table=args.table or "", topic_arn=args.topic or ""),
                session=aws.session(args),
            ),
            {},
        )
        return
    from eks_auditor_tools.demo.fleet import sample_ids
    from eks_auditor_tools.demo.run import embedded_account

    with embedded_account() as (session, fleet, _account):
        yield Runtime(settings=Settings.from_env(), session=session), sample_ids(fleet)


def _substitute(event: dict[str, Any], replacements: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(event)
    for old, new in replacements.items():
        text = text.replace(old, new)
    result: dict[str, Any] = json.loads(text)
    if replacements:
        # A replayed sample happens now: a two-minute deadline from 2025 helps nobody.
        result["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return result


def _default_template() -> Path:
    from eks_auditor_tools.demo.paths import repo_root

    return repo_root() / "template.yaml"
