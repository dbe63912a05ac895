"""Invoke the real Lambda handlers in-process, as the Lambda service would (SQS batches, context)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from eks_auditor_tools.demo.paths import repo_root

_loaded: dict[str, ModuleType] = {}


@dataclass
class LambdaContext:
    """The attributes Powertools reads from the real context object."""

    function_name: str
    account: str
    region: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def load_handler(function_dir: str) -> ModuleType:
    """Import functions/<dir>/app.py once, as Lambda does on a cold start."""
    if function_dir not in _loaded:
        path = repo_root() / "functions" / function_dir / "app.py"
        spec = importlib.util.spec_from_file_location(f"eks_auditor_fn_{function_dir}", path)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _loaded[function_dir] = module
    return _loaded[function_dir]


def forget_handlers() -> None:
    for name in list(_loaded):
        sys.modules.pop(f"eks_auditor_fn_{name}", None)
    _loaded.clear()


class LogSink(io.TextIOBase):
    """Collects what the handlers print (Powertools JSON logs, EMF metrics) out of the demo's way.

    Powertools binds its log handler to sys.stdout when the handler module is imported, so the
    sink stands in for stdout both while importing and while invoking.
    """

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = path
        self.lines: list[str] = []
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        self.lines.extend(complete)
        if self.path is not None and complete:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n".join(complete) + "\n")
        return len(text)

    def writable(self) -> bool:
        return True

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """stdout, and the service logger's stream handlers: Powertools bound them to whatever stdout was
        when a handler module was first imported (another test's, under xdist), so redirecting stdout
        alone would miss the logs of a handler imported earlier."""
        import logging

        handlers = [
            handler
            for handler in logging.getLogger("eks-auditor").handlers
            if isinstance(handler, logging.StreamHandler)
        ]
        previous = [handler.setStream(self) for handler in handlers]
        try:
            with contextlib.redirect_stdout(self):
                yield
        finally:
            for handler, stream in zip(handlers, previous, strict=True):
                if stream is not None:
                    handler.setStream(stream)

    def error_records(self) -> list[dict[str, Any]]:
        found = []
        for line in self.lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and record.get("level") in ("ERROR", "CRITICAL"):
                found.append(record)
        return found

    def error_summary(self) -> str:
        """The ERROR lines counted by cause: the demo's deliberate bad input, the embedded account's
        unimplemented APIs (moto answers 404 "Not yet implemented"), and the unexpected rest."""
        counts = {"bad input": 0, "embedded": 0, "unexpected": 0}
        for record in self.error_records():
            counts[error_cause(record)] += 1
        total = sum(counts.values())
        return (
            f"{total} ERROR line(s): {counts['bad input']} the bad input the demo sends on purpose, "
            f"{counts['embedded']} APIs the embedded (moto) account does not implement, "
            f"{counts['unexpected']} unexpected"
        )


def error_cause(record: dict[str, Any]) -> str:
    """'bad input', 'embedded' or 'unexpected' for one ERROR record of the demo's Lambda logs."""
    message = str(record.get("message", ""))
    if message.startswith("rejected event"):
        return "bad input"
    if "Not yet implemented" in message:
        return "embedded"
    return "unexpected"


def invoke(function_dir: str, event: Any, *, account: str, region: str, logs: LogSink | None = None) -> Any:
    context = LambdaContext(function_name=function_dir, account=account, region=region)
    if logs is None:
        return load_handler(function_dir).handler(event, context)
    with logs.capture():
        return load_handler(function_dir).handler(event, context)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda SQS event for messages received from a queue."""
    region = queue_arn.split(":")[3]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "0",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "0",
                },
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }
