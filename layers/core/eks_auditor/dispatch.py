"""Turn audit requests (from events, the schedule or the CLI) into cluster audits.

Within one invocation an audit already done for a cluster with a superset of the requested checks is
not repeated: a batch of ten route changes in one VPC audits each of its clusters once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eks_auditor.audit import Auditor, AuditResult
from eks_auditor.collect.cluster import describe_cluster
from eks_auditor.collect.errors import ClusterNotFound, ClusterUnavailable, describe_error
from eks_auditor.concurrency import Limiter, limiter_key, map_bounded
from eks_auditor.triggers import AuditRequest, VpcReference, merge_checks

logger = logging.getLogger(__name__)

# kind -> (EC2 operation, request parameter, response list key)
_LOOKUPS: dict[str, tuple[str, str, str]] = {
    "subnet": ("describe_subnets", "SubnetIds", "Subnets"),
    "route_table": ("describe_route_tables", "RouteTableIds", "RouteTables"),
    "vpc_endpoint": ("describe_vpc_endpoints", "VpcEndpointIds", "VpcEndpoints"),
    "nat_gateway": ("describe_nat_gateways", "NatGatewayIds", "NatGateways"),
    "security_group": ("describe_security_groups", "GroupIds", "SecurityGroups"),
    "network_interface": ("describe_network_interfaces", "NetworkInterfaceIds", "NetworkInterfaces"),
    # DescribeInstances nests instances in reservations: flattened below.
    "instance": ("describe_instances", "InstanceIds", "Reservations"),
}


def resolve_vpcs(ec2: Any, refs: VpcReference) -> frozenset[str] | None:
    """The VPCs an EC2 call touched; None when none could be resolved (the caller widens to the region)."""
    vpcs = set(refs.of("vpc"))
    for kind, (operation, parameter, key) in _LOOKUPS.items():
        ids = refs.of(kind)
        if not ids:
            continue
        try:
            response = getattr(ec2, operation)(**{parameter: list(ids)})
        except ClientError as exc:
            # A deleted endpoint or NAT gateway may already be gone; the VPC id may still be elsewhere.
            logger.info("could not resolve %s %s to a VPC: %s", kind, ids, exc.response["Error"]["Code"])
            continue
        items = response.get(key, [])
        if key == "Reservations":
            items = [instance for reservation in items for instance in reservation.get("Instances", [])]
        vpcs.update(item["VpcId"] for item in items if item.get("VpcId"))
    return frozenset(vpcs) or None


def cluster_status(eks: Any, region: str, cluster: str) -> str | None:
    """The cluster's DescribeCluster status, fresh (never cached); None when it does not exist."""
    try:
        return str(describe_cluster(eks, region, cluster).get("status") or "UNKNOWN")
    except ClusterNotFound:
        return None


class Dispatcher:
    def __init__(
        self,
        auditor: Auditor,
        *,
        list_clusters: Callable[[str], list[str]],
        cluster_vpc: Callable[[str, str], str | None],
        ec2_client: Callable[[str], Any],
        eks_client: Callable[[str], Any],
        limiter: Limiter | None = None,
    ) -> None:
        self.auditor = auditor
        self.eks_client = eks_client
        self.list_clusters = list_clusters
        self.cluster_vpc = cluster_vpc
        self.ec2_client = ec2_client
        self.limiter = limiter or Limiter(1, 1)
        self._done: dict[tuple[str, str], frozenset[str] | None] = {}
        # One lock per cluster: two requests for one cluster in a concurrent batch audit it in turn,
        # and the second finds it done; different clusters proceed in parallel.
        self._cluster_locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def handle(self, request: AuditRequest) -> list[AuditResult]:
        """Audit what the request names; a request's clusters run concurrently under the limiter.

        Results come in cluster order; the first failure (in that order) is raised after all ran.
        """
        if request.delete_cluster and request.cluster:
            with self._cluster_lock(request.region, request.cluster):
                self._done.pop((request.region, request.cluster), None)
                status = self._live_status(request.region, request.cluster)
                if status is None or status == "DELETING":
                    return [
                        self.auditor.resolve_deleted(
                            request.account, request.region, request.cluster, source=request.source
                        )
                    ]
            # A forged, replayed or failed delete (or a cluster re-created under the same name): the
            # cluster is live, so it is audited, never resolved on the event's word.
            logger.warning(
                "%s for %s/%s from %s, but the cluster is %s: re-auditing instead of resolving",
                request.event_name,
                request.region,
                request.cluster,
                request.source,
                status,
            )
            request = request.model_copy(update={"delete_cluster": False, "check_ids": None})
        clusters = [request.cluster] if request.cluster else self._clusters_for(request)
        attempts = map_bounded(
            lambda cluster: self._audit_once(request.region, cluster, request.check_ids, request),
            clusters,
            key=lambda _: limiter_key(request.account, request.region),
            limiter=self.limiter,
        )
        for attempt in attempts:
            if attempt.error is not None:
                raise attempt.error
        return [attempt.value for attempt in attempts if attempt.value is not None]

    def _cluster_lock(self, region: str, cluster: str) -> threading.Lock:
        with self._locks_lock:
            return self._cluster_locks.setdefault((region, cluster), threading.Lock())

    def _live_status(self, region: str, cluster: str) -> str | None:
        """DescribeCluster's status now; None when EKS no longer knows the cluster.

        Real EKS keeps a deleted cluster in DELETING for minutes. Any other failure raises
        ClusterUnavailable: nothing is resolved, and the message is retried later.
        """
        try:
            return cluster_status(self.eks_client(region), region, cluster)
        except (ClientError, BotoCoreError) as exc:
            raise ClusterUnavailable(region, cluster, describe_error(exc)) from exc

    def _clusters_for(self, request: AuditRequest) -> list[str]:
        names = self.list_clusters(request.region)
        vpcs = resolve_vpcs(self.ec2_client(request.region), request.vpc) if request.vpc else None
        if vpcs is None:
            if request.vpc is not None:
                logger.warning(
                    "event %s (%s): no VPC resolved from %s; re-auditing every cluster in %s",
                    request.source,
                    request.event_name,
                    dict(request.vpc.ids),
                    request.region,
                )
            return names
        return [name for name in names if self._in_vpcs(request.region, name, vpcs)]

    def _in_vpcs(self, region: str, cluster: str, vpcs: frozenset[str]) -> bool:
        try:
            return self.cluster_vpc(region, cluster) in vpcs
        except ClusterUnavailable as exc:
            # Its VPC is unknown (AccessDenied, throttled): audit it, so its checks are recorded as
            # audit_incomplete instead of failing the whole event or being skipped.
            logger.warning(
                "cannot tell whether %s/%s is in %s: %s", region, cluster, sorted(vpcs), exc.reason
            )
            return True

    def _audit_once(
        self, region: str, cluster: str, check_ids: frozenset[str] | None, request: AuditRequest
    ) -> AuditResult | None:
        key = (region, cluster)
        with self._cluster_lock(region, cluster):
            if key in self._done and _covers(self._done[key], check_ids):
                return None
            try:
                result = self.auditor.audit(
                    region, cluster, check_ids=check_ids, source=request.source, account=request.account
                )
            except ClusterNotFound:
                logger.info("cluster %s/%s no longer exists: resolving its findings", region, cluster)
                result = self.auditor.resolve_deleted(request.account, region, cluster, source=request.source)
            self._done[key] = merge_checks((self._done.get(key, frozenset()), check_ids))
            return result


def _covers(done: frozenset[str] | None, wanted: Iterable[str] | None) -> bool:
    if done is None:
        return True
    if wanted is None:
        return False
    return set(wanted) <= done
