"""Suppressions: the pure matcher, expiry parsing, and which changes alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status, finding_id
from eks_auditor.suppressions import Suppression, alerts, match, parse_expiry
from pydantic import ValidationError

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
SUBNET = "subnet-0abc1234"


def finding(
    check_id: str = "ip_capacity_exhaustion_risk",
    resource: str = SUBNET,
    cluster: str = "prod-a",
    account: str = ACCOUNT,
    region: str = "eu-west-1",
) -> Finding:
    return Finding(
        id=finding_id(account, region, cluster, check_id, resource),
        check_id=check_id,
        severity=Severity.HIGH,
        status=Status.OPEN,
        account=account,
        region=region,
        cluster=cluster,
        cluster_arn=f"arn:aws:eks:{region}:{account}:cluster/{cluster}",
        resource=resource,
        title="t",
        description="d",
        remediation="r",
        first_seen=T0,
        last_seen=T0,
        source="scan-1",
        evaluated_at=T0,
    )


def suppression(**fields: object) -> Suppression:
    base: dict[str, object] = {
        "id": "s1",
        "check_id": "ip_capacity_exhaustion_risk",
        "reason": "subnet migration planned",
        "author": "alice",
        "created_at": T0,
        "expires_at": T0 + timedelta(days=7),
    }
    base.update(fields)
    return Suppression.model_validate(base)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, True),
        ({"check_id": "*"}, True),
        ({"check_id": "nodes_public_subnet"}, False),
        ({"cluster": "prod-*"}, True),
        ({"cluster": "dev-*"}, False),
        ({"cluster": "PROD-*"}, False),  # globs are case-sensitive, as cluster names are
        ({"cluster": "prod-?"}, True),
        ({"resource": r"subnet-0abc\d+"}, True),
        ({"resource": "0abc"}, False),  # the whole resource id must match
        ({"resource": ".*0abc.*"}, True),
        ({"account": ACCOUNT}, True),
        ({"account": "210987654321"}, False),
        ({"region": "eu-west-1"}, True),
        ({"region": "us-east-1"}, False),
    ],
)
def test_criteria(fields: dict[str, object], expected: bool) -> None:
    assert suppression(**fields).matches(finding()) is expected


def test_match_ignores_expired_and_prefers_the_longest_lasting() -> None:
    short = suppression(id="short", expires_at=T0 + timedelta(days=1))
    long = suppression(id="long", expires_at=T0 + timedelta(days=30))
    other = suppression(id="other", check_id="nodes_public_subnet", expires_at=T0 + timedelta(days=90))

    assert match([short, long, other], finding(), T0 + timedelta(hours=1)) == long
    assert match([short, other], finding(), T0 + timedelta(days=1)) is None  # expiry is exclusive
    assert match([short, other], finding(), T0 + timedelta(days=1) - timedelta(seconds=1)) == short
    assert match([], finding(), T0) is None


def test_naive_times_are_utc() -> None:
    s = suppression(created_at=datetime(2025, 3, 1, 12), expires_at=datetime(2025, 3, 2, 12))
    assert s.expires_at == datetime(2025, 3, 2, 12, tzinfo=UTC)
    assert s.active(datetime(2025, 3, 2, 11, 59))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"resource": "subnet-("}, "resource is not a valid regular expression"),
        ({"account": "12345"}, "account must be a 12-digit AWS account id"),
        ({"expires_at": T0}, "expires_at must be later than created_at"),
        ({"reason": ""}, "at least 1 character"),
        ({"author": ""}, "at least 1 character"),
    ],
)
def test_invalid_suppressions_are_rejected(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        suppression(**fields)


def test_describe_names_scope_author_expiry_and_reason() -> None:
    s = suppression(cluster="prod-*", account=ACCOUNT, resource="subnet-.*")
    assert s.describe() == (
        "suppression s1 (check ip_capacity_exhaustion_risk, cluster prod-*, account 123456789012, "
        "resource ~ subnet-.*) by alice until 2025-03-08T12:00:00Z: subnet migration planned"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", T0 + timedelta(days=7)),
        ("12h", T0 + timedelta(hours=12)),
        ("30m", T0 + timedelta(minutes=30)),
        ("45s", T0 + timedelta(seconds=45)),
        ("2w", T0 + timedelta(weeks=2)),
        (" 3 d ", T0 + timedelta(days=3)),
        ("2025-04-01", datetime(2025, 4, 1, tzinfo=UTC)),
        ("2025-04-01T08:30:00", datetime(2025, 4, 1, 8, 30, tzinfo=UTC)),
        ("2025-04-01T10:30:00+02:00", datetime(2025, 4, 1, 8, 30, tzinfo=UTC)),
        ("2025-04-01T08:30:00Z", datetime(2025, 4, 1, 8, 30, tzinfo=UTC)),
    ],
)
def test_parse_expiry(text: str, expected: datetime) -> None:
    assert parse_expiry(text, T0) == expected


@pytest.mark.parametrize("text", ["7y", "soon", "", "-3d"])
def test_parse_expiry_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="neither a duration"):
        parse_expiry(text, T0)


def change(kind: ChangeKind, previous: Status | None, status: Status) -> StateChange:
    return StateChange(
        change_id="c",
        kind=kind,
        finding=finding().model_copy(update={"status": status}),
        previous_status=previous,
        changed_at=T0,
    )


@pytest.mark.parametrize(
    ("kind", "previous", "status", "expected"),
    [
        (ChangeKind.OPENED, None, Status.OPEN, True),
        (ChangeKind.REOPENED, Status.RESOLVED, Status.OPEN, True),
        (ChangeKind.SEVERITY_CHANGED, Status.OPEN, Status.OPEN, True),
        (ChangeKind.RESOLVED, Status.OPEN, Status.RESOLVED, True),
        (ChangeKind.SUPPRESSED, None, Status.SUPPRESSED, False),
        (ChangeKind.SUPPRESSED, Status.OPEN, Status.SUPPRESSED, False),
        (ChangeKind.UNSUPPRESSED, Status.SUPPRESSED, Status.OPEN, True),
        (ChangeKind.RESOLVED, Status.SUPPRESSED, Status.RESOLVED, False),
    ],
)
def test_alerts(kind: ChangeKind, previous: Status | None, status: Status, expected: bool) -> None:
    assert alerts(change(kind, previous, status)) is expected
