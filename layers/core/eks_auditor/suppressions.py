"""Suppressions: accepted risks, as data. A pure matcher decides whether a finding is suppressed.

A suppression names a check id (or "*"), and optionally a cluster glob, a resource regular expression
(matched against the whole resource id), an account and a region; it carries a reason, an author and an
expiry.
A suppressed finding keeps being evaluated: it is stored with status SUPPRESSED and sends no alert, and it
reopens (and alerts) on the first evaluation after its suppression expires or is removed.
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pydantic import Field, field_validator, model_validator

from eks_auditor.model.finding import ChangeKind, Finding, StateChange, Status
from eks_auditor.model.frozen import FrozenModel

ANY_CHECK = "*"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_ACCOUNT = re.compile(r"^\d{12}$")


class Suppression(FrozenModel):
    """One accepted risk. Every criterion that is set must match; unset criteria match anything."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    check_id: str
    cluster: str = "*"  # fnmatch glob, case-sensitive
    resource: str | None = None  # regular expression, matched against the whole resource id
    account: str | None = None
    region: str | None = None
    reason: str = Field(min_length=1)
    author: str = Field(min_length=1)
    created_at: datetime
    expires_at: datetime

    @field_validator("created_at", "expires_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("resource")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"resource is not a valid regular expression: {exc}") from exc
        return value

    @field_validator("account")
    @classmethod
    def _account_id(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.match(value):
            raise ValueError(f"account must be a 12-digit AWS account id, got {value!r}")
        return value

    @model_validator(mode="after")
    def _expires_after_creation(self) -> Suppression:
        if self.expires_at <= self.created_at:
            raise ValueError("expires_at must be later than created_at")
        return self

    def active(self, at: datetime) -> bool:
        return _utc(at) < self.expires_at

    def matches(self, finding: Finding) -> bool:
        """Whether the criteria match the finding (ignores the expiry; see `active`)."""
        return self.covers(
            finding.check_id, finding.account, finding.region, finding.cluster, finding.resource
        )

    def covers(self, check_id: str, account: str, region: str, cluster: str, resource: str) -> bool:
        """Whether the criteria match a failure of `check_id` on `resource` (ignores the expiry)."""
        if self.check_id not in (ANY_CHECK, check_id):
            return False
        if self.account is not None and self.account != account:
            return False
        if self.region is not None and self.region != region:
            return False
        if not fnmatch.fnmatchcase(cluster, self.cluster):
            return False
        return self.resource is None or re.fullmatch(self.resource, resource) is not None

    def describe(self) -> str:
        """One line for people: who accepted what, why, until when."""
        scope = [f"check {self.check_id}", f"cluster {self.cluster}"]
        if self.account:
            scope.append(f"account {self.account}")
        if self.region:
            scope.append(f"region {self.region}")
        if self.resource:
            scope.append(f"resource ~ {self.resource}")
        until = self.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"suppression {self.id} ({', '.join(scope)}) by {self.author} until {until}: {self.reason}"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def match(suppressions: Iterable[Suppression], finding: Finding, at: datetime) -> Suppression | None:
    """The active suppression that covers `finding` at `at`; of several, the one that lasts longest."""
    covering = [s for s in suppressions if s.active(at) and s.matches(finding)]
    return max(covering, key=lambda s: (s.expires_at, s.id)) if covering else None


def parse_expiry(text: str, now: datetime) -> datetime:
    """'7d', '12h', '30m', '45s', '2w' from now, or an ISO 8601 date or time (UTC when no offset)."""
    duration = _DURATION.match(text)
    if duration:
        amount, unit = duration.groups()
        return _utc(now) + timedelta(**{_UNITS[unit]: int(amount)})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(
            f"expiry {text!r} is neither a duration (7d, 12h, 30m, 2w) nor an ISO 8601 date or time"
        ) from exc
    return _utc(value)


def alerts(change: StateChange) -> bool:
    """Whether a change is alerted on: not the silencing of a finding, nor the end of a silenced one.

    Every change is still stored (history) and exported to Security Hub; only the alert is skipped.
    """
    if change.kind is ChangeKind.SUPPRESSED:
        return False
    return not (change.kind is ChangeKind.RESOLVED and change.previous_status is Status.SUPPRESSED)
