"""SQS batches where no failure is silent: the record wrapper every SQS handler processes its batch with.

Each failed record, whether rejected on purpose (bad input) or failed by surprise (SNS KMSAccessDenied,
DynamoDB conflicts or throttling past retries, RecursionError, InvalidRegionError), leaves exactly one
ERROR line with its message id, the exception type and the AWS error code, and one metric:
`EventsRejected` for bad input, `RecordsFailed` by `ErrorCode` for the rest. A batch with any failed
record also counts `BatchItemFailures`, which the template alarms on (Powertools' BatchProcessor logs
a failure at DEBUG only, and a partial batch response raises no Lambda error).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from botocore.exceptions import BotoCoreError, ClientError

REJECTED = "EventsRejected"
FAILED = "RecordsFailed"
BATCH_FAILURES = "BatchItemFailures"
REJECTED_CODE = "Rejected"


def error_code(exc: BaseException) -> str:
    """The AWS error code behind an exception (its own or a cause's), else the root exception's type."""
    seen: set[int] = set()
    current: BaseException | None = exc
    root = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            return str(current.response.get("Error", {}).get("Code") or type(current).__name__)
        if isinstance(current, BotoCoreError):
            return type(current).__name__
        root = current
        current = current.__cause__ or current.__context__
    return type(root).__name__


class RecordProcessor(BatchProcessor):
    """A Powertools SQS BatchProcessor that reports every failed record (and the batch) loudly.

    `rejections` are the exception types that mean "this input is bad": no retry can fix them.
    A batch whose every record failed is reported like any partial failure (every item listed), not
    raised: SQS retries and dead-letters the same records either way, and the batch metric alarms.
    """

    def __init__(
        self,
        *,
        logger: logging.Logger | Any,
        metrics: Any,
        rejections: tuple[type[BaseException], ...],
        what: str = "record",
    ) -> None:
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._log = logger
        self._metrics = metrics
        self._rejections = rejections
        self._what = what

    def failure_handler(self, record: Any, exception: Any) -> Any:
        entry = super().failure_handler(record, exception)
        self.report(record, exception[1])
        return entry

    def report(self, record: Any, exc: BaseException) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        message_id = getattr(record, "message_id", None)
        code = REJECTED_CODE if isinstance(exc, self._rejections) else error_code(exc)
        extra = {"message_id": message_id, "error_type": type(exc).__name__, "error_code": code}
        if code == REJECTED_CODE:
            self._log.error("rejected %s: %s", self._what, _text(exc), extra=extra)
            self._metrics.add_metric(name=REJECTED, unit=MetricUnit.Count, value=1)
            return
        self._log.error(
            "%s failed (%s): %s: %s",
            self._what,
            code,
            type(exc).__name__,
            _text(exc),
            extra=extra,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        self._count_failure(code)

    def _count_failure(self, code: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        self._metrics.add_metric(name=FAILED, unit=MetricUnit.Count, value=1)
        # The error code as a dimension, so a dashboard splits failures by cause (KMSAccessDenied, ...).
        namespace = getattr(self._metrics, "namespace", None)
        if namespace:
            with single_metric(
                name=f"{FAILED}ByCode", unit=MetricUnit.Count, value=1, namespace=namespace
            ) as metric:
                metric.add_dimension(name="service", value=str(getattr(self._metrics, "service", "")))
                metric.add_dimension(name="ErrorCode", value=code[:250] or "Unknown")

    def _clean(self) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        super()._clean()
        if self.fail_messages:
            failed = len(self.fail_messages)
            self._metrics.add_metric(name=BATCH_FAILURES, unit=MetricUnit.Count, value=failed)


def best_effort(prefetch: Callable[..., Any], *args: Any) -> None:
    """Run a batch-wide optimization (a prefetch) that must not fail the batch: each record still does
    its own work, and fails alone. What it raised is logged, not swallowed silently."""
    try:
        prefetch(*args)
    except Exception as exc:
        logging.getLogger(__name__).warning(
            "batch prefetch %s failed, records go on without it: %s: %s",
            getattr(prefetch, "__name__", prefetch),
            type(exc).__name__,
            _text(exc),
        )


def _text(exc: BaseException) -> str:
    # A RecursionError's or a pydantic error's text can be huge: one line, bounded.
    text = " ".join(str(exc).split())
    return text if len(text) <= 500 else text[:500] + "..."
