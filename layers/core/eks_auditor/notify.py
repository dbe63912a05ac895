"""SNS notifier: one message per finding state change, in AWS Chatbot's custom-notification schema.

The body is what a Chatbot-subscribed Slack or Teams channel renders ("version" 1.0, "source" custom,
"content" for people, "metadata" for threading and machines); the finding itself rides along as JSON in
metadata.additionalContext.finding (the schema wants string values there). Message attributes (at most
MAX_ATTRIBUTES) carry severity, status, check_id, cluster, account, region, change, change_id, delivery and
controls for subscription filter policies; SLACK_FILTER_POLICY is the one the template puts on Chatbot's.

`controls` (String.Array) names the compliance controls the finding's check evidences,
`["cis-eks-1.7:5.4.2","fsbp:EKS.1"]`; absent for a check that evidences none.

First-run baseline: the changes the store marks `baseline` (the first evaluation of a check on a cluster)
still go out, with `delivery=baseline`, and one digest per cluster (`change=DIGEST`) sums them up for Slack.
Daily digest: with it on, MEDIUM and lower changes carry `delivery=daily` and a daily digest per cluster
lists the open ones; event-born findings (spot notices) stay immediate, their deadline is minutes away.
`delivery` was two attributes (`baseline` true/false, `delivery` daily/immediate) until `controls` needed the
tenth slot: Slack's policy asked for baseline=false AND delivery=immediate, now just delivery=immediate.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eks_auditor.compliance.frameworks import requirement_labels
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status
from eks_auditor.remediation import fill
from eks_auditor.suppressions import alerts

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

# SNS caps a message (body plus attributes) at 256 KiB.
MAX_MESSAGE_BYTES = 262_144
# SQS subscriptions with raw message delivery drop a message with more than 10 attributes.
MAX_ATTRIBUTES = 10
# AWS Chatbot custom notifications: a title Slack shows on one or two lines, a bounded description,
# short steps.
TITLE_CHARS = 150
DESCRIPTION_CHARS = 8_000
STEP_CHARS = 200
DIGEST = "DIGEST"  # the `change` attribute of a digest message
DIGEST_SHOWN = 25  # findings listed in one digest; the rest are counted
# What a Slack channel (through Chatbot) gets: no baseline openings, no changes deferred to the daily digest.
SLACK_FILTER_POLICY: dict[str, list[str]] = {"delivery": ["immediate"]}
# `delivery` values: sent at once, held for the daily digest, or a first-run baseline opening.
IMMEDIATE, DAILY, BASELINE = "immediate", "daily", "baseline"
_SUBJECT_LIMIT = 100  # SNS: at most 100 ASCII characters, no line breaks
_EVIDENCE_KEYS_SHOWN = 10
_EVIDENCE_VALUE_CHARS = 200
_DESCRIPTION_CHARS = 3_000


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# An account name (Organizations allows 50 characters) is cut to this in a title: the title keeps room for
# what happened.
ACCOUNT_NAME_CHARS = 32


def _where(cluster: str, account_name: str | None) -> str:
    """'<cluster>', or '<cluster> (<account name>)' in organization mode."""
    return f"{cluster} ({_shorten(account_name, ACCOUNT_NAME_CHARS)})" if account_name else cluster


def _headline(change: StateChange, account_name: str | None = None) -> str:
    """'[HIGH] OPENED <check> on <cluster> (<account name>)', without the finding's own title."""
    finding = change.finding
    where = _where(finding.cluster, account_name)
    return f"[{finding.severity.value}] {change.kind.value} {finding.check_id} on {where}"


def _what(change: StateChange) -> str:
    finding = change.finding
    if change.kind is ChangeKind.OPENED:
        # The finding's own title says what broke (and, for a spot notice, the deadline).
        return finding.title
    if change.kind is ChangeKind.SEVERITY_CHANGED and change.previous_severity is not None:
        return f"{change.previous_severity.value} -> {finding.severity.value}"
    return {
        ChangeKind.RESOLVED: "no longer failing",
        ChangeKind.REOPENED: "failing again",
        ChangeKind.UNSUPPRESSED: "suppression ended, still failing",
        ChangeKind.SUPPRESSED: "risk accepted",
    }.get(change.kind, "")


def title(change: StateChange, account_name: str | None = None) -> str:
    """'[HIGH] OPENED <check> on <cluster> (<account name>): <finding title>', within TITLE_CHARS (the rest
    is cut). The account name is the finding's account's Organizations name (organization mode)."""
    what = _what(change)
    headline = _headline(change, account_name)
    return _shorten(f"{headline}: {what}" if what else headline, TITLE_CHARS)


def _iso(change: StateChange) -> str:
    return change.changed_at.isoformat()


def _evidence_lines(evidence: Mapping[str, Any]) -> list[str]:
    lines = []
    for key in list(evidence)[:_EVIDENCE_KEYS_SHOWN]:
        value = json.dumps(evidence[key], default=str, sort_keys=True)
        if len(value) > _EVIDENCE_VALUE_CHARS:
            value = value[: _EVIDENCE_VALUE_CHARS - 3] + "..."
        lines.append(f"• `{key}`: {value}")
    if len(evidence) > _EVIDENCE_KEYS_SHOWN:
        lines.append(f"• ... {len(evidence) - _EVIDENCE_KEYS_SHOWN} more in the finding")
    return lines


def _description(change: StateChange, account_name: str | None = None) -> str:
    finding = change.finding
    lines: list[str] = []
    headline = _headline(change, account_name)
    if _what(change) == finding.title and title(change, account_name) != f"{headline}: {finding.title}":
        # The title was cut: the whole finding title, said once.
        lines.append(f"*{finding.title}*")
    if change.kind is ChangeKind.RESOLVED:
        how = change.reason or "no longer failing"
        lines.append(
            f"*Resolved* ({how}; evaluation `{finding.source}` at {_iso(change)}): {finding.title}. "
            f"It was {change.previous_status.value if change.previous_status else 'OPEN'} since "
            f"{finding.first_seen.isoformat()}, last seen failing at {finding.last_seen.isoformat()}."
        )
    elif change.kind in (ChangeKind.SEVERITY_CHANGED, ChangeKind.REOPENED):
        lines.append(f"{finding.title} (first seen {finding.first_seen.isoformat()})")
    elif change.kind is ChangeKind.UNSUPPRESSED:
        lines.append(
            f"{finding.title} ({change.reason or 'no suppression covers it'}); "
            f"first seen {finding.first_seen.isoformat()}."
        )
    elif change.kind is ChangeKind.SUPPRESSED:
        lines.append(f"{finding.title} ({change.reason or 'an active suppression covers it'})")
    lines.append(_shorten(finding.description, _DESCRIPTION_CHARS))
    account = f"{account_name} ({finding.account})" if account_name else finding.account
    lines.append(f"Resource: `{finding.resource}` · account {account} · region {finding.region}")
    evidence = _evidence_lines(finding.evidence)
    if evidence:
        # A resolved finding keeps the evidence of its last failing evaluation: what was wrong.
        lines += ["Was failing with:" if change.kind is ChangeKind.RESOLVED else "Evidence:", *evidence]
    lines.append(f"Finding `{finding.id}` · source `{finding.source}`")
    return _shorten("\n".join(lines), DESCRIPTION_CHARS)


def _next_steps(change: StateChange) -> list[str]:
    finding = change.finding
    if change.kind is ChangeKind.RESOLVED:
        return ["Nothing to do: the finding is resolved. Its history stays in the findings table."]
    return steps(finding)


# --- remediation with the finding's own values (eks_auditor.remediation.fill) ----------------------

# A sentence ends at ". " before a capital letter (not inside com.amazonaws.region.service).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
_CLAUSE_BREAKS = ("; ", " (or ", ", then ", ": ")
# A remediation numbered inline ("1. Add ... 2. Enable ..."): each item starts a line, renumbered.
_ENUMERATION = re.compile(r"(?:^|(?<=\s))\d{1,2}[.)]\s+(?=[A-Z(])", re.MULTILINE)


def _split_long(sentence: str) -> list[str]:
    if len(sentence) <= STEP_CHARS:
        return [sentence]
    for separator in _CLAUSE_BREAKS:
        head, found, tail = sentence.partition(separator)
        if found and head and len(head) <= STEP_CHARS:
            keep = separator.strip() if separator.strip() in (";", ":") else ""
            rest = (separator.strip().lstrip(",").strip() + " " + tail) if not keep else tail
            return [head + keep, *_split_long(rest.strip())]
    # No clause boundary short enough: cut at a space, the rest continues on the next line.
    cut = sentence.rfind(" ", 0, STEP_CHARS - 2)
    cut = cut if cut > 0 else STEP_CHARS - 2
    return [sentence[:cut] + " …", *_split_long("… " + sentence[cut:].strip())]


def steps(finding: Finding) -> list[str]:
    """The remediation as short numbered lines (each at most STEP_CHARS), then the documentation links."""
    text = _ENUMERATION.sub("\n", fill(finding, variables=True))
    lines: list[str] = []
    if "$VPC_ID" in text:
        lines.append(
            f"VPC_ID=$(aws eks describe-cluster --name {finding.cluster} --region {finding.region} "
            "--query cluster.resourcesVpcConfig.vpcId --output text)"
        )
    for paragraph in text.splitlines():
        for sentence in _SENTENCE_END.split(paragraph.strip()):
            if sentence.strip():
                lines.extend(_split_long(sentence.strip()))
    numbered = [_shorten(f"{number}. {line}", STEP_CHARS) for number, line in enumerate(lines, start=1)]
    return numbered + [_shorten(f"Docs: {url}", STEP_CHARS) for url in finding.references]


def _finding_json(change: StateChange, *, with_evidence: bool) -> str:
    data = change.finding.model_dump(mode="json")
    if not with_evidence:
        data["evidence"] = {
            "truncated": True,
            "reason": "too large for an SNS message; see the findings table",
        }
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def render(
    change: StateChange, *, with_evidence: bool = True, account_name: str | None = None
) -> dict[str, Any]:
    """The message body: AWS Chatbot's custom-notification event for this change."""
    finding = change.finding
    headline = title(change, account_name)
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
            "description": _description(change, account_name),
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


def deferred(finding: Finding, *, daily_digest: bool) -> bool:
    """Whether the finding's changes wait for the daily digest: MEDIUM and lower, not event-born."""
    return daily_digest and finding.severity.rank <= Severity.MEDIUM.rank and finding.expires_at is None


def delivery(change: StateChange, *, baseline: bool = True, daily_digest: bool = False) -> str:
    """How the change reaches people: a baseline opening (summed up by the digest), daily, or at once."""
    if baseline and change.baseline:
        return BASELINE
    return DAILY if deferred(change.finding, daily_digest=daily_digest) else IMMEDIATE


def message_attributes(
    change: StateChange, *, baseline: bool = True, daily_digest: bool = False
) -> dict[str, MessageAttributeValueTypeDef]:
    """Attributes for filter policies; SNS rejects empty values, so an empty one is left out."""
    finding = change.finding
    values: dict[str, str | list[str]] = {
        "severity": finding.severity.value,
        "status": finding.status.value,
        "check_id": finding.check_id,
        "cluster": finding.cluster,
        "account": finding.account,
        "region": finding.region,
        "change": change.kind.value,
        "change_id": change.change_id,
        "delivery": delivery(change, baseline=baseline, daily_digest=daily_digest),
        "controls": requirement_labels(finding.check_id, finding.evidence),
    }
    return _attributes(values)


def _attributes(values: Mapping[str, str | list[str]]) -> dict[str, MessageAttributeValueTypeDef]:
    """String values as String, lists as String.Array (a JSON array, which filter policies match per
    element)."""
    attributes: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in values.items():
        if not value:
            continue
        if isinstance(value, str):
            attributes[name] = {"DataType": "String", "StringValue": value}
        else:
            attributes[name] = {"DataType": "String.Array", "StringValue": json.dumps(value)}
    assert len(attributes) <= MAX_ATTRIBUTES, sorted(attributes)
    return attributes


def _subject(text: str) -> str:
    ascii_only = re.sub(r"[^\x20-\x7e]", "?", text).strip()
    return ascii_only if len(ascii_only) <= _SUBJECT_LIMIT else ascii_only[: _SUBJECT_LIMIT - 3] + "..."


def _size(body: str, attributes: Mapping[str, MessageAttributeValueTypeDef]) -> int:
    total = len(body.encode())
    for name, value in attributes.items():
        total += len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
    return total


def encode(change: StateChange, account_name: str | None = None) -> str:
    """The JSON body, within SNS's size limit: evidence is dropped from the finding copy if needed."""
    attributes = message_attributes(change)
    body = json.dumps(render(change, account_name=account_name), ensure_ascii=False)
    if _size(body, attributes) <= MAX_MESSAGE_BYTES:
        return body
    body = json.dumps(render(change, with_evidence=False, account_name=account_name), ensure_ascii=False)
    if _size(body, attributes) <= MAX_MESSAGE_BYTES:
        return body
    raise ValueError(f"change {change.change_id} does not fit in an SNS message even without its evidence")


# --- digests -----------------------------------------------------------------------------------


class Digest:
    """One message summing up a cluster's findings: the first-run baseline, or the daily MEDIUM-and-lower."""

    def __init__(self, kind: str, findings: Sequence[Finding], *, at: datetime) -> None:
        if not findings:
            raise ValueError("a digest needs findings")
        first = findings[0]
        self.kind = kind  # "baseline" or "daily"
        self.account, self.region, self.cluster = first.account, first.region, first.cluster
        self.cluster_arn = first.cluster_arn
        self.at = at
        self.findings = sorted(findings, key=lambda f: (-f.severity.rank, f.check_id, f.resource))
        # The account's Organizations name (organization mode; the notifier sets it before rendering).
        self.account_name: str | None = None
        key = "\x1f".join((kind, self.account, self.region, self.cluster, at.isoformat()))
        # Deterministic: a retried publish names the same digest, so subscribers can drop the repeat.
        self.id = hashlib.sha256(key.encode()).hexdigest()[:32]

    @property
    def worst(self) -> Severity:
        return self.findings[0].severity

    def counts(self) -> str:
        by_severity: dict[str, int] = {}
        for finding in self.findings:
            by_severity[finding.severity.value] = by_severity.get(finding.severity.value, 0) + 1
        return ", ".join(f"{count} {severity}" for severity, count in by_severity.items())

    def title(self) -> str:
        what = "first scan found" if self.kind == "baseline" else "daily digest:"
        count = len(self.findings)
        where = _where(self.cluster, self.account_name)
        text = f"[{self.worst.value}] {where} {what} {count} open finding(s) ({self.counts()})"
        return _shorten(text, TITLE_CHARS)

    def description(self) -> str:
        if self.kind == "baseline":
            head = (
                f"The first audit of `{self.cluster}` (account {self.account}, region {self.region}) at "
                f"{self.at.isoformat()}: what was already there, sent to this channel once as this summary. "
                "Each finding went to the other subscribers as its own message (delivery=baseline); "
                "from now on only changes alert."
            )
        else:
            head = (
                f"Open MEDIUM, LOW and INFO findings of `{self.cluster}` (account {self.account}, region "
                f"{self.region}) on {self.at.date().isoformat()}; they do not alert one by one."
            )
        lines = [head]
        for finding in self.findings[:DIGEST_SHOWN]:
            lines.append(f"• *{finding.severity.value}* `{finding.check_id}` {_shorten(finding.title, 120)}")
        if len(self.findings) > DIGEST_SHOWN:
            lines.append(f"• ... {len(self.findings) - DIGEST_SHOWN} more in the findings table")
        return _shorten("\n".join(lines), DESCRIPTION_CHARS)

    def next_steps(self) -> list[str]:
        return [
            f"1. List them: eks-auditor findings --cluster {self.cluster} --region {self.region}",
            "2. Fix, or accept a risk with an expiry: eks-auditor suppress add ...",
        ]

    def render(self) -> dict[str, Any]:
        headline = self.title()
        return {
            "version": "1.0",
            "source": "custom",
            "id": self.id,
            "content": {
                "textType": "client-markdown",
                "title": headline,
                "description": self.description(),
                "nextSteps": self.next_steps(),
                "keywords": [self.worst.value, DIGEST, self.cluster],
            },
            "metadata": {
                "threadId": f"digest-{self.kind}-{self.account}-{self.region}-{self.cluster}",
                "summary": headline,
                "eventType": DIGEST,
                "relatedResources": [self.cluster_arn] if self.cluster_arn else [],
                "additionalContext": {
                    "digest": self.kind,
                    "change": DIGEST,
                    "change_id": self.id,
                    "changed_at": self.at.isoformat(),
                    "finding_ids": json.dumps([finding.id for finding in self.findings]),
                },
            },
        }

    def attributes(self) -> dict[str, MessageAttributeValueTypeDef]:
        return _attributes(
            {
                "severity": self.worst.value,
                "status": Status.OPEN.value,
                # Present on every message, so that consumers keyed on it need no special case.
                "check_id": DIGEST,
                "cluster": self.cluster,
                "account": self.account,
                "region": self.region,
                "change": DIGEST,
                "change_id": self.id,
                "delivery": IMMEDIATE,
            }
        )


def baseline_digests(changes: Iterable[StateChange]) -> list[Digest]:
    """One digest per cluster of the baseline openings among `changes`."""
    by_cluster: dict[tuple[str, str, str], list[StateChange]] = {}
    for change in changes:
        if change.baseline and change.kind is ChangeKind.OPENED:
            finding = change.finding
            by_cluster.setdefault((finding.account, finding.region, finding.cluster), []).append(change)
    return [
        Digest("baseline", [c.finding for c in group], at=max(c.changed_at for c in group))
        for group in by_cluster.values()
    ]


def daily_digest(findings: Iterable[Finding], *, at: datetime) -> Digest | None:
    """The daily digest of one cluster: its OPEN findings that wait for it (see `deferred`), not those held
    below the audit_incomplete alert threshold (store.lifecycle.IncompleteAlerts)."""
    waiting = [
        f for f in findings if f.status is Status.OPEN and not f.held and deferred(f, daily_digest=True)
    ]
    return Digest("daily", waiting, at=at) if waiting else None


class Notifier:
    """Publishes finding state changes (and digests) to one SNS topic.

    `baseline` off: first-run openings alert like any other (no baseline attribute, no digest);
    `daily_digest` on: MEDIUM and lower wait for the daily digest (attribute delivery=daily).
    """

    def __init__(
        self,
        topic_arn: str,
        *,
        client: SNSClient | None = None,
        baseline: bool = True,
        daily_digest: bool = False,
        account_name: Callable[[str], str | None] | None = None,
    ) -> None:
        """`account_name(account)` names the finding's account in titles (organization mode)."""
        self.topic_arn = topic_arn
        self.account_name = account_name
        self.baseline = baseline
        self.daily_digest = daily_digest
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client("sns", config=Config(retries={"mode": "standard"}))
        self.client: SNSClient = client

    def _name(self, account: str) -> str | None:
        return self.account_name(account) if self.account_name is not None else None

    def render(self, change: StateChange) -> dict[str, Any]:
        return render(change, account_name=self._name(change.finding.account))

    def attributes(self, change: StateChange) -> dict[str, MessageAttributeValueTypeDef]:
        return message_attributes(change, baseline=self.baseline, daily_digest=self.daily_digest)

    def publish(self, change: StateChange) -> str | None:
        """Publish one change; returns the SNS message id, or None for a change that sends no alert.

        Suppressing a finding, and resolving a suppressed one, are recorded but not alerted on
        (eks_auditor.suppressions.alerts): an accepted risk stays quiet until its suppression ends.
        """
        if not alerts(change):
            return None
        name = self._name(change.finding.account)
        response = self.client.publish(
            TopicArn=self.topic_arn,
            Message=encode(change, name),
            Subject=_subject(title(change, name)),
            MessageAttributes=self.attributes(change),
        )
        return response["MessageId"]

    def publish_digests(self, changes: Sequence[StateChange]) -> list[str]:
        """After the changes themselves: one baseline digest per cluster that had baseline openings."""
        if not self.baseline:
            return []
        return [self.publish_digest(digest) for digest in baseline_digests(changes)]

    def publish_digest(self, digest: Digest) -> str:
        digest.account_name = self._name(digest.account)
        response = self.client.publish(
            TopicArn=self.topic_arn,
            Message=json.dumps(digest.render(), ensure_ascii=False),
            Subject=_subject(digest.title()),
            MessageAttributes=digest.attributes(),
        )
        return response["MessageId"]
