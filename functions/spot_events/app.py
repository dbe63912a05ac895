"""Spot interruption warnings and rebalance recommendations (EventBridge -> SQS): alert within seconds."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from eks_auditor.batch import RecordProcessor, best_effort
from eks_auditor.runtime import PowertoolsSink, lambda_runtime
from eks_auditor.spot.events import SpotEventError, parse_spot_body
from eks_auditor.spot.notices import SpotBatch, prefetch_bodies
from eks_auditor.tracing import lambda_tracer

logger = Logger()
tracer = lambda_tracer()
metrics = Metrics()
processor = RecordProcessor(logger=logger, metrics=metrics, rejections=(SpotEventError,), what="spot message")
runtime = lambda_runtime(PowertoolsSink(metrics))
copy_config_to_registered_loggers(source_logger=logger)
batch: SpotBatch | None = None


def record_handler(record: SQSRecord) -> dict:
    assert batch is not None
    result, _ = batch.handle(parse_spot_body(record.body))
    return result.model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    global batch
    batch = runtime.spot_batch(datetime.now(UTC))
    # One DescribeInstances for the whole batch, before the records are handled one by one.
    best_effort(prefetch_bodies, (record.get("body", "") for record in event.get("Records", [])), batch)
    # Failed items return to the queue; after maxReceiveCount they land in SpotDLQ for inspection.
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
