"""CloudTrail EKS/EC2/IAM calls (EventBridge -> SQS): re-audit what the call can have changed.

Module scope holds what every cold start needs at once; the routing (which reads the check catalog), the
audits and the idempotency layer are imported by the first batch that reaches them (eks_auditor.tracing
says when the X-Ray SDK is loaded).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.batch import process_partial_response
from eks_auditor.batch import RecordProcessor
from eks_auditor.errors import InvalidEvent
from eks_auditor.runtime import PowertoolsSink, lambda_runtime
from eks_auditor.tracing import lambda_tracer

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from eks_auditor.entrypoints import EventBatch

logger = Logger()
tracer = lambda_tracer()
metrics = Metrics()
processor = RecordProcessor(logger=logger, metrics=metrics, rejections=(InvalidEvent,), what="event")
runtime = lambda_runtime(PowertoolsSink(metrics))
copy_config_to_registered_loggers(source_logger=logger)
batch: EventBatch | None = None


@cache
def idempotency() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(event_key_jmespath="id", raise_on_no_idempotency_key=True)


def process_event(event: dict) -> dict:
    assert batch is not None
    return batch.audit(event)


@cache
def idempotent_process_event() -> Callable[..., Any]:
    """process_event behind the idempotency layer (its DynamoDB client is made on first use, like every
    other client of the runtime)."""
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    return idempotent_function(
        data_keyword_argument="event", config=idempotency(), persistence_store=runtime.idempotency_store
    )(process_event)


def record_handler(record: SQSRecord) -> dict:
    # Imported here, not at init: the idempotency package pulls in boto3 and its DynamoDB persistence.
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyKeyError

    assert batch is not None
    event = batch.event(record.message_id)
    logger.append_keys(event_id=event.get("id"), event_name=event.get("detail", {}).get("eventName"))
    try:
        return dict(idempotent_process_event()(event=event))
    except IdempotencyKeyError as exc:  # an event without an id: bad input, no retry can fix it
        raise InvalidEvent(f"event has no id for the idempotency layer: {exc}") from exc


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    from eks_auditor.entrypoints import plan_event_batch

    global batch
    idempotency().register_lambda_context(context)
    runtime.start_batch()
    # Every record is routed before any audit, so each cluster is audited once per batch.
    gate = runtime.organization_gate
    batch = plan_event_batch(
        event.get("Records", []), runtime.dispatcher, runtime.heartbeats, admit=gate.admits if gate else None
    )
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
