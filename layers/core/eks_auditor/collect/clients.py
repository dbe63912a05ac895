"""boto3 clients for the collectors: one configuration, one cache per (service, region), call counting.

Endpoint, credentials and region come from boto3's standard chain (AWS_PROFILE, AWS_REGION /
AWS_DEFAULT_REGION, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>): nothing here overrides them.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from eks_auditor.concurrency import is_throttling
from eks_auditor.config import MAX_CONCURRENCY_PER_ACCOUNT_REGION, PARTS_IN_FLIGHT, VPC_READS_IN_FLIGHT
from eks_auditor.kube.token import sts_endpoint

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.model import OperationModel
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_iam import IAMClient

logger = logging.getLogger(__name__)

# Standard retry mode retries throttling and transient errors with jittered exponential backoff.
# botocore's `max_attempts` counts retries: up to 5 retries, 6 attempts in all.
# A fixed User-Agent: botocore otherwise rebuilds its structured one (some fifty components, each
# sanitized character by character) twice for every call, about a tenth of the client's CPU per call in
# the 240-cluster bench. Set this way, botocore sends it as given, then the session's extra (boto3's
# "Botocore/<version>") and user_agent_extra: the classic boto3 User-Agent.
USER_AGENT = f"Boto3/{boto3.__version__} Python/{platform.python_version()}"
# Connections a client keeps open. A client serves one account-region, where at most
# MAX_CONCURRENCY_PER_ACCOUNT_REGION audits are in flight, each reading up to PARTS_IN_FLIGHT parts at once,
# one of which may be a VPC's network (VPC_READS_IN_FLIGHT calls). botocore's default of 10 made urllib3
# discard the connections beyond it after each call ("Connection pool is full"), and the next call paid a
# new TCP (with AWS, TLS) handshake. The pool only holds connections that were needed.
MAX_POOL_CONNECTIONS = MAX_CONCURRENCY_PER_ACCOUNT_REGION * (PARTS_IN_FLIGHT - 1 + VPC_READS_IN_FLIGHT)
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=MAX_POOL_CONNECTIONS,
    user_agent=USER_AGENT,
    user_agent_extra="eks-auditor",
)


class CallCounter:
    """Counts API calls by "service:Operation" (the IAM action name) on the clients it is attached to.

    It counts logical calls: one per client method call, so one per paginator page. botocore's
    retries happen below 'provide-client-params' and are not counted; a call that was throttled once
    and then succeeded counts once. Calls answered by botocore's Stubber are counted too.
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._unique_id = f"eks-auditor-call-counter-{id(self)}"

    def attach(self, client: BaseClient) -> None:
        # 'provide-client-params' is emitted to every handler (not until-first-response like
        # 'before-call', which the Stubber and moto answer), exactly once per client method call.
        client.meta.events.register("provide-client-params", self._on_call, unique_id=self._unique_id)

    def _on_call(self, model: OperationModel, **_: Any) -> None:
        key = f"{model.service_model.signing_name}:{model.name}"
        with self._lock:
            self._counts[key] += 1

    @property
    def calls(self) -> Mapping[str, int]:
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def __getitem__(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


class ThrottleListener:
    """Tells `on_throttle(region)` about every throttled attempt; botocore's retry decision is unchanged."""

    def __init__(self, on_throttle: Callable[[str], None]) -> None:
        self._on_throttle = on_throttle
        self._unique_id = f"eks-auditor-throttle-{id(self)}"

    def attach(self, client: BaseClient) -> None:
        region = str(client.meta.region_name)

        def needs_retry(response: Any = None, **_: Any) -> None:
            parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else None
            code = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
            if code and is_throttling(code):
                self._on_throttle(region)
            # Returning None leaves the retry decision to the standard retry handler.

        client.meta.events.register("needs-retry", needs_retry, unique_id=self._unique_id)


class AwsClients:
    """Clients built from one boto3 Session, cached per (service, region); long-lived, thread-safe.

    boto3 clients are thread-safe, Sessions are not: every client is created under one lock, then
    shared by every thread. `on_throttle(region)` hears of each throttled attempt (the limiter's backoff).
    """

    def __init__(
        self,
        session: boto3.Session | None = None,
        *,
        config: Config | None = None,
        counter: CallCounter | None = None,
        on_throttle: Callable[[str], None] | None = None,
    ) -> None:
        self.session = session or boto3.Session()
        self.config = CLIENT_CONFIG.merge(config) if config else CLIENT_CONFIG
        self.counter = counter
        self.throttle = ThrottleListener(on_throttle) if on_throttle else None
        self._cache: dict[tuple[str, str], BaseClient] = {}
        self._lock = threading.Lock()

    @property
    def default_region(self) -> str:
        """The session's region (AWS_REGION / AWS_DEFAULT_REGION / profile), else us-east-1."""
        return self.session.region_name or os.environ.get("AWS_REGION") or "us-east-1"

    def client(self, service: str, region: str | None = None) -> BaseClient:
        key = (service, region or self.default_region)
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                # boto3 Sessions are not thread-safe for client creation: hold the lock while creating.
                endpoint = {"endpoint_url": sts_endpoint(key[1])} if service == "sts" else {}
                made: Any = self.session.client(  # type: ignore[call-overload]
                    service, region_name=key[1], config=self.config, **endpoint
                )
                found = cast("BaseClient", made)
                if self.counter is not None:
                    self.counter.attach(found)
                if self.throttle is not None:
                    self.throttle.attach(found)
                self._cache[key] = found
            return found

    def prepare(self, services: Iterable[str], regions: Iterable[str]) -> None:
        """Create the clients a concurrent scan will use, service by service (the first needed first)."""
        regions = list(regions)
        for service in services:
            for region in regions:
                self.client(service, region)

    def prepare_in_background(self, services: Iterable[str], regions: Iterable[str]) -> threading.Thread:
        """`prepare` on a daemon thread: loading service models (about a quarter of a second of CPU for a
        scan's clients) overlaps the first calls' waits instead of delaying them. A thread that needs a
        client first creates it (or waits for it) under the lock; a failure here is left to that thread,
        which meets it again and reports it where the call is made."""
        services, regions = list(services), list(regions)

        def warm() -> None:
            try:
                self.prepare(services, regions)
            except Exception:  # the caller's own client() call meets and reports it
                logger.debug("creating clients in the background failed", exc_info=True)

        thread = threading.Thread(target=warm, name="clients", daemon=True)
        thread.start()
        return thread

    def sts(self, region: str) -> BaseClient:
        """STS on the regional endpoint (signs EKS tokens: EKS validates them in the cluster's region)."""
        return self.client("sts", region)

    def eks(self, region: str) -> EKSClient:
        return cast("EKSClient", self.client("eks", region))

    def ec2(self, region: str) -> EC2Client:
        return cast("EC2Client", self.client("ec2", region))

    def autoscaling(self, region: str) -> AutoScalingClient:
        return cast("AutoScalingClient", self.client("autoscaling", region))

    def iam(self) -> IAMClient:
        # IAM is global; the default region picks the partition's endpoint.
        return cast("IAMClient", self.client("iam", None))
