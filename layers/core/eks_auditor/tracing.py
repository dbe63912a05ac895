"""X-Ray tracing for the handlers, built only where it will trace.

Two settings decide whether a function is traced, and they are independent: the template's `Tracing:
Active` makes Lambda sample invocations and run the X-Ray daemon beside the function; Powertools' Tracer
sends the function's own subsegments (the handler, patched boto3 calls) unless POWERTOOLS_TRACE_DISABLED
is true or the code runs outside Lambda (no LAMBDA_TASK_ROOT, or SAM local / Chalice local). The
template sets Active and leaves POWERTOOLS_TRACE_DISABLED unset: deployed functions trace.

Powertools' Tracer imports the X-Ray SDK even when it is disabled, and the SDK's recorder builds two
botocore clients at import (about as long as `import boto3` again). So a handler asks `lambda_tracer()`:
Powertools' Tracer where it is on, a no-op with the same decorator where it is off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

TRUTHY = frozenset({"1", "y", "yes", "t", "true", "on"})


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Powertools' own rule (Tracer._is_tracer_disabled): on in Lambda unless POWERTOOLS_TRACE_DISABLED."""
    env = os.environ if env is None else env
    if env.get("POWERTOOLS_TRACE_DISABLED", "false").lower() in TRUTHY:
        return False
    if env.get("AWS_SAM_LOCAL") or env.get("AWS_CHALICE_CLI_MODE"):
        return False
    return bool(env.get("LAMBDA_TASK_ROOT"))


class NoTracer:
    """Tracing off: the decorators Powertools' Tracer offers, leaving the function as it is."""

    disabled = True

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any] | None = None, **_: Any) -> Any:
        if lambda_handler is None:
            return lambda function: function
        return lambda_handler

    def capture_method(self, method: Callable[..., Any] | None = None, **_: Any) -> Any:
        if method is None:
            return lambda function: function
        return method


def lambda_tracer() -> Tracer | NoTracer:
    """Powertools' Tracer when tracing is on (see the module's docstring), else a NoTracer."""
    if not tracing_enabled():
        return NoTracer()
    from aws_lambda_powertools import Tracer

    return Tracer()
