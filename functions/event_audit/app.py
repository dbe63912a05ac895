"""CloudTrail EKS/EC2/IAM calls (EventBridge -> SQS): re-audit what the call can have changed."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyKeyError
from aws_lambda_powertools.utilities.typing import LambdaContext
from eks_auditor.entrypoints import audit_cloudtrail_event, parse_event_body
from eks_auditor.runtime import PowertoolsSink, lambda_runtime
from eks_auditor.triggers import InvalidEvent

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
runtime = lambda_runtime(PowertoolsSink(metrics))
copy_config_to_registered_loggers(source_logger=logger)
idempotency = IdempotencyConfig(event_key_jmespath="id", raise_on_no_idempotency_key=True)


@idempotent_function(
    data_keyword_argument="event", config=idempotency, persistence_store=runtime.idempotency_store
)
def process_event(event: dict) -> dict:
    gate = runtime.organization_gate
    return audit_cloudtrail_event(event, runtime.dispatcher, admit=gate.admits if gate else None)


def record_handler(record: SQSRecord) -> dict:
    try:
        event = parse_event_body(record.body)
        logger.append_keys(event_id=event.get("id"), event_name=event.get("detail", {}).get("eventName"))
        return process_event(event=event)
    except (InvalidEvent, IdempotencyKeyError) as exc:
        logger.error("rejected event: %s", exc, extra={"message_id": record.message_id})
        metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=1)
        raise


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    runtime.start_batch()
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
