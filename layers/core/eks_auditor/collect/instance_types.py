"""ec2:DescribeInstanceTypes for the instance types in use, cached per region for the life of the process.

Instance type limits are static, so one cache serves every cluster of a scan and every warm invocation:
a scan costs ceil(new distinct types / 100) calls per region, and nothing once the types are known.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from eks_auditor.model.snapshot import InstanceTypeInfo

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

MAX_TYPES_PER_CALL = 100  # the API's limit on InstanceTypes per request

# (region, instance type) -> info, or None for a type the region does not know. A pending Future is a
# fetch in flight in another thread: waiters block on it instead of asking EC2 again.
_CACHE: dict[tuple[str, str], Future[InstanceTypeInfo | None]] = {}
_LOCK = threading.Lock()
_CALLS = 0

# "The following supplied instance types do not exist: [m5.foo, x9.bar]"
_UNKNOWN_TYPES = re.compile(r"\[([^\]]*)\]")


def describe_instance_types(
    ec2_client: EC2Client, region: str, types: Iterable[str]
) -> dict[str, InstanceTypeInfo]:
    """Instance type -> limits for the types the region knows; unknown ones are absent (caller records a gap).

    AccessDenied and other API errors propagate: the caller owns the error boundary. A failed fetch is
    not cached, and its error reaches the callers waiting on the same types.
    """
    wanted = sorted({t for t in types if t})
    owned: list[str] = []
    with _LOCK:
        for name in wanted:
            if (region, name) not in _CACHE:
                _CACHE[(region, name)] = Future()
                owned.append(name)
        futures = {name: _CACHE[(region, name)] for name in wanted}
    try:
        for start in range(0, len(owned), MAX_TYPES_PER_CALL):
            chunk = owned[start : start + MAX_TYPES_PER_CALL]
            found = _describe_chunk(ec2_client, chunk)
            for name in chunk:
                futures[name].set_result(found.get(name))
    except BaseException as exc:
        with _LOCK:
            for name in owned:
                if not futures[name].done():
                    del _CACHE[(region, name)]
                    futures[name].set_exception(exc)
        raise
    return {t: info for t in wanted if (info := futures[t].result()) is not None}


def clear_cache() -> None:
    """Forget every cached type and reset the call counter (tests, benchmarks)."""
    global _CALLS
    with _LOCK:
        _CACHE.clear()
        _CALLS = 0


def api_calls() -> int:
    """DescribeInstanceTypes requests made since the last clear_cache()."""
    return _CALLS


def _describe_chunk(ec2_client: EC2Client, chunk: list[str]) -> dict[str, InstanceTypeInfo]:
    remaining = list(chunk)
    while remaining:
        try:
            return _describe_pages(ec2_client, remaining)
        except ClientError as error:
            # One unknown name fails the whole request: drop the names EC2 lists and ask again.
            if error.response.get("Error", {}).get("Code") != "InvalidInstanceType":
                raise
            unknown = _unknown_types(error)
            kept = [t for t in remaining if t not in unknown]
            if len(kept) == len(remaining):
                raise
            remaining = kept
    return {}


def _describe_pages(ec2_client: EC2Client, names: list[str]) -> dict[str, InstanceTypeInfo]:
    global _CALLS
    found: dict[str, InstanceTypeInfo] = {}
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"InstanceTypes": names}
        if token:
            kwargs["NextToken"] = token
        with _LOCK:
            _CALLS += 1
        response = ec2_client.describe_instance_types(**kwargs)
        for raw in response.get("InstanceTypes", []):
            info = parse_instance_type(raw)
            if info is not None:
                found[info.name] = info
        token = response.get("NextToken")
        if not token:
            return found


def _unknown_types(error: ClientError) -> set[str]:
    message = str(error.response.get("Error", {}).get("Message", ""))
    match = _UNKNOWN_TYPES.search(message)
    if not match:
        return set()
    return {name.strip().strip("'\"") for name in match.group(1).split(",") if name.strip()}


def parse_instance_type(raw: Mapping[str, Any]) -> InstanceTypeInfo | None:
    """One DescribeInstanceTypes entry -> InstanceTypeInfo; None when it lacks the network limits."""
    name = raw.get("InstanceType")
    network = raw.get("NetworkInfo") or {}
    ipv4_per_eni = network.get("Ipv4AddressesPerInterface")
    max_enis = _default_card_max_enis(network)
    if not name or ipv4_per_eni is None or max_enis is None:
        return None
    vcpu = raw.get("VCpuInfo") or {}
    hypervisor = raw.get("Hypervisor")
    return InstanceTypeInfo(
        name=name,
        vcpus=int(vcpu.get("DefaultVCpus", 0)),
        hypervisor=str(hypervisor).lower() if hypervisor else None,
        bare_metal=bool(raw.get("BareMetal", False)),
        max_enis=max_enis,
        ipv4_per_eni=int(ipv4_per_eni),
        ipv6_supported=bool(network.get("Ipv6Supported", False)),
    )


def _default_card_max_enis(network: Mapping[str, Any]) -> int | None:
    # The CNI assigns pod IPs on the default network card only; on multi-card types (p5.48xlarge)
    # the instance-wide MaximumNetworkInterfaces counts every card and overstates max pods.
    cards = network.get("NetworkCards") or []
    index = network.get("DefaultNetworkCardIndex", 0)
    for card in cards:
        if card.get("NetworkCardIndex") == index and card.get("MaximumNetworkInterfaces") is not None:
            return int(card["MaximumNetworkInterfaces"])
    value = network.get("MaximumNetworkInterfaces")
    return int(value) if value is not None else None
