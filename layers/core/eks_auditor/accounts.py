"""Organization mode: one assumed-role session per member account, clients per (account, service, region).

Each member account's session assumes `arn:<partition>:iam::<account>:role/<role name>` once, for 3600 s
(with botocore's default 900 s it re-assumes on nearly every call of a long scan), and refreshes it
before expiry through botocore's RefreshableCredentials. The role is assumed lazily, on the session's
first signed call: a refusal (AccessDenied from STS) then surfaces as that call's ClientError, inside
the caller's error boundary for that account-region.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

    from eks_auditor.collect.clients import AwsClients, CallCounter

logger = logging.getLogger(__name__)

SESSION_SECONDS = 3600
ROLE_SESSION_NAME = "eks-auditor"
DEFAULT_MEMBER_ROLE = "eks-auditor-audit"


def role_arn(account: str, role_name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name}"


class AccountSessions:
    """boto3 Sessions per account: the caller's own account uses the base session, others assume a role.

    Thread-safe; `assume_role_calls` counts AssumeRole per account (refreshes included).
    """

    def __init__(
        self,
        base: boto3.Session,
        role_name: str,
        *,
        home_account: str | None = None,
        partition: str = "aws",
        duration_seconds: int = SESSION_SECONDS,
        sts_region: str | None = None,
    ) -> None:
        self.base = base
        self.role_name = role_name
        self.home_account = home_account
        self.partition = partition
        self.duration_seconds = duration_seconds
        self.sts_region = sts_region or base.region_name or "us-east-1"
        self.assume_role_calls: Counter[str] = Counter()
        self._sessions: dict[str, boto3.Session] = {}
        self._sts: Any = None
        self._lock = threading.Lock()

    def session(self, account: str) -> boto3.Session:
        if account == self.home_account:
            return self.base
        with self._lock:
            found = self._sessions.get(account)
            if found is None:
                found = self._sessions[account] = self._assumed_session(account)
            return found

    def _sts_client(self) -> Any:
        # Called from the credential refresher, possibly on several threads: create it once under the lock.
        with self._lock:
            if self._sts is None:
                from eks_auditor.collect.clients import CLIENT_CONFIG
                from eks_auditor.kube.token import sts_endpoint

                self._sts = self.base.client(
                    "sts",
                    region_name=self.sts_region,
                    config=CLIENT_CONFIG,
                    endpoint_url=sts_endpoint(self.sts_region),
                )
            return self._sts

    def assume(self, account: str) -> Mapping[str, str]:
        """AssumeRole into the account's audit role: the credentials in botocore's refresh format."""
        arn = role_arn(account, self.role_name, self.partition)
        with self._lock:
            self.assume_role_calls[account] += 1
        response = self._sts_client().assume_role(
            RoleArn=arn, RoleSessionName=ROLE_SESSION_NAME, DurationSeconds=self.duration_seconds
        )
        credentials = response["Credentials"]
        logger.info("assumed %s until %s", arn, credentials["Expiration"])
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    def _assumed_session(self, account: str) -> boto3.Session:
        import boto3
        import botocore.session
        from botocore.credentials import DeferredRefreshableCredentials

        core = botocore.session.get_session()
        # One loader for every account: service models are parsed once, not once per member session.
        core.register_component("data_loader", self.base._session.get_component("data_loader"))
        # Deferred: nothing is assumed until the first signed call; refreshed 15 min before expiry.
        core._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
            refresh_using=lambda: self.assume(account), method="assume-role"
        )
        return boto3.Session(botocore_session=core, region_name=self.base.region_name)


class AccountClients:
    """AwsClients per account (so clients are per account, service and region), all counted alike.

    `on_throttle(account, region)` hears of throttled attempts in that account-region.
    """

    def __init__(
        self,
        sessions: AccountSessions,
        *,
        counter: CallCounter | None = None,
        on_throttle: Callable[[str, str], None] | None = None,
        home: AwsClients | None = None,
    ) -> None:
        self.sessions = sessions
        self.home = home
        self.counter = counter
        self.on_throttle = on_throttle
        self._clients: dict[str, AwsClients] = {}
        self._lock = threading.Lock()

    def for_account(self, account: str) -> AwsClients:
        from eks_auditor.collect.clients import AwsClients

        if self.home is not None and account == self.sessions.home_account:
            return self.home
        with self._lock:
            found = self._clients.get(account)
            if found is None:
                throttle = self.on_throttle
                found = AwsClients(
                    self.sessions.session(account),
                    counter=self.counter,
                    on_throttle=(lambda region: throttle(account, region)) if throttle else None,
                )
                self._clients[account] = found
            return found
