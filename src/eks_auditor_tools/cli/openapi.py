"""`eks-auditor openapi`: print (or write) the HTTP API's OpenAPI document, generated from eks_auditor.api."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("openapi", help="the findings HTTP API's OpenAPI document (JSON)")
    parser.add_argument(
        "--write", metavar="FILE", help="write it to FILE (docs/openapi.json) instead of stdout"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    from eks_auditor.api import openapi_json

    out = out or sys.stdout
    document = openapi_json()
    if args.write:
        Path(args.write).write_text(document, encoding="utf-8")
        print(f"wrote {args.write}", file=out)
    else:
        out.write(document)
    return 0
