"""Security Hub export (opt-in): one ASFF finding per eks-auditor finding, updated on each state change.

Security Hub facts this follows (AWS Security Hub user guide, "BatchImportFindings for finding providers"):
- at most 100 findings per BatchImportFindings call; a finding is updated when its Id exists and the new
  UpdatedAt is later, so UpdatedAt is the change time;
- after a finding exists, BatchImportFindings ignores Workflow: the workflow status of an existing finding
  changes only through BatchUpdateFindings (also at most 100 findings per call);
- Security Hub itself resets the workflow to NEW when RecordState goes ARCHIVED -> ACTIVE (a reopened
  finding), but not from SUPPRESSED: unsuppression sets NEW explicitly;
- with the account's default product ARN, the caller's account must be the finding's AwsAccountId, and
  the call goes to the product ARN's region: in organization mode a member's findings are imported through
  that member's session (`client_for(account, region)`), in the finding's region.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from eks_auditor.checks.incomplete import AUDIT_INCOMPLETE
from eks_auditor.collect.errors import describe_error
from eks_auditor.compliance.frameworks import requirement_labels
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status

if TYPE_CHECKING:
    from mypy_boto3_securityhub import SecurityHubClient

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "2018-10-08"
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
BATCH_LIMIT = 100
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 1024
RECOMMENDATION_LIMIT = 512
PRODUCT_FIELD_LIMIT = 1024
RELATED_REQUIREMENTS_LIMIT = 32  # ASFF: Compliance.RelatedRequirements holds at most 32 entries

_LABELS = {
    Severity.CRITICAL: "CRITICAL",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MEDIUM",
    Severity.LOW: "LOW",
    Severity.INFO: "INFORMATIONAL",
}

# The workflow status an existing Security Hub finding must be moved to, per change kind.
_WORKFLOW_UPDATES = {
    ChangeKind.SUPPRESSED: "SUPPRESSED",
    ChangeKind.UNSUPPRESSED: "NEW",
    ChangeKind.RESOLVED: "RESOLVED",
}


def _iso(value: datetime) -> str:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def partition_of(finding: Finding) -> str:
    """The partition from the cluster ARN (aws, aws-cn, aws-us-gov)."""
    parts = finding.cluster_arn.split(":")
    return parts[1] if len(parts) > 1 and parts[0] == "arn" and parts[1] else "aws"


def product_arn(finding: Finding) -> str:
    """The account's default product: findings a customer imports about its own resources."""
    return (
        f"arn:{partition_of(finding)}:securityhub:{finding.region}:{finding.account}"
        f":product/{finding.account}/default"
    )


def asff_id(finding: Finding) -> str:
    """Stable per finding: every change of one finding updates the same Security Hub finding."""
    return f"eks-auditor/{finding.account}/{finding.region}/{finding.id}"


def _compliance(finding: Finding) -> str:
    if finding.status is Status.RESOLVED:
        return "PASSED"
    # The check could not run: its result is unknown, which is not a failure of the control either.
    return "NOT_AVAILABLE" if finding.check_id == AUDIT_INCOMPLETE.id else "FAILED"


def _compliance_field(finding: Finding) -> dict[str, Any]:
    """Compliance.Status, and RelatedRequirements: the controls the check evidences (`cis-eks-1.7:5.4.2`)."""
    field: dict[str, Any] = {"Status": _compliance(finding)}
    related = requirement_labels(finding.check_id, finding.evidence)
    if related:
        field["RelatedRequirements"] = related[:RELATED_REQUIREMENTS_LIMIT]
    return field


def _workflow(finding: Finding) -> str:
    return {Status.OPEN: "NEW", Status.RESOLVED: "RESOLVED", Status.SUPPRESSED: "SUPPRESSED"}[finding.status]


def _description(finding: Finding) -> str:
    evidence = json.dumps(finding.evidence, sort_keys=True, separators=(",", ":"), default=str)
    text = f"{finding.description}\nResource: {finding.resource}\nEvidence: {evidence}"
    return _truncate(text, DESCRIPTION_LIMIT)


def _resources(finding: Finding) -> list[dict[str, Any]]:
    partition = partition_of(finding)
    resources: list[dict[str, Any]] = [
        {
            "Type": "AwsEksCluster",
            "Id": finding.cluster_arn,
            "Partition": partition,
            "Region": finding.region,
            "Details": {"AwsEksCluster": {"Arn": finding.cluster_arn, "Name": finding.cluster}},
        }
    ]
    if finding.resource != finding.cluster_arn:
        # The precise resource (subnet, node group, endpoint service...) beside the cluster.
        resources.append(
            {"Type": "Other", "Id": finding.resource, "Partition": partition, "Region": finding.region}
        )
    return resources


def to_asff(change: StateChange) -> dict[str, Any]:
    """The ASFF finding for the state of `change.finding` after the change."""
    finding = change.finding
    severity = {"Label": _LABELS[finding.severity], "Original": finding.severity.value}
    asff: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": asff_id(finding),
        "ProductArn": product_arn(finding),
        "GeneratorId": f"eks-auditor/{finding.check_id}",
        "AwsAccountId": finding.account,
        "Types": [FINDING_TYPE],
        "CreatedAt": _iso(finding.first_seen),
        "UpdatedAt": _iso(change.changed_at),
        "FirstObservedAt": _iso(finding.first_seen),
        "LastObservedAt": _iso(finding.last_seen),
        "Severity": severity,
        # Severity and Types of an existing finding are updated through FindingProviderFields.
        "FindingProviderFields": {"Severity": severity, "Types": [FINDING_TYPE]},
        "Title": _truncate(f"[{finding.cluster}] {finding.title}", TITLE_LIMIT),
        "Description": _description(finding),
        "Remediation": {"Recommendation": {"Text": _truncate(finding.remediation, RECOMMENDATION_LIMIT)}},
        "ProductFields": {
            key: _truncate(value, PRODUCT_FIELD_LIMIT)
            for key, value in (
                ("ProviderName", "eks-auditor"),
                ("eks-auditor/FindingId", finding.id),
                ("eks-auditor/CheckId", finding.check_id),
                ("eks-auditor/Status", finding.status.value),
                ("eks-auditor/Change", change.kind.value),
                ("eks-auditor/ChangeId", change.change_id),
                ("eks-auditor/Source", finding.source),
            )
        },
        "Resources": _resources(finding),
        "Compliance": _compliance_field(finding),
        "RecordState": "ARCHIVED" if finding.status is Status.RESOLVED else "ACTIVE",
        "Workflow": {"Status": _workflow(finding)},
    }
    if finding.references:
        asff["Remediation"]["Recommendation"]["Url"] = finding.references[0]
        asff["SourceUrl"] = finding.references[0]
    return asff


def _latest(changes: Iterable[StateChange]) -> list[StateChange]:
    """One change per finding, the latest: Security Hub ignores an update older than what it holds."""
    latest: dict[str, StateChange] = {}
    for change in changes:
        held = latest.get(change.finding.id)
        if held is None or (change.changed_at, change.change_id) > (held.changed_at, held.change_id):
            latest[change.finding.id] = change
    return sorted(latest.values(), key=lambda change: (change.changed_at, change.finding.id))


def _chunks(items: Sequence[Any], size: int = BATCH_LIMIT) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SecurityHubExporter:
    """Imports state changes into Security Hub. Never raises for Security Hub errors: it logs them.

    `client_for(account, region)` gives the Security Hub client of the finding's own account and region
    (organization mode: the member's assumed-role session); without it every call goes through `client`.
    A member whose session cannot be had (AssumeRole refused) loses its export, logged, like any error.
    """

    def __init__(
        self,
        client: SecurityHubClient | None = None,
        *,
        client_for: Callable[[str, str], SecurityHubClient] | None = None,
    ) -> None:
        if client is None and client_for is None:
            raise ValueError("a Security Hub client or client_for is needed")
        self.client = client
        self.client_for = client_for

    def _client(self, account: str, region: str) -> SecurityHubClient:
        if self.client_for is not None:
            return self.client_for(account, region)
        assert self.client is not None
        return self.client

    def export(self, changes: Sequence[StateChange]) -> int:
        """Import one ASFF finding per changed finding; return how many Security Hub accepted."""
        by_owner: dict[tuple[str, str], list[StateChange]] = {}
        for change in _latest(changes):
            by_owner.setdefault((change.finding.account, change.finding.region), []).append(change)
        return sum(
            self._export(account, region, owned) for (account, region), owned in sorted(by_owner.items())
        )

    def _export(self, account: str, region: str, latest: Sequence[StateChange]) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        imported = 0
        accepted: set[str] = set()
        for batch in _chunks(latest):
            findings = [to_asff(change) for change in batch]
            try:
                response = self._client(account, region).batch_import_findings(Findings=cast(Any, findings))
            except (ClientError, BotoCoreError) as exc:
                logger.error(
                    "Security Hub import of %d finding(s) failed: %s", len(findings), describe_error(exc)
                )
                continue
            failed = {item["Id"]: item for item in response.get("FailedFindings", [])}
            if response.get("FailedCount", 0):
                for item in failed.values():
                    logger.error(
                        "Security Hub rejected finding %s: %s %s",
                        item["Id"],
                        item.get("ErrorCode"),
                        item.get("ErrorMessage"),
                    )
            imported += response.get("SuccessCount", len(findings) - len(failed))
            accepted.update(asff["Id"] for asff in findings if asff["Id"] not in failed)
        self._update_workflows(account, region, [c for c in latest if asff_id(c.finding) in accepted])
        return imported

    def _update_workflows(self, account: str, region: str, changes: Sequence[StateChange]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        by_status: dict[str, list[dict[str, str]]] = {}
        for change in changes:
            status = _WORKFLOW_UPDATES.get(change.kind)
            if status is None or (change.kind is ChangeKind.SUPPRESSED and change.previous_status is None):
                continue  # a finding born suppressed got its workflow from the import that created it
            identifier = {"Id": asff_id(change.finding), "ProductArn": product_arn(change.finding)}
            by_status.setdefault(status, []).append(identifier)
        for status, identifiers in sorted(by_status.items()):
            for batch in _chunks(identifiers):
                try:
                    response = self._client(account, region).batch_update_findings(
                        FindingIdentifiers=cast(Any, list(batch)), Workflow={"Status": cast(Any, status)}
                    )
                except (ClientError, BotoCoreError) as exc:
                    logger.error("Security Hub workflow update to %s failed: %s", status, describe_error(exc))
                    continue
                for item in response.get("UnprocessedFindings", []):
                    logger.error(
                        "Security Hub did not set workflow %s on %s: %s %s",
                        status,
                        item["FindingIdentifier"]["Id"],
                        item.get("ErrorCode"),
                        item.get("ErrorMessage"),
                    )
