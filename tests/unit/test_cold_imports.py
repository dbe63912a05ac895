"""What a cold start imports, and that X-Ray tracing still works where it is on.

Not a timing test: each case imports a handler module (or the CLI's parser for one command) in a fresh
interpreter and names what it found in sys.modules. The bench (`make bench`, layer_imports) times it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from eks_auditor.tracing import NoTracer, tracing_enabled

ROOT = Path(__file__).resolve().parents[2]

# Never at a handler's import: the X-Ray SDK (tracing is off in these runs), the check catalog and the
# collectors (the first audit imports them), YAML (the version table).
HEAVY_EVERYWHERE = (
    "aws_xray_sdk",
    "eks_auditor.checks.registry",
    "eks_auditor.audit",
    "eks_auditor.collect",
    "yaml",
)
# Handlers whose first batch, not their import, routes and audits: no pydantic models, no checks at all.
# (and not the idempotency package either: its __init__ imports boto3 and the DynamoDB persistence layer).
HEAVY_FOR_AUDITORS = (
    *HEAVY_EVERYWHERE,
    "pydantic",
    "eks_auditor.checks",
    "eks_auditor.entrypoints",
    "aws_lambda_powertools.utilities.idempotency",
)
HANDLERS = {
    "event_audit": HEAVY_FOR_AUDITORS,
    "cluster_worker": HEAVY_FOR_AUDITORS,
    "schedule": HEAVY_FOR_AUDITORS,
    # Spot notices are checks of their own (eks_auditor.checks.spot) and the API's routes are pydantic
    # models: both need those at once, but neither needs the catalog or the collectors.
    "spot_events": HEAVY_EVERYWHERE,
    "query_api": HEAVY_EVERYWHERE,
}


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "POWERTOOLS_TRACE", "LAMBDA_TASK_ROOT", "_X_AMZN"))
    }
    env.update(
        FINDINGS_TABLE="t",
        IDEMPOTENCY_TABLE="i",
        TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:t",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


_LOAD = (
    "import importlib.util, json, sys\n"
    "s = importlib.util.spec_from_file_location('app', {path!r})\n"
    "m = importlib.util.module_from_spec(s); sys.modules['app'] = m; s.loader.exec_module(m)\n"
)


def _run(code: str, env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def _heavy(modules: list[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy))


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_handler_import_leaves_heavy_modules_to_their_use(function: str) -> None:
    path = ROOT / "functions" / function / "app.py"
    modules = json.loads(
        _run(_LOAD.format(path=str(path)) + "print(json.dumps(sorted(sys.modules)))", _env())
    )
    assert "app" in modules
    assert _heavy(modules, HANDLERS[function]) == []


def test_cli_imports_only_the_command_it_runs() -> None:
    code = (
        "import json, sys\n"
        "from eks_auditor_tools.cli.main import build_parser\n"
        "build_parser(['--region', 'us-east-1', 'checks', '--output', 'json'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('eks_auditor_tools.cli.'))))"
    )
    loaded = json.loads(_run(code, _env()))
    commands = {"demo", "scan", "replay", "findings", "suppress", "report", "openapi", "max_pods", "local"}
    assert "eks_auditor_tools.cli.checks" in loaded
    assert sorted(m for m in loaded if m.rsplit(".", 1)[1] in commands) == []


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, False),  # outside Lambda
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),  # deployed: the template sets no POWERTOOLS_TRACE_DISABLED
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"}, False),
    ],
)
def test_tracing_follows_powertools_rule(
    env: dict[str, str], enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools import Tracer

    for name in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing_enabled() is enabled
    assert (not Tracer._is_tracer_disabled()) is enabled


def test_no_tracer_leaves_the_handler_as_it_is() -> None:
    def handler(event: dict, context: object) -> dict:
        return event

    tracer = NoTracer()
    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_lambda_handler()(handler) is handler
    assert tracer.capture_method(handler) is handler


def test_handler_sends_its_subsegment_to_xray_when_tracing_is_on() -> None:
    """As deployed (LAMBDA_TASK_ROOT set, a sampled trace header): the query API handler, invoked on a route
    that needs no AWS call, sends its `## handler` subsegment to the X-Ray daemon's address."""
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(30)
    trace = "1-5759e988-bd862e3fe1be46a994272793"
    env = _env(
        LAMBDA_TASK_ROOT=str(ROOT),
        AWS_LAMBDA_FUNCTION_NAME="query-api",
        AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}",
        _X_AMZN_TRACE_ID=f"Root={trace};Parent=53995c3f42cd8ad8;Sampled=1",
    )
    path = ROOT / "functions" / "query_api" / "app.py"
    code = _LOAD.format(path=str(path)) + (
        "from eks_auditor_tools.demo.api_events import http_api_event\n"
        "class Context:\n"
        "    function_name = 'query-api'; memory_limit_in_mb = 512; aws_request_id = 'r'\n"
        "    invoked_function_arn = 'arn:aws:lambda:us-east-1:123456789012:function:query-api'\n"
        "response = m.handler(http_api_event('/no-such-route'), Context())\n"
        "print(json.dumps([type(m.tracer).__name__, m.tracer.disabled, response['statusCode']]))"
    )
    try:
        assert json.loads(_run(code, env)) == ["Tracer", False, 404]
        documents = []
        while not any(d.get("name") == "## handler" for d in documents):
            datagram, _ = daemon.recvfrom(65535)
            documents += [json.loads(line) for line in datagram.decode().splitlines()[1:]]
    finally:
        daemon.close()
    subsegment = next(d for d in documents if d.get("name") == "## handler")
    assert subsegment["trace_id"] == trace
    assert subsegment["type"] == "subsegment"
