"""Organization mode end to end on a small moto organization: 4 accounts x 2 regions x 2 clusters.

The scan runs its two stages as deployed: the schedule's listing messages (one per account-region), then
the workers' cluster and pipeline messages. The full 20 x 2 x 3 size runs in `make bench` (organization).

moto keeps per-account state: AssumeRole into arn:aws:iam::<member>:role/... yields credentials whose
calls see that member's EKS and EC2. moto lets AssumeRole into any role succeed, so a refusal is
injected with a botocore before-call hook; it does not enforce trust or event bus policies (those are
asserted in tests/template). ListAccounts answers [] from a member: the central auditor runs as the
management account (moto's default account).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from accounts import moto_account
from botocore.exceptions import ClientError
from eks_auditor import audit
from eks_auditor.config import Settings
from eks_auditor.entrypoints import audit_cloudtrail_event, audit_queued_batch, plan_event_batch
from eks_auditor.metrics import CountingSink
from eks_auditor.model.finding import Status
from eks_auditor.organization import CoverageStatus
from eks_auditor.runtime import Runtime
from eks_auditor.store.coverage import get_coverage
from eks_auditor.store.query import FindingQuery
from table import TABLE, create_table

REGIONS = ("us-east-1", "eu-west-1")
ROLE = "eks-auditor-audit"
EVENT = Path(__file__).parents[2] / "events" / "eks-update-cluster-config-public-cidrs.json"


def _member_session(sts: Any, account: str, region: str) -> boto3.Session:
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="fixture")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def _build_clusters(session: boto3.Session, region: str, names: tuple[str, ...]) -> None:
    ec2 = session.client("ec2", region_name=region)
    eks = session.client("eks", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate("ab")
    ]
    for name in names:
        eks.create_cluster(
            name=name,
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={
                "subnetIds": subnets,
                "endpointPublicAccess": True,
                "publicAccessCidrs": ["0.0.0.0/0"],
            },
        )


class Org:
    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        orgs = session.client("organizations", region_name="us-east-1")
        orgs.create_organization(FeatureSet="ALL")
        self.management = session.client("sts").get_caller_identity()["Account"]
        created = [
            orgs.create_account(AccountName=f"team-{n}", Email=f"team-{n}@example.com") for n in range(3)
        ]
        self.members = [c["CreateAccountStatus"]["AccountId"] for c in created]
        self.accounts = [self.management, *self.members]
        sts = session.client("sts", region_name="us-east-1")
        for index, account in enumerate(self.accounts):
            for region in REGIONS:
                member = session if account == self.management else _member_session(sts, account, region)
                # "prod" exists in every account: the same name must never collide across accounts.
                _build_clusters(member, region, ("prod", f"app-{index}"))
        self.dynamodb = session.client("dynamodb", region_name="us-east-1")
        create_table(self.dynamodb)
        sqs = session.client("sqs", region_name="us-east-1")
        self.sqs = sqs
        self.queue_url = sqs.create_queue(QueueName="audits")["QueueUrl"]

    def runtime(self, **settings: Any) -> Runtime:
        base = {
            "findings_table": TABLE,
            "audit_queue_url": self.queue_url,
            "audit_regions": REGIONS,
            "member_role_name": ROLE,
            "organization_bus_arn": f"arn:aws:events:us-east-1:{self.management}:event-bus/eks-auditor-org",
        }
        return Runtime(
            settings=Settings(**{**base, **settings}),
            metrics=CountingSink(),
            session=boto3.Session(region_name="us-east-1"),
        )

    def drain(self) -> list[tuple[str, str]]:
        messages: list[tuple[str, str]] = []
        while batch := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in batch:
                messages.append((message["MessageId"], message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def scan(self, runtime: Runtime, scan_id: str) -> dict[str, Any]:
        """Both stages, as the schedule and the worker run them: the schedule's listing messages ("*"),
        then the workers' cluster messages; returns the schedule's summary and the coverage counts."""
        summary = runtime.organization_scan(scan_id)
        listings = self.drain()
        assert {json.loads(body)["cluster"] for _, body in listings} == {"*"}
        self.work(runtime, listings)
        self.work(runtime, self.drain())
        coverage = get_coverage(self.dynamodb, TABLE, scan_id)
        assert coverage is not None
        return {**summary, "listed": coverage.counts()}

    def work(self, runtime: Runtime, messages: list[tuple[str, str]]) -> None:
        runtime.start_batch()
        outcomes = audit_queued_batch(
            messages,
            runtime.dispatcher,
            runtime.limiter,
            pipeline=runtime.pipeline_auditor,
            lister=runtime.lister,
        )
        errors = [str(o.error) for o in outcomes.values() if o.error is not None]
        assert not errors, errors

    def open_findings(self, runtime: Runtime, account: str) -> dict[str, Status]:
        found: dict[str, Status] = {}
        for region in REGIONS:
            for cluster in runtime.store.known_clusters(account, region):
                for f in cluster_findings(runtime, account, region, cluster):
                    found[f"{region}/{cluster}/{f.check_id}/{f.resource}"] = f.status
        return found


def cluster_findings(runtime: Runtime, account: str, region: str, cluster: str) -> list[Any]:
    query = FindingQuery(status=None, account=account, region=region, cluster=cluster, limit=1000)
    return runtime.store.query(query).items


@pytest.fixture(scope="module")
def org() -> Iterator[Org]:
    # moto copies the whole table on every DynamoDB transaction: two checks on the cluster part keep the
    # store writes small; organization coverage does not depend on how many checks each audit runs.
    checks = [audit.CHECKS["endpoint_public_unrestricted"], audit.CHECKS["endpoint_private_access_disabled"]]
    with moto_account("us-east-1") as session, pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "select", lambda: list(checks))
        yield Org(session)


@pytest.fixture(scope="module")
def first_scan(org: Org) -> tuple[Runtime, dict[str, Any]]:
    runtime = org.runtime()
    return runtime, org.scan(runtime, "scan-1")


def refuse_assume_role(session: boto3.Session, account: str) -> None:
    def hook(params: dict[str, Any], **_: Any) -> None:
        if f":{account}:" in params.get("RoleArn", ""):
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"}},
                "AssumeRole",
            )

    session.events.register("before-parameter-build.sts.AssumeRole", hook)


def deny_eks(runtime: Runtime, account: str) -> None:
    def hook(model: Any, **_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "explicit deny"}}, model.name
        )

    for region in REGIONS:
        runtime.account_clients.for_account(account).eks(region).meta.events.register("before-call.eks", hook)


def test_every_cluster_is_audited_and_keyed_by_account(org: Org, first_scan: tuple[Runtime, dict]) -> None:
    runtime, summary = first_scan
    # The schedule sent one listing message per account-region; the workers listed them all.
    assert summary["enqueued"] == 8
    assert summary["coverage"] == {"audited": 0, "incomplete": 0, "skipped": 0, "pending": 8}
    assert summary["listed"] == {"audited": 8, "incomplete": 0, "skipped": 0, "pending": 0}
    for index, account in enumerate(org.accounts):
        for region in REGIONS:
            assert runtime.store.known_clusters(account, region) == sorted(["prod", f"app-{index}"])
            prod = cluster_findings(runtime, account, region, "prod")
            # Each account's "prod" is its own cluster, described through its own session.
            assert prod and {f.cluster_arn for f in prod} == {f"arn:aws:eks:{region}:{account}:cluster/prod"}
    coverage = get_coverage(org.dynamodb, TABLE, "scan-1")
    assert coverage is not None
    assert {(e.account, e.region) for e in coverage.of(CoverageStatus.AUDITED)} == {
        (a, r) for a in org.accounts for r in REGIONS
    }


def test_one_assume_role_per_member_account(org: Org, first_scan: tuple[Runtime, dict]) -> None:
    runtime, _ = first_scan
    # The management account (the auditor's own) is read through its own session: no AssumeRole.
    assert dict(runtime.account_sessions.assume_role_calls) == dict.fromkeys(org.members, 1)


def test_failed_accounts_stay_incomplete_and_nothing_resolves(
    org: Org, first_scan: tuple[Runtime, dict]
) -> None:
    refused, denied = org.members[0], org.members[1]
    before = {a: org.open_findings(first_scan[0], a) for a in (refused, denied)}
    # A fresh process: its sessions are not yet assumed, so the refusal is met on the first call.
    runtime = org.runtime()
    refuse_assume_role(runtime.boto_session, refused)
    deny_eks(runtime, denied)
    summary = org.scan(runtime, "scan-2")
    assert summary["listed"] == {"audited": 4, "incomplete": 4, "skipped": 0, "pending": 0}
    coverage = get_coverage(org.dynamodb, TABLE, "scan-2")
    assert coverage is not None
    incomplete = {(e.account, e.region): e.reason for e in coverage.of(CoverageStatus.INCOMPLETE)}
    assert set(incomplete) == {(a, r) for a in (refused, denied) for r in REGIONS}
    assert "AssumeRole" in incomplete[(refused, REGIONS[0])]
    assert "AccessDenied" in incomplete[(denied, REGIONS[0])]
    assert runtime.metrics.counts["AccountRegionsIncomplete"] == 4  # type: ignore[attr-defined]
    for account in (refused, denied):
        after = org.open_findings(runtime, account)
        # Nothing resolved; the known clusters now also carry audit_incomplete.
        assert all(after[key] is Status.OPEN for key in before[account])
        assert any(key.split("/")[2] == "audit_incomplete" for key in after)
        for region in REGIONS:
            assert len(runtime.store.known_clusters(account, region)) == 2


def test_deny_and_allow_lists(org: Org, first_scan: tuple[Runtime, dict]) -> None:
    kept = org.members[2]
    # The deny-list wins over the allow-list.
    runtime = org.runtime(
        account_allow_list=frozenset({kept, org.members[0]}), account_deny_list=frozenset({org.members[0]})
    )
    summary = runtime.organization_scan("scan-3")
    messages = [json.loads(body) for _, body in org.drain()]
    assert {(m["account"], m["region"]) for m in messages} == {(kept, region) for region in REGIONS}
    assert summary["coverage"] == {"audited": 0, "incomplete": 0, "skipped": 6, "pending": 2}
    assert runtime.metrics.counts["AccountRegionsSkipped"] == 6  # type: ignore[attr-defined]


def test_the_schedule_reads_no_member_account(org: Org, first_scan: tuple[Runtime, dict]) -> None:
    # The first stage lists accounts only: no AssumeRole, no ListClusters; each listing message carries
    # the daily digest flag on to the cluster messages its worker sends.
    runtime = org.runtime()
    calls: list[str] = []
    runtime.boto_session.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    runtime.organization_scan("scan-4", digest=True)
    assert set(calls) == {"ListAccounts", "PutItem", "SendMessageBatch"}
    assert not runtime.account_sessions.assume_role_calls
    listings = org.drain()
    assert all(json.loads(body)["digest"] is True for _, body in listings)
    member = org.members[2]
    [(message_id, body)] = [m for m in listings if json.loads(m[1])["account"] == member][:1]
    runtime.start_batch()
    outcome = audit_queued_batch(
        [(message_id, body)], runtime.dispatcher, runtime.limiter, lister=runtime.lister
    )
    assert outcome[message_id].value is not None and outcome[message_id].value["coverage"] == "audited"
    sent = [json.loads(b) for _, b in org.drain()]
    assert {(m["cluster"], m.get("digest")) for m in sent} == {("prod", True), ("app-3", True), ("-", None)}
    # A listing message without organization mode on the worker fails alone (no lister).
    alone = audit_queued_batch([(message_id, body)], runtime.dispatcher, runtime.limiter)
    assert alone[message_id].error is not None


def test_member_event_reaudits_through_its_account(org: Org, first_scan: tuple[Runtime, dict]) -> None:
    member = org.members[2]
    runtime = org.runtime()
    runtime.start_batch()
    event = json.loads(EVENT.read_text())
    event["account"] = member
    event["detail"]["recipientAccountId"] = member
    event["detail"]["requestParameters"]["name"] = "prod"
    gate = runtime.organization_gate
    assert gate is not None
    summary = audit_cloudtrail_event(event, runtime.dispatcher, admit=gate.admits)
    assert [(a["region"], a["cluster"]) for a in summary["audits"]] == [("us-east-1", "prod")]
    assert runtime.account_sessions.assume_role_calls[member] == 1
    outsider = {**event, "account": "999999999999"}
    assert audit_cloudtrail_event(outsider, runtime.dispatcher, admit=gate.admits)["skipped"] == "account"
    assert runtime.metrics.counts["EventsRejectedAccount"] == 1  # type: ignore[attr-defined]
    # The event_audit handler's path: the batch is planned with the same gate.
    records = [
        {"messageId": "m1", "body": json.dumps(event)},
        {"messageId": "m2", "body": json.dumps({**outsider, "id": "outsider-event"})},
    ]
    batch = plan_event_batch(records, runtime.dispatcher, admit=gate.admits)
    assert batch.audit(batch.event("m2"))["skipped"] == "account"
    assert [(a["region"], a["cluster"]) for a in batch.audit(batch.event("m1"))["audits"]] == [
        ("us-east-1", "prod")
    ]


def test_cli_scan_organization_rows_carry_the_account(org: Org, capsys: pytest.CaptureFixture[str]) -> None:
    from eks_auditor_tools.cli.main import main

    excluded = org.members[0]
    regions = [arg for region in REGIONS for arg in ("--region", region)]
    options = ["--check", "endpoint_public_unrestricted", "--output", "json"]
    main(["scan", "--organization", "--role-name", ROLE, "--exclude-account", excluded, *regions, *options])
    rows = json.loads(capsys.readouterr().out)
    clusters = {(row["account"], row["region"], row["cluster"]) for row in rows}
    audited = [a for a in org.accounts if a != excluded]
    assert clusters == {
        (account, region, name)
        for account in audited
        for region in REGIONS
        for name in ("prod", f"app-{org.accounts.index(account)}")
    }


def test_the_scan_audits_every_member_account_region_pipeline(
    org: Org, first_scan: tuple[Runtime, dict]
) -> None:
    # Each listing sent its account-region's pipeline audit ("-"), run through the member's own session.
    runtime, _ = first_scan
    for account in org.accounts:
        for region in REGIONS:
            found = {f.check_id: f for f in cluster_findings(runtime, account, region, "-")}
            # No trail anywhere in this organization (and none of the organization's): a miss everywhere.
            assert found["pipeline_trail_missing"].status is Status.OPEN, (account, region)
            # The queue checks are the central account's only (here it has no queues configured: N/A).
            assert "pipeline_backlog" not in found, (account, region)
            if account != org.management:
                # A member's rules are its forwarding rules: none was deployed here, in any region.
                assert found["pipeline_rule_broken"].status is Status.OPEN, (account, region)
    # The organization's trails were read from the management account, once per region.
    assert runtime.organization_trails.reads == len(REGIONS)


def test_security_hub_export_goes_through_the_finding_s_own_account(
    org: Org, first_scan: tuple[Runtime, dict], caplog: pytest.LogCaptureFixture
) -> None:
    # BatchImportFindings must come from the finding's own account (AWS refuses another AwsAccountId with the
    # default product ARN; moto does not check it, but keeps each account's and region's findings apart, so
    # reading the member's own Security Hub shows whose session imported them).
    from eks_auditor.model.finding import ChangeKind, StateChange

    member, refused = org.members[1], org.members[0]
    region = "eu-west-1"
    sts = org.session.client("sts", region_name="us-east-1")
    member_hub = _member_session(sts, member, region).client("securityhub", region_name=region)
    central_hub = org.session.client("securityhub", region_name=region)
    for hub in (member_hub, central_hub):
        hub.enable_security_hub()
    runtime = org.runtime(security_hub_enabled=True)
    refuse_assume_role(runtime.boto_session, refused)
    exporter = runtime.security_hub
    assert exporter is not None
    findings = [
        *cluster_findings(first_scan[0], member, region, "prod"),
        *cluster_findings(first_scan[0], refused, region, "prod"),
    ]
    changes = [
        StateChange(change_id=f"c-{f.id}", kind=ChangeKind.OPENED, finding=f, changed_at=f.last_seen)
        for f in findings
        if f.cluster != "-"
    ]
    mine = [c for c in changes if c.finding.account == member]
    assert mine and len(mine) < len(changes)
    # The refused member's export fails alone (logged); the other member's goes through its own session.
    assert exporter.export(changes) == len(mine)
    imported = member_hub.get_findings()["Findings"]
    assert {f["AwsAccountId"] for f in imported} == {member}
    assert {f["ProductArn"] for f in imported} == {
        f"arn:aws:securityhub:{region}:{member}:product/{member}/default"
    }
    assert len(imported) == len(mine)
    assert central_hub.get_findings()["Findings"] == []
    assert any(
        "Security Hub import" in r.getMessage() and "AssumeRole" in r.getMessage() for r in caplog.records
    )


def test_the_report_groups_findings_under_the_accounts_organizations_names(
    org: Org, first_scan: tuple[Runtime, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    from eks_auditor_tools.cli.main import main

    assert main(["report", "--html", "-", "--table", TABLE]) == 0
    page = capsys.readouterr().out
    table = page.split('id="open-findings"', 1)[1].split("</table>", 1)[0]
    headings = re.findall(r'<tr class="group"><th colspan="\d+">Account ([^<]+) <span', table)
    names = {a["Id"]: a["Name"] for a in org.session.client("organizations").list_accounts()["Accounts"]}
    assert sorted(headings) == sorted(f"{names[a]} ({a})" for a in org.accounts)
    assert {f"team-{n} ({org.members[n]})" for n in range(3)} <= set(headings)


def test_a_member_auto_scaling_event_resolves_through_the_member_s_clients(
    org: Org, first_scan: tuple[Runtime, dict]
) -> None:
    # The group lives in the member account only: read with the central account's client it would not be
    # found and the event would widen to every cluster of the region.
    member = org.members[1]
    sts = org.session.client("sts", region_name="us-east-1")
    autoscaling = _member_session(sts, member, "us-east-1").client("autoscaling", region_name="us-east-1")
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="workers", ImageId="ami-12c6146b", InstanceType="m5.large"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="member-workers",
        LaunchConfigurationName="workers",
        MinSize=0,
        MaxSize=2,
        AvailabilityZones=["us-east-1a"],
        Tags=[{"Key": "eks:cluster-name", "Value": "app-2", "PropagateAtLaunch": True}],
    )
    runtime = org.runtime()
    runtime.start_batch()
    event = json.loads((EVENT.parent / "autoscaling-update-auto-scaling-group.json").read_text())
    event["account"] = member
    event["detail"]["recipientAccountId"] = member
    event["detail"]["requestParameters"]["autoScalingGroupName"] = "member-workers"
    summary = audit_cloudtrail_event(event, runtime.dispatcher)
    assert [(a["region"], a["cluster"]) for a in summary["audits"]] == [("us-east-1", "app-2")]
