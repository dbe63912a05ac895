"""Scheduled scan worker (SQS): audit one cluster per message, every check; resolve deleted clusters;
audit the account-region's own pipeline for the pseudo-cluster "-"; in organization mode, list an
account-region for the pseudo-cluster "*" and send its cluster messages.

The audits (collectors, the check catalog) are imported by the first batch, not at cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.batch import process_partial_response
from eks_auditor.batch import RecordProcessor, best_effort
from eks_auditor.errors import InvalidEvent
from eks_auditor.runtime import PowertoolsSink, lambda_runtime
from eks_auditor.tracing import lambda_tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = lambda_tracer()
metrics = Metrics()
processor = RecordProcessor(logger=logger, metrics=metrics, rejections=(InvalidEvent,), what="audit message")
runtime = lambda_runtime(PowertoolsSink(metrics))
copy_config_to_registered_loggers(source_logger=logger)
# The batch's audits, run concurrently before the processor walks the records (message id -> outcome).
audited: dict = {}


def record_handler(record: SQSRecord) -> dict:
    from eks_auditor.entrypoints import audit_queued_cluster

    attempt = audited.get(record.message_id)
    if attempt is None:
        return audit_queued_cluster(
            record.body,
            runtime.dispatcher,
            runtime.pipeline_auditor,
            send_digest=runtime.send_daily_digest,
            lister=runtime.lister,
        )
    if attempt.error is not None:
        raise attempt.error
    return attempt.value


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    from eks_auditor.entrypoints import audit_queued_batch, prefetch_batch

    runtime.start_batch()
    records = event.get("Records", [])
    # One DescribeInstanceTypes for the batch; should it fail, each record still does its own work.
    best_effort(prefetch_batch, (record.get("body", "") for record in records), runtime.collector)
    audited.clear()
    audited.update(
        audit_queued_batch(
            [(record.get("messageId", ""), record.get("body", "")) for record in records],
            runtime.dispatcher,
            runtime.limiter,
            pipeline=runtime.pipeline_auditor,
            send_digest=runtime.send_daily_digest,
            lister=runtime.lister,
        )
    )
    try:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    finally:
        audited.clear()
