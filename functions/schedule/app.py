"""The schedule (EventBridge Scheduler): fan out one audit message per cluster to the worker queue.

In organization mode (MEMBER_ROLE_NAME set) it sends one listing message per account-region of the
organization instead; a worker lists each and sends its cluster messages (two stages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from eks_auditor.runtime import PowertoolsSink, lambda_runtime
from eks_auditor.tracing import lambda_tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = lambda_tracer()
metrics = Metrics()
runtime = lambda_runtime(PowertoolsSink(metrics))
copy_config_to_registered_loggers(source_logger=logger)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict:
    from eks_auditor.entrypoints import fan_out_scan, is_daily_digest, scan_id_for

    # The invoking function's ARN names the account: no STS call needed.
    account = context.invoked_function_arn.split(":")[4]
    scan_id = scan_id_for(event, context.aws_request_id)
    if runtime.settings.organization:
        # One listing message per account-region: the workers list (and read) the member accounts.
        return runtime.organization_scan(scan_id, digest=is_daily_digest(event))
    return fan_out_scan(
        account=account,
        regions=runtime.settings.audit_regions,
        scan_id=scan_id,
        list_clusters=runtime.collector.list_clusters,
        known_clusters=runtime.store.known_clusters,
        sqs=runtime.client("sqs"),
        queue_url=runtime.settings.audit_queue_url,
        # The daily digest schedule (template: DailyDigestSchedule): the same scan, plus a digest per cluster.
        digest=is_daily_digest(event),
    )
