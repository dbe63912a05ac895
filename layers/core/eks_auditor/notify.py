"""SNS notifier: one message per finding state change, in AWS Chatbot's custom-notification schema.

The body is what a Chatbot-subscribed Slack or Teams channel renders ("version" 1.0, "source" custom,
"content" for people, "metadata" for threading and machines); the finding itself rides along as JSON in
metadata.additionalContext.finding (the schema wants string values there). Message attributes carry severity,
status, check_id, cluster, account, region, change and change_id for subscription filter policies.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from eks_auditor.model.finding import ChangeKind, StateChange
from eks_auditor.suppressions import alerts

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

# SNS caps a message (body plus attributes) at 256 KiB.
MAX_MESSAGE_BYTES = 262_144
_SUBJECT_LIMIT = 100  # SNS: at most 100 ASCII characters, no line breaks
_EVIDENCE_KEYS_SHOWN = 10
_EVIDENCE_VALUE_CHARS = 200
_DESCRIPTION_CHARS = 3_000


def title(change: StateChange) -> str:
    """'[HIGH] OPENED <check> on <cluster> (<account>/<region>): <finding title>', or what changed."""
    finding = change.finding
    text = (
        f"[{finding.severity.value}] {change.kind.value} {finding.check_id} on {finding.cluster}"
        f" ({finding.account}/{finding.region})"
    )
    if change.kind is ChangeKind.OPENED:
        # The finding's own title says what broke (and, for a spot notice, the deadline).
        text += f": {finding.title}"
    elif change.kind is ChangeKind.SEVERITY_CHANGED and change.previous_severity is not None:
        text += f": {change.previous_severity.value} -> {finding.severity.value}"
    elif change.kind is ChangeKind.RESOLVED:
        text += ": no longer failing"
    elif change.kind is ChangeKind.REOPENED:
        text += ": failing again"
    elif change.kind is ChangeKind.UNSUPPRESSED:
        text += ": suppression ended, still failing"
    elif change.kind is ChangeKind.SUPPRESSED:
        text += ": risk accepted"
    return text


def _iso(change: StateChange) -> str:
    return change.changed_at.isoformat()


def _evidence_lines(evidence: dict[str, Any]) -> list[str]:
    lines = []
    for key in list(evidence)[:_EVIDENCE_KEYS_SHOWN]:
        value = json.dumps(evidence[key], default=str, sort_keys=True)
        if len(value) > _EVIDENCE_VALUE_CHARS:
            value = value[: _EVIDENCE_VALUE_CHARS - 3] + "..."
        lines.append(f"• `{key}`: {value}")
    if len(evidence) > _EVIDENCE_KEYS_SHOWN:
        lines.append(f"• ... {len(evidence) - _EVIDENCE_KEYS_SHOWN} more in the finding")
    return lines


def _description(change: StateChange) -> str:
    finding = change.finding
    if change.kind is ChangeKind.RESOLVED:
        how = change.reason or "no longer failing"
        head = (
            f"*Resolved:* {finding.title} ({how}; evaluation `{finding.source}` at {_iso(change)}). "
            f"It was {change.previous_status.value if change.previous_status else 'OPEN'} since "
            f"{finding.first_seen.isoformat()}, last seen failing at {finding.last_seen.isoformat()}."
        )
    elif change.kind is ChangeKind.SEVERITY_CHANGED:
        before = change.previous_severity.value if change.previous_severity else "?"
        head = f"*Severity {before} -> {finding.severity.value}:* {finding.title}"
    elif change.kind is ChangeKind.REOPENED:
        head = (
            f"*Failing again:* {finding.title} (resolved before; first seen {finding.first_seen.isoformat()})"
        )
    elif change.kind is ChangeKind.UNSUPPRESSED:
        head = (
            f"*Suppression ended:* {finding.title} ({change.reason or 'no suppression covers it'}). "
            f"Still failing; first seen {finding.first_seen.isoformat()}."
        )
    elif change.kind is ChangeKind.SUPPRESSED:
        head = f"*Suppressed:* {finding.title} ({change.reason or 'an active suppression covers it'})"
    else:
        head = f"*{finding.title}*"
    text = finding.description
    if len(text) > _DESCRIPTION_CHARS:
        text = text[: _DESCRIPTION_CHARS - 3] + "..."
    lines = [head, text, f"Resource: `{finding.resource}`"]
    evidence = _evidence_lines(dict(finding.evidence))
    if evidence:
        # A resolved finding keeps the evidence of its last failing evaluation: what was wrong.
        lines += ["Was failing with:" if change.kind is ChangeKind.RESOLVED else "Evidence:", *evidence]
    lines.append(f"Finding `{finding.id}` · source `{finding.source}`")
    return "\n".join(lines)


def _next_steps(change: StateChange) -> list[str]:
    finding = change.finding
    if change.kind is ChangeKind.RESOLVED:
        return ["Nothing to do: the finding is resolved. Its history stays in the findings table."]
    steps = [line.strip() for line in finding.remediation.splitlines() if line.strip()]
    steps += list(finding.references)
    return steps


def _finding_json(change: StateChange, *, with_evidence: bool) -> str:
    data = change.finding.model_dump(mode="json")
    if not with_evidence:
        data["evidence"] = {
            "truncated": True,
            "reason": "too large for an SNS message; see the findings table",
        }
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def render(change: StateChange, *, with_evidence: bool = True) -> dict[str, Any]:
    """The message body: AWS Chatbot's custom-notification event for this change."""
    finding = change.finding
    headline = title(change)
    related = [value for value in dict.fromkeys((finding.cluster_arn, finding.resource)) if value]
    context = {
        "finding": _finding_json(change, with_evidence=with_evidence),
        "change_id": change.change_id,
        "change": change.kind.value,
        "changed_at": _iso(change),
    }
    if change.previous_status is not None:
        context["previous_status"] = change.previous_status.value
    if change.previous_severity is not None:
        context["previous_severity"] = change.previous_severity.value
    return {
        "version": "1.0",
        "source": "custom",
        "id": change.change_id,
        "content": {
            "textType": "client-markdown",
            "title": headline,
            "description": _description(change),
            "nextSteps": _next_steps(change),
            "keywords": [finding.severity.value, change.kind.value, finding.check_id, finding.cluster],
        },
        "metadata": {
            # One thread per finding: its opening, changes and resolution read as one conversation.
            "threadId": finding.id,
            "summary": headline,
            "eventType": change.kind.value,
            "relatedResources": related,
            "additionalContext": context,
        },
    }


def message_attributes(change: StateChange) -> dict[str, MessageAttributeValueTypeDef]:
    """String attributes for filter policies; SNS rejects empty values, so an empty one is left out."""
    finding = change.finding
    values = {
        "severity": finding.severity.value,
        "status": finding.status.value,
        "check_id": finding.check_id,
        "cluster": finding.cluster,
        "account": finding.account,
        "region": finding.region,
        "change": change.kind.value,
        "change_id": change.change_id,
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items() if value}


def _subject(text: str) -> str:
    ascii_only = re.sub(r"[^\x20-\x7e]", "?", text).strip()
    return ascii_only if len(ascii_only) <= _SUBJECT_LIMIT else ascii_only[: _SUBJECT_LIMIT - 3] + "..."


def _size(body: str, attributes: dict[str, MessageAttributeValueTypeDef]) -> int:
    total = len(body.encode())
    for name, value in attributes.items():
        total += len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
    return total


def encode(change: StateChange) -> str:
    """The JSON body, within SNS's size limit: evidence is dropped from the finding copy if needed."""
    attributes = message_attributes(change)
    body = json.dumps(render(change), ensure_ascii=False)
    if _size(body, attributes) <= MAX_MESSAGE_BYTES:
        return body
    body = json.dumps(render(change, with_evidence=False), ensure_ascii=False)
    if _size(body, attributes) <= MAX_MESSAGE_BYTES:
        return body
    raise ValueError(f"change {change.change_id} does not fit in an SNS message even without its evidence")


class Notifier:
    """Publishes finding state changes to one SNS topic."""

    def __init__(self, topic_arn: str, *, client: SNSClient | None = None) -> None:
        self.topic_arn = topic_arn
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client("sns", config=Config(retries={"mode": "standard"}))
        self.client: SNSClient = client

    def render(self, change: StateChange) -> dict[str, Any]:
        return render(change)

    def publish(self, change: StateChange) -> str | None:
        """Publish one change; returns the SNS message id, or None for a change that sends no alert.

        Suppressing a finding, and resolving a suppressed one, are recorded but not alerted on
        (eks_auditor.suppressions.alerts): an accepted risk stays quiet until its suppression ends.
        """
        if not alerts(change):
            return None
        response = self.client.publish(
            TopicArn=self.topic_arn,
            Message=encode(change),
            Subject=_subject(title(change)),
            MessageAttributes=message_attributes(change),
        )
        return response["MessageId"]
