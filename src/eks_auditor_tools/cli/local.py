"""`eks-auditor local start|stop|env`: a local AWS endpoint (a moto server on 127.0.0.1) that outlives
one command, so the findings `make demo` leaves behind can be queried, suppressed and reported.

The server keeps its state in memory until `local stop`; `eks-auditor demo --keep` copies the demo's
findings table into it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

PORT = 4566
REGION = "us-east-1"
TABLE = "eks-auditor-findings"
# moto accepts any key; these only keep boto3 from looking for real credentials.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "eks-auditor" / "local.json"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("local", help="a local AWS endpoint that keeps the demo's findings")
    commands = parser.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    start = commands.add_parser("start", help="start the endpoint on 127.0.0.1 (idempotent)")
    start.add_argument("--port", type=int, default=PORT)
    start.set_defaults(func=run_start)
    commands.add_parser("stop", help="stop it (its findings are gone)").set_defaults(func=run_stop)
    commands.add_parser("env", help="print the exports that point the CLI at it").set_defaults(func=run_env)


def environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        **CREDENTIALS,
        "FINDINGS_TABLE": TABLE,
    }


def running() -> dict[str, Any] | None:
    """The recorded endpoint when it still answers, else None."""
    try:
        state: dict[str, Any] = json.loads(state_file().read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return state if _answers(state["endpoint"]) else None


def _answers(endpoint: str) -> bool:
    # The endpoint is on loopback: never through an HTTP(S)_PROXY.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{endpoint}/moto-api/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer: something serves there
    except OSError:
        return False


def run_start(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    from eks_auditor_tools.cli.aws import FAILED, CliError

    out = out or sys.stdout
    state = running()
    if state is None:
        endpoint = f"http://127.0.0.1:{args.port}"
        if _answers(endpoint):
            raise CliError(f"port {args.port} is taken by another server: pass --port", FAILED)
        log = state_file().with_suffix(".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(args.port)],
                stdout=sink,
                stderr=sink,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while not _answers(endpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                raise CliError(f"the local endpoint did not start: see {log}", FAILED)
            time.sleep(0.2)
        state = {"endpoint": endpoint, "pid": process.pid}
        state_file().write_text(json.dumps(state), encoding="utf-8")
    print(f"local endpoint at {state['endpoint']} (stop it with `eks-auditor local stop`)", file=out)
    return 0


def run_stop(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    state = running()
    state_file().unlink(missing_ok=True)
    if state is None:
        print("no local endpoint running", file=out)
        return 0
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(state["pid"]), signal.SIGTERM)
    print(f"stopped the local endpoint at {state['endpoint']}", file=out)
    return 0


def run_env(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    from eks_auditor_tools.cli.aws import USAGE, CliError

    out = out or sys.stdout
    state = running()
    if state is None:
        raise CliError("no local endpoint running: `eks-auditor local start` (make demo starts it)", USAGE)
    for name, value in environment(state["endpoint"]).items():
        print(f"export {name}={value}", file=out)
    return 0


def keep(source: Any, table: str = TABLE, *, source_table: str | None = None) -> str:
    """Copy a findings table (every item, as stored) into the running local endpoint; returns its URL."""
    import boto3
    from eks_auditor.store import TABLE_DEFINITION

    from eks_auditor_tools.cli.aws import USAGE, CliError

    state = running()
    if state is None:
        raise CliError("--keep needs the local endpoint: run `eks-auditor local start` first", USAGE)
    target = boto3.client(
        "dynamodb",
        endpoint_url=state["endpoint"],
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    if table in target.list_tables()["TableNames"]:
        target.delete_table(TableName=table)
        target.get_waiter("table_not_exists").wait(TableName=table)
    target.create_table(TableName=table, **TABLE_DEFINITION)
    target.get_waiter("table_exists").wait(TableName=table)
    for page in source.get_paginator("scan").paginate(TableName=source_table or table):
        for item in page["Items"]:
            target.put_item(TableName=table, Item=item)
    return str(state["endpoint"])
