"""The findings HTTP API (API Gateway HTTP API, IAM authorization): routes live in eks_auditor.api."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from eks_auditor.api import app
from eks_auditor.metrics import NullSink
from eks_auditor.runtime import lambda_runtime
from eks_auditor.tracing import lambda_tracer

logger = Logger()
tracer = lambda_tracer()
copy_config_to_registered_loggers(source_logger=logger)
# The routes read through this runtime's store (eks_auditor.api.finding_reader); it installs redaction.
runtime = lambda_runtime(NullSink())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
