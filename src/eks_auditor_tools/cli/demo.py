"""`eks-auditor demo`: the embedded end-to-end run (what `make demo` calls)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from eks_auditor_tools.cli.aws import USAGE, CliError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="the real handlers, end to end, on an embedded account")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="copy the findings into the local endpoint (`eks-auditor local start`) for later commands",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from eks_auditor_tools.demo.run import run as run_demo
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("moto"):
            print("the demo needs moto: pip install -e '.[demo]' (make demo does this)", file=sys.stderr)
            return 2
        raise
    if not args.keep:
        return run_demo(sys.stdout)
    from eks_auditor_tools.cli import local

    if local.running() is None:
        raise CliError("--keep needs the local endpoint: run `eks-auditor local start` first", USAGE)
    code = run_demo(sys.stdout, keep=local.keep)
    print("\nThe findings are kept in the local endpoint; try, in this shell:", file=sys.stdout)
    print('  eval "$(.venv/bin/eks-auditor local env)"', file=sys.stdout)
    print("  .venv/bin/eks-auditor findings --severity HIGH", file=sys.stdout)
    print("  .venv/bin/eks-auditor local stop    # when done", file=sys.stdout)
    return code
