"""Organization building blocks: ListAccounts paging (Stubber), account selection, assumed-role sessions
(3600 s, refreshed before expiry), coverage planning, the event gate, and per-account dispatcher keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from eks_auditor.accounts import AccountClients, AccountSessions
from eks_auditor.audit import AuditResult
from eks_auditor.dispatch import AccountAccess, Dispatcher
from eks_auditor.metrics import CountingSink
from eks_auditor.organization import (
    AccountSelection,
    CoverageStatus,
    MemberAccount,
    OrganizationGate,
    list_account_region,
    list_accounts,
    plan_targets,
)
from eks_auditor.triggers import AuditRequest


def _account(account_id: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {
        "Id": account_id,
        "Arn": f"arn:aws:organizations::111111111111:account/o-abc/{account_id}",
        "Email": f"{account_id}@example.com",
        "Name": f"n{account_id}",
        "Status": status,
        "JoinedMethod": "CREATED",
        "JoinedTimestamp": datetime(2024, 1, 1, tzinfo=UTC),
    }


def test_list_accounts_follows_next_token_across_an_empty_page() -> None:
    client = boto3.client("organizations", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("list_accounts", {"Accounts": [_account("111111111111")], "NextToken": "t1"}, {})
        # An empty page that still carries a token: the listing is not over.
        stub.add_response("list_accounts", {"Accounts": [], "NextToken": "t2"}, {"NextToken": "t1"})
        stub.add_response(
            "list_accounts",
            {"Accounts": [_account("222222222222"), _account("333333333333", "SUSPENDED")]},
            {"NextToken": "t2"},
        )
        accounts = list_accounts(client)
        stub.assert_no_pending_responses()
    assert accounts == [
        MemberAccount("111111111111", "n111111111111"),
        MemberAccount("222222222222", "n222222222222"),
        MemberAccount("333333333333", "n333333333333", "SUSPENDED"),
    ]


@pytest.mark.parametrize(
    ("allow", "deny", "admitted"),
    [
        ("", "", {"111111111111", "222222222222", "333333333333"}),
        ("111111111111, 222222222222", "", {"111111111111", "222222222222"}),
        ("", "222222222222", {"111111111111", "333333333333"}),
        ("111111111111,222222222222", "222222222222", {"111111111111"}),
    ],
)
def test_selection_allow_and_deny(allow: str, deny: str, admitted: set[str]) -> None:
    selection = AccountSelection.parse(allow, deny)
    assert {a for a in ("111111111111", "222222222222", "333333333333") if selection.admits(a)} == admitted


def test_plan_skips_inactive_and_excluded_accounts() -> None:
    accounts = [
        MemberAccount("111111111111"),
        MemberAccount("222222222222", status="SUSPENDED"),
        MemberAccount("333333333333"),
    ]
    targets, skipped = plan_targets(
        accounts, ["us-east-1", "eu-west-1"], AccountSelection.parse("", "333333333333")
    )
    assert targets == [("111111111111", "us-east-1"), ("111111111111", "eu-west-1")]
    assert [(s.account, s.region, s.status, s.reason) for s in skipped] == [
        ("222222222222", "us-east-1", CoverageStatus.SKIPPED, "account is SUSPENDED"),
        ("222222222222", "eu-west-1", CoverageStatus.SKIPPED, "account is SUSPENDED"),
        ("333333333333", "us-east-1", CoverageStatus.SKIPPED, "excluded by the account allow/deny lists"),
        ("333333333333", "eu-west-1", CoverageStatus.SKIPPED, "excluded by the account allow/deny lists"),
    ]


def test_a_failed_listing_reaudits_known_clusters_and_resolves_none() -> None:
    from botocore.exceptions import ClientError

    def refuse(account: str, region: str) -> list[str]:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "ListClusters")

    listing = list_account_region(
        "111111111111", "us-east-1", list_clusters=refuse, known_clusters=lambda a, r: ["b", "a"]
    )
    assert listing.coverage.status is CoverageStatus.INCOMPLETE
    assert "ThrottlingException" in listing.coverage.reason
    assert listing.live == ("a", "b")
    assert listing.gone == ()
    ok = list_account_region(
        "111111111111", "us-east-1", list_clusters=lambda a, r: ["a"], known_clusters=lambda a, r: ["a", "b"]
    )
    assert (ok.coverage.status, ok.live, ok.gone) == (CoverageStatus.AUDITED, ("a",), ("b",))


class _Sts:
    def __init__(self, expiration: datetime) -> None:
        self.expiration = expiration
        self.calls: list[dict[str, Any]] = []

    def assume_role(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        return {
            "Credentials": {
                "AccessKeyId": f"AKIA{len(self.calls)}",
                "SecretAccessKey": "secret",
                "SessionToken": "token",
                "Expiration": self.expiration,
            }
        }


def test_member_session_assumes_for_an_hour_once_and_refreshes_before_expiry() -> None:
    base = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1")
    sessions = AccountSessions(base, "eks-auditor-audit", home_account="999999999999")
    sts = _Sts(datetime.now(UTC) + timedelta(hours=1))
    sessions._sts = sts
    assert sessions.session("999999999999") is base  # the auditor's own account: no AssumeRole
    session = sessions.session("111111111111")
    assert sessions.session("111111111111") is session
    assert sts.calls == []  # deferred until the first signed call
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.get_frozen_credentials().access_key == "AKIA1"
    assert credentials.get_frozen_credentials().access_key == "AKIA1"
    assert sts.calls == [
        {
            "RoleArn": "arn:aws:iam::111111111111:role/eks-auditor-audit",
            "RoleSessionName": "eks-auditor",
            "DurationSeconds": 3600,
        }
    ]
    # Within botocore's advisory window (15 min before expiry) the next use re-assumes.
    sts.expiration = datetime.now(UTC) + timedelta(hours=1)
    credentials._expiry_time = datetime.now(UTC) + timedelta(minutes=5)  # type: ignore[attr-defined]
    assert credentials.get_frozen_credentials().access_key == "AKIA2"
    assert sessions.assume_role_calls == {"111111111111": 2}


def test_clients_are_per_account_service_and_region() -> None:
    base = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1")
    clients = AccountClients(AccountSessions(base, "r", home_account="999999999999"))
    one, two = clients.for_account("111111111111"), clients.for_account("222222222222")
    assert one is clients.for_account("111111111111")
    assert one.eks("us-east-1") is not two.eks("us-east-1")
    assert one.eks("us-east-1") is not one.eks("eu-west-1")


class _Auditor:
    def __init__(self) -> None:
        self.audits: list[tuple[str | None, str, str]] = []

    def audit(
        self, region: str, cluster: str, *, check_ids: Any, source: str, account: str | None
    ) -> AuditResult:
        self.audits.append((account, region, cluster))
        return AuditResult(region=region, cluster=cluster)


def test_same_cluster_name_in_two_accounts_is_audited_twice() -> None:
    auditor = _Auditor()
    listed: list[str] = []

    def access(account: str) -> AccountAccess:
        def list_clusters(region: str) -> list[str]:
            listed.append(account)
            return ["prod"]

        return AccountAccess(list_clusters, lambda r, c: None, lambda r: None, lambda r: None)

    dispatcher = Dispatcher(auditor, access)  # type: ignore[arg-type]
    for account in ("111111111111", "222222222222", "111111111111"):
        request = AuditRequest(source="e", event_name="X", account=account, region="us-east-1")
        dispatcher.handle(request)
    # The third request is a duplicate of the first: de-duplicated per (account, region, cluster).
    assert auditor.audits == [("111111111111", "us-east-1", "prod"), ("222222222222", "us-east-1", "prod")]
    assert listed == ["111111111111", "222222222222", "111111111111"]


def test_gate_admits_members_the_selection_keeps_and_counts_the_rest() -> None:
    client = boto3.client("organizations", region_name="us-east-1")
    metrics = CountingSink()
    with Stubber(client) as stub:
        stub.add_response(
            "list_accounts", {"Accounts": [_account("111111111111"), _account("222222222222")]}, {}
        )
        gate = OrganizationGate(lambda: client, AccountSelection.parse("", "222222222222"), metrics=metrics)
        assert gate.admits("111111111111")
        assert not gate.admits("222222222222")  # a member, but denied
        assert not gate.admits("999999999999")  # outside the organization
    assert metrics.counts["EventsRejectedAccount"] == 2


def test_the_directory_names_accounts_and_never_fails_a_caller() -> None:
    from eks_auditor.organization import AccountDirectory

    client = boto3.client("organizations", region_name="us-east-1")
    clock = [0.0]
    with Stubber(client) as stub:
        named = {**_account("111111111111"), "Name": "payments"}
        stub.add_response("list_accounts", {"Accounts": [named, _account("222222222222")]}, {})
        stub.add_client_error("list_accounts", "AccessDeniedException", "not the management account")
        directory = AccountDirectory(lambda: client, clock=lambda: clock[0], ttl=60)
        assert directory.name("111111111111") == "payments"
        assert directory.name("999999999999") is None
        clock[0] = 61.0  # re-read after the TTL: it fails, and names nothing rather than raising
        assert directory.name("111111111111") is None
        stub.assert_no_pending_responses()
