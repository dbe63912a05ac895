"""Spot interruption warnings and rebalance recommendations (EventBridge -> SQS): alert within seconds."""

import json
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from eks_auditor.runtime import PowertoolsSink, lambda_runtime
from eks_auditor.spot.notices import process_spot_events

logger = Logger()
tracer = Tracer()
metrics = Metrics()
runtime = lambda_runtime(PowertoolsSink(metrics))
copy_config_to_registered_loggers(source_logger=logger)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    records = event.get("Records") or []
    failures: list[str] = []
    parsed, ids = [], []
    for record in records:
        try:
            parsed.append(json.loads(record["body"]))
            ids.append(record["messageId"])
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            logger.error("rejected spot message: body is not JSON: %s", exc, extra={"record": record})
            metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=1)
            failures.append(record.get("messageId", ""))
    # One call for the whole batch: one DescribeInstances for all its instance ids.
    settings = runtime.settings
    result = process_spot_events(
        parsed,
        ec2_client=runtime.client("ec2"),
        ec2_client_for=lambda region: runtime.client("ec2", region),
        store=runtime.store,
        notifier=runtime.notifier,
        now=datetime.now(UTC),
        ttl=settings.spot_notice_ttl,
        burst_threshold=settings.spot_burst_threshold,
        burst_window=settings.spot_burst_window,
        metrics=runtime.metrics,
    )
    if runtime.security_hub is not None:
        # An instance already gone maps to no cluster: Security Hub needs the cluster as the resource.
        runtime.security_hub.export([c for c in result.changes if c.finding.cluster_arn])
    for failed in result.failed:
        logger.error("spot event failed: %s", failed.reason, extra={"event_id": failed.event_id})
        failures.append(ids[failed.index])
    # Failed items return to the queue; after maxReceiveCount they land in SpotDLQ for inspection.
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures if message_id]}
