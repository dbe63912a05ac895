"""Organization mode: which accounts are audited, the account x region fan-out, and the scan's coverage.

A listing that fails in one account-region (AssumeRole refused, AccessDenied, throttled past the
retries) never reads as "no clusters": that account-region is `incomplete`, its known clusters are
re-audited (each then records `audit_incomplete` if it cannot be read, or is audited if the failure
was transient), none is resolved, and the other account-regions go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eks_auditor.metrics import MetricSink, NullSink

logger = logging.getLogger(__name__)

# Organizations can be slow to list; a process re-reads the membership at most this often.
MEMBERSHIP_TTL_SECONDS = 900.0


@dataclass(frozen=True)
class MemberAccount:
    id: str
    name: str = ""
    status: str = "ACTIVE"


def list_accounts(organizations: Any) -> list[MemberAccount]:
    """Every account of the organization, following NextToken until there is none.

    A page may be empty and still carry a NextToken: only the token's absence ends the listing.
    """
    accounts: list[MemberAccount] = []
    token: str | None = None
    while True:
        response = organizations.list_accounts(**({"NextToken": token} if token else {}))
        accounts += [
            MemberAccount(id=a["Id"], name=a.get("Name", ""), status=a.get("Status", "ACTIVE"))
            for a in response.get("Accounts", [])
        ]
        token = response.get("NextToken")
        if not token:
            return accounts


@dataclass(frozen=True)
class AccountSelection:
    """Allow-list (empty: every account) and deny-list (wins over the allow-list)."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()

    def admits(self, account: str) -> bool:
        return account not in self.deny and (not self.allow or account in self.allow)

    @classmethod
    def parse(cls, allow: str | Iterable[str] = "", deny: str | Iterable[str] = "") -> AccountSelection:
        return cls(allow=_ids(allow), deny=_ids(deny))


def _ids(value: str | Iterable[str]) -> frozenset[str]:
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(item.strip() for item in items if item.strip())


class CoverageStatus(StrEnum):
    AUDITED = "audited"
    INCOMPLETE = "incomplete"
    SKIPPED = "skipped"
    # Sent to a worker, whose listing has not reported yet (a listing message that dead-letters stays so).
    PENDING = "pending"


@dataclass(frozen=True)
class RegionCoverage:
    account: str
    region: str
    status: CoverageStatus
    reason: str = ""
    clusters: int = 0


@dataclass
class Coverage:
    """What one scan covered: every account-region audited, incomplete (with the reason) or skipped."""

    scan_id: str
    entries: list[RegionCoverage] = field(default_factory=list)

    def of(self, status: CoverageStatus) -> list[RegionCoverage]:
        return [e for e in self.entries if e.status is status]

    def counts(self) -> dict[str, int]:
        return {status.value: len(self.of(status)) for status in CoverageStatus}


def plan_targets(
    accounts: Sequence[MemberAccount], regions: Sequence[str], selection: AccountSelection
) -> tuple[list[tuple[str, str]], list[RegionCoverage]]:
    """(account, region) pairs to audit, and the skipped ones with their reason."""
    targets: list[tuple[str, str]] = []
    skipped: list[RegionCoverage] = []
    for account in accounts:
        if account.status != "ACTIVE":
            reason = f"account is {account.status}"
        elif not selection.admits(account.id):
            reason = "excluded by the account allow/deny lists"
        else:
            targets += [(account.id, region) for region in regions]
            continue
        skipped += [RegionCoverage(account.id, r, CoverageStatus.SKIPPED, reason) for r in regions]
    return targets, skipped


@dataclass(frozen=True)
class RegionListing:
    """One account-region's clusters to audit (`live`), those to resolve (`gone`), and its coverage."""

    coverage: RegionCoverage
    live: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()


def list_account_region(
    account: str,
    region: str,
    *,
    list_clusters: Callable[[str, str], list[str]],
    known_clusters: Callable[[str, str], list[str]],
) -> RegionListing:
    """List one account-region; a failed listing re-audits the known clusters and resolves none."""
    known = sorted(known_clusters(account, region))
    try:
        live = list_clusters(account, region)
    except Exception as exc:  # this account-region's boundary: AssumeRole, AccessDenied, throttling
        reason = _reason(exc)
        logger.warning("listing clusters in %s/%s failed: %s; resolving nothing", account, region, reason)
        incomplete = RegionCoverage(account, region, CoverageStatus.INCOMPLETE, reason)
        return RegionListing(incomplete, live=tuple(known))
    gone = sorted(set(known) - set(live))
    return RegionListing(
        RegionCoverage(account, region, CoverageStatus.AUDITED, clusters=len(live)),
        live=tuple(live),
        gone=tuple(gone),
    )


def _reason(exc: BaseException) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    from eks_auditor.collect.errors import describe_error

    if isinstance(exc, ClientError | BotoCoreError):
        return describe_error(exc)
    return f"{type(exc).__name__}: {exc}"


def listing_messages(
    targets: Iterable[tuple[str, str]], scan_id: str, *, digest: bool = False
) -> list[dict[str, Any]]:
    """The schedule's messages: one per account-region, the pseudo-cluster LIST_ACCOUNT_REGION ("*").

    A worker lists that account-region's clusters (in its own error boundary, list_account_region) and
    sends one message per cluster: the schedule never reads a member account itself.
    """
    from eks_auditor.model.events import LIST_ACCOUNT_REGION

    return [
        {"account": account, "region": region, "cluster": LIST_ACCOUNT_REGION, "scan_id": scan_id}
        | ({"digest": True} if digest else {})
        for account, region in targets
    ]


def audit_messages(
    listing: RegionListing, scan_id: str, *, digest: bool = False, pipeline: bool = True
) -> list[dict[str, Any]]:
    """The worker's ClusterAuditMessage bodies for one listed account-region: one per live cluster, one
    `deleted` per vanished one, and (with `pipeline`) the account-region's pipeline audit ("-")."""
    from eks_auditor.model.pipeline import ACCOUNT_REGION

    account, region = listing.coverage.account, listing.coverage.region
    base = {"account": account, "region": region, "scan_id": scan_id}
    messages = [{**base, "cluster": name} | ({"digest": True} if digest else {}) for name in listing.live]
    messages += [{**base, "cluster": name, "deleted": True} for name in listing.gone]
    if pipeline:
        messages.append({**base, "cluster": ACCOUNT_REGION})
    return messages


_COVERAGE_METRICS = {
    CoverageStatus.AUDITED: "AccountRegionsAudited",
    CoverageStatus.INCOMPLETE: "AccountRegionsIncomplete",
    CoverageStatus.SKIPPED: "AccountRegionsSkipped",
}


def count_coverage(entries: Iterable[RegionCoverage], metrics: MetricSink) -> None:
    """Count entries by status (the schedule counts the skipped ones, each listing worker its own)."""
    counts: dict[CoverageStatus, int] = {}
    for entry in entries:
        counts[entry.status] = counts.get(entry.status, 0) + 1
    for status, name in _COVERAGE_METRICS.items():
        if counts.get(status):
            metrics.count(name, counts[status])


class AccountDirectory:
    """The organization's accounts (ListAccounts), re-read at most every `ttl` seconds; thread-safe.

    The gate asks it who is a member; the notifier and the report ask it for names. `name` never raises:
    an unreadable directory names no account (titles fall back to ids).
    """

    def __init__(
        self,
        organizations: Callable[[], Any],
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = MEMBERSHIP_TTL_SECONDS,
    ) -> None:
        self._organizations = organizations
        self._clock = clock
        self._ttl = ttl
        self._accounts: dict[str, MemberAccount] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def accounts(self) -> dict[str, MemberAccount]:
        with self._lock:
            if self._accounts is None or self._clock() - self._read_at > self._ttl:
                self._accounts = {a.id: a for a in list_accounts(self._organizations())}
                self._read_at = self._clock()
            return self._accounts

    def name(self, account: str) -> str | None:
        try:
            found = self.accounts().get(account)
        except Exception as exc:  # a name is decoration: never fail a notification over it
            logger.warning("cannot name account %s: %s", account, _reason(exc))
            return None
        return found.name or None if found else None


class OrganizationGate:
    """Admits events from accounts of the organization that the allow/deny lists select; counts the rest."""

    def __init__(
        self,
        organizations: Callable[[], Any],
        selection: AccountSelection,
        *,
        metrics: MetricSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = MEMBERSHIP_TTL_SECONDS,
        directory: AccountDirectory | None = None,
    ) -> None:
        self.directory = directory or AccountDirectory(organizations, clock=clock, ttl=ttl)
        self.selection = selection
        self.metrics: MetricSink = metrics or NullSink()

    def members(self) -> frozenset[str]:
        return frozenset(a.id for a in self.directory.accounts().values() if a.status == "ACTIVE")

    def admits(self, account: str) -> bool:
        if self.selection.admits(account) and account in self.members():
            return True
        logger.warning("event from account %s rejected: not an audited account of the organization", account)
        self.metrics.count("EventsRejectedAccount")
        return False
