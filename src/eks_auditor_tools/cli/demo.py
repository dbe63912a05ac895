"""`eks-auditor demo`: the embedded end-to-end run (what `make demo` calls)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="the real handlers, end to end, on an embedded account")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from eks_auditor_tools.demo.run import run as run_demo
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("moto"):
            print("the demo needs moto: pip install -e '.[demo]' (make demo does this)", file=sys.stderr)
            return 2
        raise
    return run_demo(sys.stdout)
