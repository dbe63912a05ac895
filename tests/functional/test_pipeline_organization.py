"""The pipeline_* checks in organization mode, under moto: each member account-region read through the
member's own session (its trails, its forwarding rules as member/event-forwarding.yaml declares them), the
organization's trails read once from the management account that owns them, queues central only.

moto does not show an organization trail to the member accounts (AWS does, as a shadow trail): the
collector never relies on that, it reads organization trails from their owner. moto does not enforce the
forwarding role or the bus policy either (tests/template asserts those).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from accounts import moto_account
from botocore.exceptions import ClientError
from eks_auditor.collect.pipeline import (
    OrganizationTrails,
    PipelineCollector,
    PipelineSettings,
    expected_pipeline,
)
from eks_auditor.model.check import Result
from eks_auditor.pipeline_audit import evaluate_region, select_region_checks

HOME = "us-east-1"
REGIONS = ("us-east-1", "eu-west-1")
ROLE = "eks-auditor-audit"
NOW = datetime(2026, 11, 28, tzinfo=UTC)


class Org:
    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        orgs = session.client("organizations", region_name=HOME)
        orgs.create_organization(FeatureSet="ALL")
        self.management = session.client("sts").get_caller_identity()["Account"]
        self.members = [
            orgs.create_account(AccountName=f"team-{n}", Email=f"team-{n}@example.com")[
                "CreateAccountStatus"
            ]["AccountId"]
            for n in range(2)
        ]
        self.bus = session.client("events", region_name=HOME).create_event_bus(Name="eks-auditor-org")[
            "EventBusArn"
        ]
        sts = session.client("sts", region_name=HOME)
        self.sessions: dict[str, boto3.Session] = {}
        for account in self.members:
            creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="fixture")[
                "Credentials"
            ]
            self.sessions[account] = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=HOME,
            )

    def client_of(self, account: str) -> Any:
        session = self.session if account == self.management else self.sessions[account]
        return lambda service, region=None: session.client(service, region_name=region or HOME)

    def deploy_forwarding(self, account: str, region: str) -> dict[str, str]:
        """member/event-forwarding.yaml as a StackSet instance creates it (CloudFormation's rule names)."""
        events = self.client_of(account)("events", region)
        names: dict[str, str] = {}
        for rule in expected_pipeline().member_rules:
            if rule.us_east_1_only and region != "us-east-1":
                continue
            name = f"StackSet-eks-fwd-1a2b-{rule.logical_id}-X{len(names)}"
            events.put_rule(Name=name, EventPattern=json.dumps(rule.pattern), State="ENABLED")
            events.put_targets(
                Rule=name,
                Targets=[
                    {"Id": "central-bus", "Arn": self.bus, "RoleArn": f"arn:aws:iam::{account}:role/fwd"}
                ],
            )
            names[rule.logical_id] = name
        return names

    def trail(self, account: str, name: str, **kwargs: Any) -> str:
        client = self.client_of(account)
        client("s3").create_bucket(Bucket=f"trail-{account}-{name}")
        cloudtrail = client("cloudtrail")
        arn = cloudtrail.create_trail(Name=name, S3BucketName=f"trail-{account}-{name}", **kwargs)["TrailARN"]
        cloudtrail.start_logging(Name=name)
        return str(arn)

    def collector(self, account: str, trails: OrganizationTrails | None = None) -> PipelineCollector:
        member = account != self.management
        return PipelineCollector(
            self.client_of(account),
            PipelineSettings(home_region=HOME, organization_bus_arn=self.bus),
            member=member,
            organization_trails=trails or OrganizationTrails(lambda: self.client_of(self.management)),
        )


def outcomes(collector: PipelineCollector, account: str, region: str, check_id: str) -> list[Any]:
    checks = [c for c in select_region_checks(central=not collector.member) if c.spec.id == check_id]
    assert checks, f"{check_id} is not run for {account}"
    parts = frozenset(part for c in checks for part in c.spec.requires)
    snapshot = collector.collect(account, region, parts, now=NOW)
    return evaluate_region(snapshot, checks)


@pytest.fixture
def org() -> Iterator[Org]:
    with moto_account(HOME) as session:
        yield Org(session)


def test_an_organization_trail_read_once_from_its_owner_covers_every_member(org: Org) -> None:
    arn = org.trail(org.management, "org-trail", IsMultiRegionTrail=True, IsOrganizationTrail=True)
    # moto shows the organization trail to no member (AWS would, as a shadow trail): read from its owner.
    assert org.client_of(org.members[0])("cloudtrail").describe_trails()["trailList"] == []
    shared = OrganizationTrails(lambda: org.client_of(org.management))
    for account in org.members:
        for region in REGIONS:
            [outcome] = outcomes(org.collector(account, shared), account, region, "pipeline_trail_missing")
            assert outcome.result is Result.PASS, outcome
            assert outcome.evidence["covered_by"] == arn
    assert shared.reads == len(REGIONS)  # once per region for every member


def test_a_member_without_any_trail_fails_and_its_own_trail_passes(org: Org) -> None:
    bare, covered = org.members
    org.trail(covered, "own", IsMultiRegionTrail=True)
    # The management account's own (non-organization) trail covers no member.
    org.trail(org.management, "central-only", IsMultiRegionTrail=True)
    [failing] = outcomes(org.collector(bare), bare, "eu-west-1", "pipeline_trail_missing")
    assert failing.result is Result.FAIL
    assert failing.resource == "region/eu-west-1"
    [passing] = outcomes(org.collector(covered), covered, "eu-west-1", "pipeline_trail_missing")
    assert passing.result is Result.PASS
    assert passing.evidence["covered_by"] == f"arn:aws:cloudtrail:us-east-1:{covered}:trail/own"


def test_unreadable_organization_trails_are_never_a_pass_nor_a_miss(org: Org) -> None:
    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeTrails")

    owner = org.session.client("cloudtrail", region_name=HOME)
    owner.meta.events.register("before-call.cloudtrail.DescribeTrails", refuse)
    broken = OrganizationTrails(lambda: lambda service, region=None: owner)
    member = org.members[0]
    [outcome] = outcomes(org.collector(member, broken), member, HOME, "pipeline_trail_missing")
    assert outcome.result is Result.ERROR
    assert "AccessDenied" in outcome.reason


def test_member_forwarding_rules_pass_as_generated_and_fail_when_altered(org: Org) -> None:
    member = org.members[0]
    names = {region: org.deploy_forwarding(member, region) for region in REGIONS}
    for region in REGIONS:
        results = outcomes(org.collector(member), member, region, "pipeline_rule_broken")
        # Every rule of member/event-forwarding.yaml; the IAM rule only in us-east-1.
        assert len(results) == (6 if region == "us-east-1" else 5)
        assert {o.result for o in results} == {Result.PASS}, [o.evidence for o in results]
    events = org.client_of(member)("events", "eu-west-1")
    events.disable_rule(Name=names["eu-west-1"]["EksApiCallsRule"])
    events.remove_targets(Rule=names["eu-west-1"]["SpotRule"], Ids=["central-bus"])
    events.put_targets(
        Rule=names["eu-west-1"]["SpotRule"], Targets=[{"Id": "central-bus", "Arn": org.bus}]
    )  # its role dropped
    events.remove_targets(Rule=names["eu-west-1"]["Ec2ApiCallsRule"], Ids=["central-bus"])
    events.delete_rule(Name=names["eu-west-1"]["Ec2ApiCallsRule"])
    failing = {
        o.evidence["rule"]: o.evidence["problems"]
        for o in outcomes(org.collector(member), member, "eu-west-1", "pipeline_rule_broken")
        if o.result is Result.FAIL
    }
    assert failing == {
        "EksApiCallsRule": ["state is DISABLED"],
        "SpotRule": ["target central-bus has no role"],
        "Ec2ApiCallsRule": ["rule is missing"],
    }
    # The other member was never given its forwarding stack: every rule is missing.
    other = org.members[1]
    results = outcomes(org.collector(other), other, HOME, "pipeline_rule_broken")
    assert {o.result for o in results} == {Result.FAIL}


def test_queue_checks_run_for_the_central_account_only(org: Org) -> None:
    member_checks = {c.spec.id for c in select_region_checks(central=False)}
    central_checks = {c.spec.id for c in select_region_checks(central=True)}
    assert central_checks - member_checks == {"pipeline_backlog"}
    assert org.collector(org.members[0]).member and not org.collector(org.management).member
