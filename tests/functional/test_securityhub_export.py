"""SecurityHubExporter against moto's Security Hub (BatchImportFindings, GetFindings).

Moto does not implement BatchUpdateFindings: a botocore before-call hook records those requests and answers
them as Security Hub would (every finding processed). FailedCount handling is tested with botocore's Stubber.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status, finding_id
from eks_auditor.securityhub import SecurityHubExporter, asff_id

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"  # moto's default account: the caller owns the findings it imports
REGION = "us-east-1"


def finding(n: int, **fields: Any) -> Finding:
    resource = f"subnet-{n:04d}"
    base: dict[str, Any] = {
        "id": finding_id(ACCOUNT, REGION, "prod-a", "ip_capacity_exhaustion_risk", resource),
        "check_id": "ip_capacity_exhaustion_risk",
        "severity": Severity.HIGH,
        "status": Status.OPEN,
        "account": ACCOUNT,
        "region": REGION,
        "cluster": "prod-a",
        "cluster_arn": f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/prod-a",
        "resource": resource,
        "title": f"Subnet {resource} is low on pod IPs",
        "description": "12 IPs free.",
        "evidence": {"free_ips": 12},
        "remediation": "Add a larger subnet.",
        "references": ("https://docs.aws.amazon.com/eks/latest/best-practices/ip-opt.html",),
        "first_seen": T0,
        "last_seen": T0,
        "source": "scan-1",
        "evaluated_at": T0,
    }
    base.update(fields)
    return Finding.model_validate(base)


def change(kind: ChangeKind, f: Finding, at: datetime, previous: Status | None = None) -> StateChange:
    return StateChange(
        change_id=f"{f.id}-{kind.value}", kind=kind, finding=f, previous_status=previous, changed_at=at
    )


class SecurityHubCalls:
    """Counts calls; records and answers BatchUpdateFindings, which moto lacks."""

    def __init__(self, client: Any) -> None:
        self.counts: dict[str, int] = {}
        self.workflow_updates: list[tuple[str, list[str]]] = []
        client.meta.events.register("before-parameter-build.securityhub.*", self._record)
        client.meta.events.register("before-call.securityhub.BatchUpdateFindings", self._answer)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.counts[model.name] = self.counts.get(model.name, 0) + 1
        if model.name == "BatchUpdateFindings":
            ids = [identifier["Id"] for identifier in params["FindingIdentifiers"]]
            self.workflow_updates.append((params["Workflow"]["Status"], ids))

    def _answer(self, **_: Any) -> Any:
        _, ids = self.workflow_updates[-1]
        processed = [{"Id": i, "ProductArn": "arn"} for i in ids]
        return SimpleNamespace(status_code=200, headers={}), {
            "ProcessedFindings": processed,
            "UnprocessedFindings": [],
        }


@pytest.fixture
def hub(aws: None) -> tuple[Any, SecurityHubCalls]:
    client = boto3.client("securityhub", region_name=REGION)
    client.enable_security_hub()
    return client, SecurityHubCalls(client)


def all_findings(client: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("get_findings").paginate():
        found.update({item["Id"]: item for item in page["Findings"]})
    return found


def test_lifecycle_open_suppress_unsuppress_resolve(hub: tuple[Any, SecurityHubCalls]) -> None:
    client, calls = hub
    exporter = SecurityHubExporter(client)
    opened = finding(1)
    assert exporter.export([change(ChangeKind.OPENED, opened, T0)]) == 1
    stored = all_findings(client)[asff_id(opened)]
    assert (stored["Compliance"], stored["RecordState"], stored["Workflow"]) == (
        {"Status": "FAILED"},
        "ACTIVE",
        {"Status": "NEW"},
    )
    assert stored["Resources"][0]["Type"] == "AwsEksCluster"
    assert stored["Severity"]["Label"] == "HIGH"
    assert calls.workflow_updates == []

    suppressed = opened.model_copy(update={"status": Status.SUPPRESSED})
    exporter.export([change(ChangeKind.SUPPRESSED, suppressed, T0 + timedelta(hours=1), Status.OPEN)])
    reopened = opened.model_copy(update={"last_seen": T0 + timedelta(days=8)})
    exporter.export([change(ChangeKind.UNSUPPRESSED, reopened, T0 + timedelta(days=8), Status.SUPPRESSED)])
    resolved = reopened.model_copy(update={"status": Status.RESOLVED, "resolved_at": T0 + timedelta(days=9)})
    assert exporter.export([change(ChangeKind.RESOLVED, resolved, T0 + timedelta(days=9), Status.OPEN)]) == 1

    stored = all_findings(client)[asff_id(opened)]
    assert (stored["Compliance"], stored["RecordState"], stored["UpdatedAt"]) == (
        {"Status": "PASSED"},
        "ARCHIVED",
        "2025-03-10T12:00:00.000Z",
    )
    assert len(all_findings(client)) == 1  # one Security Hub finding per eks-auditor finding
    assert calls.workflow_updates == [
        ("SUPPRESSED", [asff_id(opened)]),
        ("NEW", [asff_id(opened)]),
        ("RESOLVED", [asff_id(opened)]),
    ]


def test_born_suppressed_gets_its_workflow_from_the_import(hub: tuple[Any, SecurityHubCalls]) -> None:
    client, calls = hub
    f = finding(2, status=Status.SUPPRESSED)
    SecurityHubExporter(client).export([change(ChangeKind.SUPPRESSED, f, T0)])
    assert all_findings(client)[asff_id(f)]["Workflow"] == {"Status": "SUPPRESSED"}
    assert calls.workflow_updates == []


def test_batches_of_at_most_100_and_latest_change_per_finding(hub: tuple[Any, SecurityHubCalls]) -> None:
    client, calls = hub
    changes = [change(ChangeKind.OPENED, finding(n), T0) for n in range(150)]
    # An older outbox change of finding 0 in the same batch: only the latest is sent.
    changes.append(change(ChangeKind.OPENED, finding(0, severity=Severity.LOW), T0 - timedelta(hours=1)))

    assert SecurityHubExporter(client).export(changes) == 150
    assert calls.counts == {"BatchImportFindings": 2}
    stored = all_findings(client)
    assert len(stored) == 150
    assert stored[asff_id(finding(0))]["Severity"]["Label"] == "HIGH"


def test_failed_findings_are_logged_and_not_counted(caplog: pytest.LogCaptureFixture) -> None:
    client = boto3.client("securityhub", region_name=REGION)
    # One account and region, so one BatchImportFindings (findings are grouped by account and region).
    ok, bad = finding(1), finding(2)
    with Stubber(client) as stub:
        stub.add_response(
            "batch_import_findings",
            {
                "FailedCount": 1,
                "SuccessCount": 1,
                "FailedFindings": [
                    {
                        "Id": asff_id(bad),
                        "ErrorCode": "InvalidInput",
                        "ErrorMessage": "malformed finding",
                    }
                ],
            },
        )
        resolved = [
            change(ChangeKind.RESOLVED, f.model_copy(update={"status": Status.RESOLVED}), T0, Status.OPEN)
            for f in (ok, bad)
        ]
        stub.add_response(
            "batch_update_findings",
            {"ProcessedFindings": [{"Id": asff_id(ok), "ProductArn": "p"}], "UnprocessedFindings": []},
            expected_params={
                "FindingIdentifiers": [
                    {
                        "Id": asff_id(ok),
                        "ProductArn": f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default",
                    }
                ],
                "Workflow": {"Status": "RESOLVED"},
            },
        )
        with caplog.at_level(logging.ERROR, logger="eks_auditor.securityhub"):
            assert SecurityHubExporter(client).export(resolved) == 1
        stub.assert_no_pending_responses()
    # The exporter's own records (botocore may log too, at whatever level an earlier test left it).
    assert [r.getMessage() for r in caplog.records if r.name == "eks_auditor.securityhub"] == [
        f"Security Hub rejected finding {asff_id(bad)}: InvalidInput malformed finding"
    ]


def test_service_errors_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    client = boto3.client("securityhub", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error(
            "batch_import_findings", "InvalidAccessException", "Account is not subscribed to AWS Security Hub"
        )
        with caplog.at_level(logging.ERROR, logger="eks_auditor.securityhub"):
            assert SecurityHubExporter(client).export([change(ChangeKind.OPENED, finding(1), T0)]) == 0
    assert "not subscribed" in caplog.text
