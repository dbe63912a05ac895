"""Spot interruption warnings and rebalance recommendations (EventBridge -> SQS): alert within seconds."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from eks_auditor.runtime import PowertoolsSink, lambda_runtime
from eks_auditor.spot.events import SpotEventError, parse_spot_body
from eks_auditor.spot.notices import SpotBatch, SpotEventFailed, prefetch_bodies

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
runtime = lambda_runtime(PowertoolsSink(metrics))
copy_config_to_registered_loggers(source_logger=logger)
batch: SpotBatch | None = None


def record_handler(record: SQSRecord) -> dict:
    assert batch is not None
    try:
        signal = parse_spot_body(record.body)
    except SpotEventError as exc:
        logger.error("rejected spot message: %s", exc, extra={"message_id": record.message_id})
        metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=1)
        raise
    try:
        result, _ = batch.handle(signal)
    except SpotEventFailed as exc:
        logger.error("spot event failed: %s", exc, extra={"event_id": signal.event_id})
        raise
    return result.model_dump(mode="json")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    global batch
    batch = runtime.spot_batch(datetime.now(UTC))
    # One DescribeInstances for the whole batch, before the records are handled one by one.
    prefetch_bodies((record.get("body", "") for record in event.get("Records", [])), batch)
    # Failed items return to the queue; after maxReceiveCount they land in SpotDLQ for inspection.
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
