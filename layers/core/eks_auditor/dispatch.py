"""Turn audit requests (from events, the schedule or the CLI) into cluster audits.

Within one invocation an audit already done for a cluster with a superset of the requested checks is
not repeated; an event batch goes further (CoalescedAudits): every record is routed first, then each
cluster is audited once with the union of the checks its records asked for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eks_auditor.audit import Auditor, AuditResult
from eks_auditor.collect.cluster import describe_cluster
from eks_auditor.collect.errors import ClusterNotFound, ClusterUnavailable, describe_error
from eks_auditor.concurrency import Limiter, limiter_key, map_bounded
from eks_auditor.triggers import AuditRequest, VpcReference, clusters_in_tag, merge_checks

logger = logging.getLogger(__name__)

ClusterKey = tuple[str, str, str]  # (account, region, cluster)

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
# The EC2 reads behind transit-gateway and peering references (beyond _LOOKUPS), for the member role.
TRANSIT_READS = (
    "ec2:DescribeTransitGatewayAttachments",
    "ec2:DescribeTransitGatewayVpcAttachments",
    "ec2:GetTransitGatewayRouteTableAssociations",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeTransitGatewayRouteTables",
    "ec2:SearchTransitGatewayRoutes",
)
# Resources on a VPC's own way out (its route tables and NAT gateways): when the VPC is the egress VPC of a
# transit gateway, a change to them changes the egress of every VPC the gateway sends 0.0.0.0/0 to it.
_EGRESS_PATH_KINDS = ("route_table", "nat_gateway")


def resolve_vpcs(ec2: Any, refs: VpcReference) -> frozenset[str] | None:
    """The VPCs an EC2 call touched; None when none could be resolved (the caller widens to the region)."""
    vpcs = set(refs.of("vpc"))
    egress_paths: set[str] = set()
    for kind, (operation, parameter, key) in _LOOKUPS.items():
        ids = refs.of(kind)
        if not ids:
            continue
        try:
            response = getattr(ec2, operation)(**{parameter: list(ids)})
        except ClientError as exc:
            # A deleted endpoint or NAT gateway may already be gone; the VPC id may still be elsewhere.
            logger.info("could not resolve %s %s to a VPC: %s", kind, ids, _code(exc))
            continue
        items = response.get(key, [])
        if key == "Reservations":
            items = [instance for reservation in items for instance in reservation.get("Instances", [])]
        found = {item["VpcId"] for item in items if item.get("VpcId")}
        vpcs.update(found)
        if kind in _EGRESS_PATH_KINDS:
            egress_paths.update(found)
    if egress_paths:
        try:
            vpcs.update(egress_dependents(ec2, egress_paths))
        except ClientError as exc:
            logger.info("could not resolve VPCs egressing via %s: %s", sorted(egress_paths), _code(exc))
    for kind, resolve in _EGRESS_LOOKUPS.items():
        ids = refs.of(kind)
        if not ids:
            continue
        try:
            vpcs.update(resolve(ec2, ids))
        except ClientError as exc:
            logger.info("could not resolve %s %s to VPCs: %s", kind, ids, _code(exc))
    return frozenset(vpcs) or None


def _attached_vpcs(ec2: Any, filters: list[dict[str, Any]]) -> set[str]:
    pages = ec2.get_paginator("describe_transit_gateway_attachments").paginate(
        Filters=[*filters, {"Name": "resource-type", "Values": ["vpc"]}]
    )
    return {a["ResourceId"] for page in pages for a in page.get("TransitGatewayAttachments", [])}


def _tgw_vpcs(ec2: Any, tgw_ids: Iterable[str]) -> set[str]:
    # Every VPC attached to the gateway: any of them may send its default route to the attachment, or the
    # route table, that changed (an egress VPC's attachment serves all the others).
    return _attached_vpcs(ec2, [{"Name": "transit-gateway-id", "Values": sorted(tgw_ids)}])


def egress_dependents(ec2: Any, vpcs: Iterable[str]) -> set[str]:
    """The VPCs whose 0.0.0.0/0 a transit gateway sends to one of `vpcs` (their egress VPC, DESIGN §2).

    Each TGW route table whose 0.0.0.0/0 route (SearchTransitGatewayRoutes, exact match) leads to an
    attachment of `vpcs` routes the VPCs associated with it there. When a gateway's routes cannot be
    searched, every VPC attached to it is taken: a re-audit too many, never one missed.
    """
    pages = ec2.get_paginator("describe_transit_gateway_attachments").paginate(
        Filters=[
            {"Name": "resource-id", "Values": sorted(vpcs)},
            {"Name": "resource-type", "Values": ["vpc"]},
        ]
    )
    attachments: dict[str, str] = {
        a["TransitGatewayAttachmentId"]: a["TransitGatewayId"]
        for page in pages
        for a in page.get("TransitGatewayAttachments", [])
        if a.get("State") not in ("deleted", "deleting", "failed", "rejected")
    }
    dependents: set[str] = set()
    for tgw in sorted(set(attachments.values())):
        tables = [
            t["TransitGatewayRouteTableId"]
            for page in ec2.get_paginator("describe_transit_gateway_route_tables").paginate(
                Filters=[{"Name": "transit-gateway-id", "Values": [tgw]}]
            )
            for t in page.get("TransitGatewayRouteTables", [])
        ]
        try:
            routed = [table for table in tables if _default_route_to(ec2, table, attachments)]
        except ClientError as exc:
            logger.info("could not search the routes of %s: %s; taking every attached VPC", tgw, _code(exc))
            dependents |= _tgw_vpcs(ec2, [tgw])
            continue
        if routed:
            dependents |= _route_table_vpcs(ec2, routed)
    return dependents


def _default_route_to(ec2: Any, table: str, attachments: Iterable[str]) -> bool:
    routes = ec2.search_transit_gateway_routes(
        TransitGatewayRouteTableId=table,
        Filters=[{"Name": "route-search.exact-match", "Values": ["0.0.0.0/0"]}],
    ).get("Routes", [])
    wanted = set(attachments)
    return any(
        target.get("TransitGatewayAttachmentId") in wanted
        for route in routes
        if route.get("State") != "blackhole"
        for target in route.get("TransitGatewayAttachments") or ()
    )


def _attachment_vpcs(ec2: Any, ids: Iterable[str]) -> set[str]:
    response = ec2.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=list(ids))
    tgws = {a["TransitGatewayId"] for a in response.get("TransitGatewayAttachments", [])}
    return _tgw_vpcs(ec2, tgws) if tgws else set()


def _route_table_vpcs(ec2: Any, ids: Iterable[str]) -> set[str]:
    # The VPCs whose attachment is associated with the table: their traffic is routed by it.
    vpcs: set[str] = set()
    paginator = ec2.get_paginator("get_transit_gateway_route_table_associations")
    for table in ids:
        for page in paginator.paginate(
            TransitGatewayRouteTableId=table, Filters=[{"Name": "resource-type", "Values": ["vpc"]}]
        ):
            vpcs.update(a["ResourceId"] for a in page.get("Associations", []) if a.get("ResourceId"))
    return vpcs


def _peering_vpcs(ec2: Any, ids: Iterable[str]) -> set[str]:
    # Both sides: a route to the connection may sit in either VPC. Deleted connections stay listed a while.
    response = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=list(ids))
    return {
        side["VpcId"]
        for connection in response.get("VpcPeeringConnections", [])
        for side in (connection.get("AccepterVpcInfo") or {}, connection.get("RequesterVpcInfo") or {})
        if side.get("VpcId")
    }


_EGRESS_LOOKUPS: dict[str, Callable[[Any, tuple[str, ...]], set[str]]] = {
    "transit_gateway": _tgw_vpcs,
    "transit_gateway_attachment": _attachment_vpcs,
    "transit_gateway_route_table": _route_table_vpcs,
    "vpc_peering_connection": _peering_vpcs,
}


@dataclass(frozen=True)
class Scope:
    """What a resource-scoped call resolved to: every cluster in `vpcs`, and `clusters` by name."""

    vpcs: frozenset[str] = frozenset()
    clusters: frozenset[str] = frozenset()


def resolve_scope(refs: VpcReference, ec2: Any, client: Callable[[str], Any] | None = None) -> Scope | None:
    """The VPCs and clusters a call touched; None when nothing could be resolved (the caller widens).

    `client(service)` gives the Auto Scaling and Network Firewall clients. An Auto Scaling group that is
    not a cluster's, or a launch template no group follows, resolves to an empty scope: nothing to audit.
    """
    vpcs = set(resolve_vpcs(ec2, refs) or ())
    resolved = bool(vpcs)
    clusters = set(refs.of("cluster"))
    resolved |= bool(clusters)
    groups, templates, firewalls = (
        refs.of("auto_scaling_group"),
        refs.of("launch_template"),
        refs.of("firewall"),
    )
    if (groups or templates) and client is not None:
        try:
            found = _group_clusters(client("autoscaling"), groups, templates)
        except ClientError as exc:
            logger.info("could not resolve %s to clusters: %s", groups + templates, _code(exc))
        else:
            if found is not None:
                clusters |= found
                resolved = True
    if firewalls and client is not None:
        firewall_vpcs = _firewall_vpcs(client("network-firewall"), firewalls)
        vpcs |= firewall_vpcs
        resolved |= bool(firewall_vpcs)
    return Scope(frozenset(vpcs), frozenset(clusters)) if resolved else None


def _group_clusters(autoscaling: Any, names: tuple[str, ...], templates: tuple[str, ...]) -> set[str] | None:
    """Clusters of the named groups and of every group whose launch template (plain or in a mixed-instances
    policy) is one of `templates`. None when no template was named and none of the groups exists any more:
    a deleted group is gone from DescribeAutoScalingGroups, so whose it was is unknown, not "nobody's"."""
    clusters: set[str] = set()
    found = list(_groups(autoscaling, AutoScalingGroupNames=list(names))) if names else []
    if not found and not templates:
        return None
    for group in found:
        clusters |= _tag_clusters(group)
    if templates:
        # No filter selects groups by launch template: read the region's groups, 100 a page.
        for group in _groups(autoscaling):
            if _template_of(group) & set(templates):
                clusters |= _tag_clusters(group)
    return clusters


def _groups(autoscaling: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate(**kwargs):
        yield from page.get("AutoScalingGroups", [])


def _template_of(group: dict[str, Any]) -> set[str]:
    spec = group.get("LaunchTemplate") or (
        ((group.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}).get(
            "LaunchTemplateSpecification"
        )
        or {}
    )
    return {value for value in (spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName")) if value}


def _tag_clusters(group: dict[str, Any]) -> set[str]:
    return {
        cluster
        for tag in group.get("Tags") or ()
        for cluster in clusters_in_tag(str(tag.get("Key") or ""), str(tag.get("Value") or ""))
    }


def _firewall_vpcs(firewall: Any, names: tuple[str, ...]) -> set[str]:
    vpcs: set[str] = set()
    for name in names:
        key = "FirewallArn" if name.startswith("arn:") else "FirewallName"
        try:
            vpc = (firewall.describe_firewall(**{key: name}).get("Firewall") or {}).get("VpcId")
        except ClientError as exc:
            logger.info("could not resolve firewall %s to a VPC: %s", name, _code(exc))
            continue
        if vpc:
            vpcs.add(vpc)
    return vpcs


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def cluster_status(eks: Any, region: str, cluster: str) -> str | None:
    """The cluster's DescribeCluster status, fresh (never cached); None when it does not exist."""
    try:
        return str(describe_cluster(eks, region, cluster).get("status") or "UNKNOWN")
    except ClusterNotFound:
        return None


@dataclass(frozen=True)
class AccountAccess:
    """How the dispatcher reaches one account: its cluster listing, VPC lookup and clients, by region."""

    list_clusters: Callable[[str], list[str]]
    cluster_vpc: Callable[[str, str], str | None]
    ec2_client: Callable[[str], Any]
    eks_client: Callable[[str], Any]
    # (service, region) -> that account's client: the Auto Scaling and Network Firewall references of events.
    client: Callable[[str, str], Any] | None = None


class Dispatcher:
    """De-duplicates and locks per (account, region, cluster): a name in two accounts is two clusters.

    `access_for(account)` reaches the account a request names (organization mode: a member account
    through its assumed-role session; otherwise the auditor's own account).
    """

    def __init__(
        self,
        auditor: Auditor,
        access_for: Callable[[str], AccountAccess],
        *,
        limiter: Limiter | None = None,
    ) -> None:
        self.auditor = auditor
        self.access_for = access_for
        self.limiter = limiter or Limiter(1, 1)
        self._done: dict[ClusterKey, frozenset[str] | None] = {}
        # One lock per cluster: two requests for one cluster in a concurrent batch audit it in turn,
        # and the second finds it done; different clusters proceed in parallel.
        self._cluster_locks: dict[ClusterKey, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def handle(self, request: AuditRequest) -> list[AuditResult]:
        """Audit what the request names; a request's clusters run concurrently under the limiter.

        Results come in cluster order; the first failure (in that order) is raised after all ran.
        """
        if request.delete_cluster and request.cluster:
            key = (request.account, request.region, request.cluster)
            with self._cluster_lock(key):
                self._done.pop(key, None)
                return [
                    self.audit_cluster(
                        request.account, request.region, request.cluster, None, request, delete=True
                    )
                ]
        attempts = map_bounded(
            lambda cluster: self._audit_once(request.region, cluster, request.check_ids, request),
            self.clusters_for(request),
            key=lambda _: limiter_key(request.account, request.region),
            limiter=self.limiter,
        )
        for attempt in attempts:
            if attempt.error is not None:
                raise attempt.error
        return [attempt.value for attempt in attempts if attempt.value is not None]

    def _cluster_lock(self, key: ClusterKey) -> threading.Lock:
        with self._locks_lock:
            return self._cluster_locks.setdefault(key, threading.Lock())

    def clusters_for(self, request: AuditRequest) -> list[str]:
        """The clusters a request names: its own, else those in the VPCs it touched (else the region's)."""
        return [request.cluster] if request.cluster else self._clusters_for(request)

    def audit_cluster(
        self,
        account: str,
        region: str,
        cluster: str,
        check_ids: frozenset[str] | None,
        request: AuditRequest,
        *,
        delete: bool = False,
    ) -> AuditResult:
        """Audit one cluster (or, for a delete EKS confirms, resolve its findings)."""
        if delete:
            status = self._live_status(account, region, cluster)
            if status is None or status == "DELETING":
                return self.auditor.resolve_deleted(account, region, cluster, source=request.source)
            # A forged, replayed or failed delete (or a cluster re-created under the same name): the
            # cluster is live, so it is audited, never resolved on the event's word.
            logger.warning(
                "%s for %s/%s from %s, but the cluster is %s: re-auditing instead of resolving",
                request.event_name,
                region,
                cluster,
                request.source,
                status,
            )
            check_ids = None
        try:
            return self.auditor.audit(
                region, cluster, check_ids=check_ids, source=request.source, account=account
            )
        except ClusterNotFound:
            logger.info("cluster %s/%s no longer exists: resolving its findings", region, cluster)
            return self.auditor.resolve_deleted(account, region, cluster, source=request.source)

    def _live_status(self, account: str, region: str, cluster: str) -> str | None:
        """DescribeCluster's status now; None when EKS no longer knows the cluster.

        Real EKS keeps a deleted cluster in DELETING for minutes. Any other failure raises
        ClusterUnavailable: nothing is resolved, and the message is retried later.
        """
        try:
            return cluster_status(self.access_for(account).eks_client(region), region, cluster)
        except (ClientError, BotoCoreError) as exc:
            raise ClusterUnavailable(region, cluster, describe_error(exc)) from exc

    def _clusters_for(self, request: AuditRequest) -> list[str]:
        access = self.access_for(request.account)
        names = access.list_clusters(request.region)
        scope = None
        if request.vpc is not None:
            # Every reference (EC2, Auto Scaling, Network Firewall) is read through the event's own account.
            client = access.client
            scope = resolve_scope(
                request.vpc,
                access.ec2_client(request.region),
                None if client is None else lambda service: client(service, request.region),
            )
        if scope is None:
            if request.vpc is not None:
                logger.warning(
                    "event %s (%s): no VPC resolved from %s; re-auditing every cluster in %s",
                    request.source,
                    request.event_name,
                    dict(request.vpc.ids),
                    request.region,
                )
            return names
        return [
            name
            for name in names
            if name in scope.clusters
            or (scope.vpcs and self._in_vpcs(access, request.region, name, scope.vpcs))
        ]

    def _in_vpcs(self, access: AccountAccess, region: str, cluster: str, vpcs: frozenset[str]) -> bool:
        try:
            return access.cluster_vpc(region, cluster) in vpcs
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
        key = (request.account, region, cluster)
        with self._cluster_lock(key):
            if key in self._done and _covers(self._done[key], check_ids):
                return None
            result = self.audit_cluster(request.account, region, cluster, check_ids, request)
            self._done[key] = merge_checks((self._done.get(key, frozenset()), check_ids))
            return result


@dataclass
class _Group:
    """Every request of a batch for one cluster: the union of their checks, whether one was a delete."""

    request: AuditRequest  # the first one: its event id is the audit's source
    check_ids: frozenset[str] | None
    delete: bool = False
    outcome: AuditResult | Exception | None = None


class CoalescedAudits:
    """A batch's audits, one per (account, region, cluster) with the union of the requested checks.

    Every request is routed first (`add`, which resolves VPC-scoped requests to clusters); a cluster is
    audited on the first `results` call that needs it, so a batch of ten events on two clusters makes two
    audits, and a source whose results are never asked for (an idempotent duplicate) costs none. A
    failed audit fails every source that needed that cluster, and only those.
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._groups: dict[ClusterKey, _Group] = {}
        self._targets: dict[str, list[ClusterKey]] = {}
        self.audits = 0

    def add(self, source: str, requests: Iterable[AuditRequest]) -> None:
        """Route a source's requests (raises what routing raises; nothing is recorded then)."""
        routed = [
            (request, (request.account, request.region, cluster))
            for request in requests
            for cluster in self.dispatcher.clusters_for(request)
        ]
        targets = self._targets.setdefault(source, [])
        for request, key in routed:
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(request, request.check_ids)
            elif not request.delete_cluster:
                group.check_ids = merge_checks((group.check_ids, request.check_ids))
            group.delete = group.delete or request.delete_cluster
            if key not in targets:
                targets.append(key)

    def results(self, source: str) -> list[AuditResult]:
        """The audits `source` asked for, each done once per batch; raises the first failed one's error."""
        results = []
        for key in self._targets.get(source, []):
            group = self._groups[key]
            if group.outcome is None:
                group.outcome = self._audit(key, group)
            if isinstance(group.outcome, Exception):
                raise group.outcome
            results.append(group.outcome)
        return results

    def _audit(self, key: ClusterKey, group: _Group) -> AuditResult | Exception:
        account, region, cluster = key
        # A delete among a live cluster's events means every check (audit_cluster decides).
        checks = group.check_ids if not group.delete else None
        self.audits += 1
        try:
            return self.dispatcher.audit_cluster(
                account, region, cluster, checks, group.request, delete=group.delete
            )
        except Exception as exc:  # kept and raised for every source of this cluster, failing only those
            return exc


def _covers(done: frozenset[str] | None, wanted: Iterable[str] | None) -> bool:
    if done is None:
        return True
    if wanted is None:
        return False
    return set(wanted) <= done
