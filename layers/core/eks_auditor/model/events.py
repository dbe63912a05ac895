"""Typed inputs of the SQS-fed handlers: what a well-formed message is, decided here and nowhere else.

The handlers parse each SQS body through these models inside their record handler (not as the batch
processor's model): a rejection then gets its ERROR log line and metric there, where Powertools would log a
model failure at DEBUG only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import ConfigDict, Field, StrictBool, StringConstraints, ValidationError

from eks_auditor.model.frozen import FrozenModel

ACCOUNT_PATTERN = r"^\d{12}$"
# No surrounding space, lower case: a region with a trailing space would create findings no scan resolves.
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
# EKS cluster names, or "-": the pseudo-cluster of an account-region (model.pipeline.ACCOUNT_REGION), whose
# message asks the worker to audit the auditor's own pipeline there, or "*" (LIST_ACCOUNT_REGION): the
# organization schedule's message asking a worker to list that account-region and fan out its clusters.
CLUSTER_PATTERN = r"^(-|\*|[0-9A-Za-z][A-Za-z0-9\-_]{0,99})$"
LIST_ACCOUNT_REGION = "*"

AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_PATTERN)]
Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class MalformedMessage(ValueError):
    """A message no retry can fix; the text says which field and why."""


class ClusterAuditMessage(FrozenModel):
    """The scheduler's fan-out message: audit one cluster (or resolve it, `deleted`)."""

    model_config = ConfigDict(extra="ignore")

    account: AccountId
    region: Region
    cluster: Annotated[str, StringConstraints(pattern=CLUSTER_PATTERN)]
    scan_id: NonEmpty
    # Strict: the string "false" must not resolve a live cluster.
    deleted: StrictBool = False
    # The daily run: after the audit, send the cluster's daily digest (notify.daily_digest).
    digest: StrictBool = False


class CloudTrailEnvelope(EventBridgeModel):
    """The EventBridge envelope of a CloudTrail event: Powertools' EventBridgeModel (version, id, source,
    account, time, region, resources, detail-type, detail), with the account and region held to their
    formats and the detail an object. triggers.py routes the detail, whose shape differs per API call.
    """

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    id: NonEmpty
    source: NonEmpty
    detail_type: NonEmpty = Field(alias="detail-type")
    account: AccountId
    region: Region
    detail: dict[str, Any]


def _json_object(body: str, what: str) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MalformedMessage(f"{what} is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise MalformedMessage(f"{what} is not a JSON object")
    return message


def _reasons(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors())


def parse_cluster_audit_message(body: str) -> ClusterAuditMessage:
    """An SQS body -> ClusterAuditMessage; raises MalformedMessage."""
    message = _json_object(body, "audit message")
    missing = [key for key in ("account", "region", "cluster", "scan_id") if not message.get(key)]
    if missing:
        raise MalformedMessage(f"audit message lacks {', '.join(missing)}")
    try:
        return ClusterAuditMessage.model_validate(message)
    except ValidationError as exc:
        raise MalformedMessage(f"audit message is malformed: {_reasons(exc)}") from exc


def parse_cloudtrail_event(body: str) -> dict[str, Any]:
    """An SQS body -> the EventBridge event (its envelope validated); raises MalformedMessage.

    The event is handed on as the dict it arrived as: routing and the idempotency key read it unchanged.
    """
    try:
        event = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MalformedMessage(str(exc)) from exc
    if not isinstance(event, dict):
        raise MalformedMessage("event is not a JSON object")
    try:
        CloudTrailEnvelope.model_validate(event)
    except ValidationError as exc:
        raise MalformedMessage(f"event {event.get('id')!r} is malformed: {_reasons(exc)}") from exc
    return event
