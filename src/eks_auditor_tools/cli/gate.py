"""`--fail-on SEVERITY` for `scan` and `findings`: exit 3 when an open, unsuppressed finding at or above
SEVERITY exists, so a pipeline can stop on it (as Prowler exits 3 on failures)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status
from eks_auditor.suppressions import Suppression, match

from eks_auditor_tools.cli.aws import USAGE, CliError

GATED = 3


def severity(text: str) -> Severity:
    try:
        return Severity(text.upper())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"unknown severity {text!r} (one of {', '.join(s.value for s in Severity)})"
        ) from exc


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fail-on",
        type=severity,
        metavar="SEVERITY",
        help="exit 3 when an open, unsuppressed finding at or above SEVERITY exists",
    )
    parser.add_argument(
        "--suppressions",
        metavar="FILE",
        help="accepted risks for --fail-on without --table (as `suppress list --output json` prints them)",
    )


def load_suppressions(args: argparse.Namespace) -> list[Suppression]:
    """The --suppressions file, read before anything is scanned: a bad file is a usage error."""
    from pydantic import TypeAdapter, ValidationError

    path = getattr(args, "suppressions", None)
    if not path:
        return []
    try:
        return TypeAdapter(list[Suppression]).validate_python(json.loads(Path(path).read_text("utf-8")))
    except OSError as exc:
        raise CliError(f"cannot read --suppressions {path}: {exc.strerror}", USAGE) from exc
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise CliError(
            f"--suppressions {path} is not a JSON list of suppressions ({first}); "
            "write it with `eks-auditor suppress list --output json`",
            USAGE,
        ) from exc


def blocking(
    findings: Iterable[Finding], fail_on: Severity, suppressions: Sequence[Suppression]
) -> list[Finding]:
    from eks_auditor.audit import utcnow

    now = utcnow()
    return [
        f
        for f in findings
        if f.status is Status.OPEN and f.severity.rank >= fail_on.rank and match(suppressions, f, now) is None
    ]


def gate(
    findings: Iterable[Finding],
    fail_on: Severity | None,
    suppressions: Sequence[Suppression],
    fallback: int = 0,
) -> int:
    if fail_on is None:
        return fallback
    return verdict(len(blocking(findings, fail_on, suppressions)), fail_on, fallback=fallback)


def verdict(found: int, fail_on: Severity, *, fallback: int = 0, err: TextIO | None = None) -> int:
    if not found:
        return fallback
    print(
        f"eks-auditor: {found} open finding(s) at or above {fail_on.value} (--fail-on): exit {GATED}",
        file=err or sys.stderr,
    )
    return GATED
