"""`eks-auditor`: one entry point for people and tests.

It uses the standard AWS credential chain and environment (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL), so it runs read-only against a real account or any AWS-compatible endpoint.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Each module registers one subcommand with `register(subparsers)`; imported lazily per command.
_COMMANDS: tuple[str, ...] = (
    "eks_auditor_tools.cli.demo",
    "eks_auditor_tools.cli.scan",
    "eks_auditor_tools.cli.replay",
    "eks_auditor_tools.cli.findings",
    "eks_auditor_tools.cli.suppress",
    "eks_auditor_tools.cli.report",
    "eks_auditor_tools.cli.openapi",
    "eks_auditor_tools.cli.max_pods",
    "eks_auditor_tools.cli.checks",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eks-auditor", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log at INFO (DEBUG with -vv)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level={0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
