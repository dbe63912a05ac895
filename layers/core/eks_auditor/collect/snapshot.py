"""Build one cluster's ClusterSnapshot: DescribeCluster, then each requested part in its own error boundary.

One SnapshotCollector is one scan: its caches (DescribeCluster per cluster, the network per VPC, the
OIDC provider list, the version table per region) live until `start_scan()`. Keep AwsClients
long-lived and start a new scan per invocation, so an event-driven re-audit sees fresh state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from eks_auditor.collect.clients import AwsClients
from eks_auditor.collect.cluster import (
    collect_nodegroups,
    describe_cluster,
    describe_self_managed_groups_of,
    list_clusters,
    normalize_cluster,
)
from eks_auditor.collect.errors import ClusterNotFound, ClusterUnavailable, PartUnavailable, describe_error
from eks_auditor.collect.iam import list_oidc_providers
from eks_auditor.collect.network import VpcNetworkCache
from eks_auditor.collect.permissions import action_for
from eks_auditor.collect.versions import CalendarLookup, calendar_lookup, describe_cluster_versions
from eks_auditor.concurrency import SingleFlight, gather
from eks_auditor.config import MAX_CONCURRENCY
from eks_auditor.model.kubernetes import AccessEntry
from eks_auditor.model.network import SecurityGroup, VpcNetwork
from eks_auditor.model.part import Part
from eks_auditor.model.snapshot import (
    ClusterInfo,
    ClusterSnapshot,
    InstanceTypeInfo,
    NodeGroup,
    PodIdentityAssociation,
    VersionSupport,
)

logger = logging.getLogger(__name__)

CLUSTER_PART = Part.CLUSTER
# The parts the AWS APIs answer; "kubernetes" needs the cluster's own API (and a route to it).
AWS_PARTS = frozenset(
    {
        CLUSTER_PART,
        Part.NETWORK,
        Part.NODEGROUPS,
        Part.INSTANCE_TYPES,
        Part.NODE_SECURITY_GROUPS,
        Part.IAM_OIDC_PROVIDERS,
        Part.VERSION_SUPPORT,
        Part.ACCESS_ENTRIES,
        Part.ADDONS,
        Part.POD_IDENTITY,
    }
)
_SNAPSHOT_PARTS = frozenset(ClusterSnapshot.model_fields) - {
    "account",
    "region",
    "name",
    "arn",
    "collected_at",
    "gaps",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class KubeEndpointOverride(Protocol):
    """Reach one cluster's Kubernetes API through a tunnel (eks_auditor.runtime.KubeOverride)."""

    endpoint: str | None
    ca_file: str | None


@dataclass(frozen=True)
class PartContext:
    """What a part collector gets: the clients, the described cluster and the parts collected before it."""

    clients: AwsClients
    region: str
    cluster_name: str
    cluster: ClusterInfo
    raw_cluster: Mapping[str, Any]
    collected: Mapping[str, object]


@dataclass(frozen=True)
class PartResult:
    """A part's value with gaps of its own (e.g. "kubernetes.aws_auth"); None value needs a gap at `name`."""

    value: object
    gaps: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartCollector:
    """Collects one ClusterSnapshot field. `requires`: parts that must be collected (non-None) first."""

    name: str
    collect: Callable[[PartContext], object]
    requires: tuple[str, ...] = ()


def _waves(plan: Sequence[str], parts: Mapping[str, PartCollector]) -> list[list[str]]:
    """The plan's parts in waves: each part after the parts it requires, in plan order within a wave."""
    waves: list[list[str]] = []
    placed: dict[str, int] = {}
    for name in plan:
        part = parts.get(name)
        requires = [dep for dep in (part.requires if part else ()) if dep in placed]
        wave = 1 + max((placed[dep] for dep in requires), default=-1)
        placed[name] = wave
        if wave == len(waves):
            waves.append([])
        waves[wave].append(name)
    return waves


class SnapshotCollector:
    def __init__(
        self,
        clients: AwsClients,
        *,
        now: Callable[[], datetime] = utcnow,
        calendar: Callable[[], CalendarLookup] = calendar_lookup,
        kube_overrides: Mapping[str, KubeEndpointOverride] | None = None,
        extra_parts: Sequence[PartCollector] = (),
        known_egress_tgws: frozenset[str] = frozenset(),
        network_reads_in_flight: int = 1,
        parts_in_flight: int = 1,
        audits_in_flight: int = MAX_CONCURRENCY,
    ) -> None:
        self.clients = clients
        self.network_reads_in_flight = network_reads_in_flight
        self.parts_in_flight = parts_in_flight
        self.audits_in_flight = audits_in_flight
        self._part_pool: ThreadPoolExecutor | None = None
        self.now = now
        self.kube_overrides: Mapping[str, KubeEndpointOverride] = kube_overrides or {}
        self._calendar_factory = calendar
        self._lock = threading.Lock()
        self.known_egress_tgws = known_egress_tgws
        self._parts: dict[str, PartCollector] = {}
        for part in (
            PartCollector(Part.NETWORK, self._network),
            PartCollector(Part.NODEGROUPS, self._nodegroups),
            PartCollector(Part.INSTANCE_TYPES, self._instance_types, requires=(Part.NODEGROUPS,)),
            PartCollector(Part.NODE_SECURITY_GROUPS, self._node_security_groups, requires=(Part.NODEGROUPS,)),
            PartCollector(Part.IAM_OIDC_PROVIDERS, self._oidc_providers),
            PartCollector(Part.VERSION_SUPPORT, self._version_support),
            PartCollector(Part.ACCESS_ENTRIES, self._access_entries),
            PartCollector(Part.ADDONS, self._addons),
            PartCollector(Part.POD_IDENTITY, self._pod_identity),
            PartCollector(Part.KUBERNETES, self._kubernetes),
            *extra_parts,
        ):
            self.register(part)
        self.start_scan()

    def register(self, part: PartCollector) -> None:
        """Add (or replace) the collector of a snapshot part; parts run in registration order."""
        if part.name not in _SNAPSHOT_PARTS:
            raise ValueError(f"{part.name!r} is not a ClusterSnapshot part: {sorted(_SNAPSHOT_PARTS)}")
        self._parts[part.name] = part

    def unregister(self, name: str) -> None:
        """Stop collecting a part (e.g. "kubernetes" where the API is unreachable): it becomes a gap."""
        self._parts.pop(name, None)

    @property
    def parts(self) -> frozenset[str]:
        """The parts this collector can fetch ("cluster" included)."""
        return frozenset({CLUSTER_PART, *self._parts})

    def start_scan(self) -> None:
        """Start a new scan: forget every cached response."""
        with self._lock:
            self._clusters: dict[tuple[str, str], Mapping[str, Any]] = {}
            self._networks = VpcNetworkCache(self.known_egress_tgws, self.network_reads_in_flight)
            # Single-flight: concurrent audits wait for one fetch instead of each making the call, and
            # without holding self._lock (which every cache read takes) while the call is in flight.
            self._oidc: SingleFlight[str, frozenset[str] | Exception] = SingleFlight()
            self._versions: SingleFlight[str, dict[tuple[int, int], VersionSupport] | Exception] = (
                SingleFlight()
            )
            self._calendar: CalendarLookup | Exception | None = None
            self._nodegroup_cache: dict[tuple[str, str], tuple[NodeGroup, ...]] = {}
            # Clusters a scan announced per region (expect_clusters), and their self-managed ASGs read
            # together; None where that read failed (each audit then reads its own).
            self._expected: dict[str, tuple[str, ...]] = {}
            self._self_managed: SingleFlight[str, dict[str, list[Mapping[str, Any]]] | None] = SingleFlight()

    def list_clusters(self, region: str) -> list[str]:
        return list_clusters(self.clients.eks(region))

    def expect_clusters(self, region: str, cluster_names: Sequence[str]) -> None:
        """This scan will audit these clusters of `region`: the first audit that reads node groups reads
        the self-managed ASGs of them all (one call per 50 clusters instead of one per cluster)."""
        with self._lock:
            self._expected[region] = tuple(dict.fromkeys((*self._expected.get(region, ()), *cluster_names)))

    def cluster_vpc(self, region: str, cluster_name: str) -> str | None:
        """The cluster's VPC id; None when the cluster no longer exists."""
        try:
            raw = self._describe(region, cluster_name)
        except ClusterNotFound:
            return None
        return (raw.get("resourcesVpcConfig") or {}).get("vpcId") or None

    def collect(self, region: str, cluster_name: str, parts: frozenset[str] | None = None) -> ClusterSnapshot:
        """The snapshot with "cluster" and the requested parts (every registered part when None).

        Raises ClusterNotFound (the cluster does not exist) or ClusterUnavailable (DescribeCluster
        failed otherwise). A part that fails is None with its reason in `gaps`; the others are intact.
        """
        collected_at = self.now()
        raw = self._describe(region, cluster_name)
        cluster = normalize_cluster(raw)
        values: dict[str, object] = {}
        gaps: dict[str, str] = {}
        plan = self._plan(parts)
        found: dict[str, tuple[dict[str, object], dict[str, str]]] = {}
        # Parts that do not depend on each other are read together (parts_in_flight at a time; 1 reads
        # them in turn); each wave sees the values and gaps of the waves before it.
        for wave in _waves(plan, self._parts):
            found |= gather(
                {
                    name: partial(self._collect_part, name, region, cluster_name, cluster, raw, values, gaps)
                    for name in wave
                },
                in_flight=self.parts_in_flight,
                pool=self._parts_pool(),
            )
            for name in wave:
                values.update(found[name][0])
                gaps.update(found[name][1])
        # Gaps in plan order, as reading the parts in turn would have recorded them.
        gaps = {key: reason for name in plan for key, reason in found[name][1].items()}
        arn = str(raw.get("arn") or "")
        return ClusterSnapshot(
            account=_account_of(arn),
            region=region,
            name=cluster_name,
            arn=arn,
            collected_at=collected_at,
            cluster=cluster,
            gaps=gaps,
            **values,
        )

    def _parts_pool(self) -> ThreadPoolExecutor | None:
        """Threads that read parts, kept for the collector's life (a part never waits for another part's
        task: a VPC's reads run on threads of their own). Sized for every audit in flight at once."""
        if self.parts_in_flight <= 1:
            return None
        with self._lock:
            if self._part_pool is None:
                self._part_pool = ThreadPoolExecutor(
                    max_workers=self.audits_in_flight * self.parts_in_flight, thread_name_prefix="part"
                )
            return self._part_pool

    def _collect_part(
        self,
        name: str,
        region: str,
        cluster_name: str,
        cluster: ClusterInfo,
        raw: Mapping[str, Any],
        values: Mapping[str, object],
        gaps: Mapping[str, str],
    ) -> tuple[dict[str, object], dict[str, str]]:
        """One part: its value (when collected) and its gaps, given the parts collected before it."""
        part = self._parts.get(name)
        if part is None:
            return {}, {name: "no collector for this part is configured"}
        missing = [dep for dep in part.requires if dep != CLUSTER_PART and values.get(dep) is None]
        if missing:
            return {}, {name: "; ".join(f"needs {dep}: {gaps.get(dep, 'not collected')}" for dep in missing)}
        context = PartContext(self.clients, region, cluster_name, cluster, raw, dict(values))
        new_values: dict[str, object] = {}
        new_gaps: dict[str, str] = {}
        try:
            value = part.collect(context)
        except PartUnavailable as exc:
            new_gaps[name] = exc.reason
        except ClientError as exc:
            new_gaps[name] = describe_error(exc, action_for(exc.operation_name, name))
        except BotoCoreError as exc:
            new_gaps[name] = describe_error(exc)
        else:
            if isinstance(value, PartResult):
                new_gaps.update(value.gaps)
                value = value.value
            if value is None:
                new_gaps.setdefault(name, "collector returned nothing")
            else:
                new_values[name] = value
        if name in new_gaps:
            logger.warning("%s/%s: %s not collected: %s", region, cluster_name, name, new_gaps[name])
        return new_values, new_gaps

    def _plan(self, parts: frozenset[str] | None) -> list[str]:
        """Requested parts plus their dependencies, in registration order; unregistered parts last."""
        wanted = set(self._parts) if parts is None else set(parts) - {CLUSTER_PART}
        unknown = wanted - _SNAPSHOT_PARTS
        if unknown:
            raise ValueError(f"not ClusterSnapshot parts: {sorted(unknown)}")
        pending = list(wanted)
        while pending:
            part = self._parts.get(pending.pop())
            for dep in part.requires if part else ():
                if dep != CLUSTER_PART and dep not in wanted:
                    wanted.add(dep)
                    pending.append(dep)
        ordered = [name for name in self._parts if name in wanted]
        return ordered + sorted(wanted - set(ordered))

    def _describe(self, region: str, cluster_name: str) -> Mapping[str, Any]:
        key = (region, cluster_name)
        with self._lock:
            cached = self._clusters.get(key)
        if cached is not None:
            return cached
        try:
            raw = describe_cluster(self.clients.eks(region), region, cluster_name)
        except ClientError as exc:
            reason = describe_error(exc, action_for(exc.operation_name, CLUSTER_PART))
            raise ClusterUnavailable(region, cluster_name, reason) from exc
        except BotoCoreError as exc:
            raise ClusterUnavailable(region, cluster_name, describe_error(exc)) from exc
        with self._lock:
            self._clusters[key] = raw
        return raw

    # The built-in parts.

    def _network(self, context: PartContext) -> VpcNetwork:
        vpc_id = context.cluster.vpc_id
        if not vpc_id:
            raise PartUnavailable("DescribeCluster returned no resourcesVpcConfig.vpcId")
        region = context.region
        return self._networks.get(
            self.clients.ec2(region), region, vpc_id, lambda: self.clients.client("network-firewall", region)
        )

    def _nodegroups(self, context: PartContext) -> tuple[NodeGroup, ...]:
        return self._cluster_nodegroups(context.region, context.cluster_name)

    def _cluster_nodegroups(self, region: str, cluster_name: str) -> tuple[NodeGroup, ...]:
        key = (region, cluster_name)
        with self._lock:
            cached = self._nodegroup_cache.get(key)
        if cached is not None:
            return cached
        groups = collect_nodegroups(
            self.clients.eks(region),
            self.clients.autoscaling(region),
            self.clients.ec2(region),
            cluster_name,
            self._expected_self_managed(region, cluster_name),
        )
        with self._lock:
            self._nodegroup_cache[key] = groups
        return groups

    def _expected_self_managed(self, region: str, cluster_name: str) -> list[Mapping[str, Any]] | None:
        """The cluster's self-managed ASGs from the read of every expected cluster of the region; None
        when it was not expected or that read failed (collect_nodegroups then reads the cluster's own, and
        its error, if any, is this cluster's)."""
        with self._lock:
            expected = self._expected.get(region, ())
        if cluster_name not in expected or len(expected) < 2:
            return None

        def read_all() -> dict[str, list[Mapping[str, Any]]] | None:
            try:
                return describe_self_managed_groups_of(self.clients.autoscaling(region), expected)
            except (ClientError, BotoCoreError) as exc:
                logger.info(
                    "self-managed groups of %d clusters in %s not read together: %s",
                    len(expected),
                    region,
                    exc,
                )
                return None

        found = self._self_managed.get(region, read_all)
        return None if found is None else found.get(cluster_name)

    def prefetch_instance_types(self, region: str, cluster_names: Sequence[str]) -> None:
        """Describe the instance types of several clusters' node groups in one call per 100 types.

        A worker given a batch of clusters calls this first, so a scan costs ceil(types / 100)
        DescribeInstanceTypes per region instead of one per cluster that brings new types. The node
        groups read here are reused by the audits (same scan). Failures are left to each audit's
        own error boundary, which reports them.
        """
        from eks_auditor.collect.instance_types import describe_instance_types

        types: set[str] = set()
        for name in cluster_names:
            try:
                groups = self._cluster_nodegroups(region, name)
                types.update(t for group in groups for t in group.instance_types)
            except (ClientError, BotoCoreError) as exc:
                logger.info("prefetch: node groups of %s/%s not read: %s", region, name, exc)
        if types:
            try:
                describe_instance_types(self.clients.ec2(region), region, types)
            except (ClientError, BotoCoreError) as exc:
                logger.info("prefetch: instance types in %s not described: %s", region, exc)

    def _instance_types(self, context: PartContext) -> PartResult:
        from eks_auditor.collect.instance_types import describe_instance_types

        groups: tuple[NodeGroup, ...] = context.collected[Part.NODEGROUPS]  # type: ignore[assignment]
        wanted = sorted({t for group in groups for t in group.instance_types})
        found: Mapping[str, InstanceTypeInfo] = (
            describe_instance_types(self.clients.ec2(context.region), context.region, wanted)
            if wanted
            else {}
        )
        unknown = [t for t in wanted if t not in found]
        gaps = {"instance_types.unknown": f"EC2 does not describe {', '.join(unknown)}"} if unknown else {}
        return PartResult(dict(found), gaps)

    def _node_security_groups(self, context: PartContext) -> dict[str, SecurityGroup]:
        from eks_auditor.collect.network import describe_security_groups

        groups: tuple[NodeGroup, ...] = context.collected[Part.NODEGROUPS]  # type: ignore[assignment]
        wanted = sorted(node_security_group_ids(groups, context.cluster.cluster_security_group_id))
        return describe_security_groups(self.clients.ec2(context.region), wanted) if wanted else {}

    def _oidc_providers(self, context: PartContext) -> frozenset[str]:
        def fetch() -> frozenset[str] | Exception:
            try:
                return list_oidc_providers(self.clients.iam())
            except (ClientError, BotoCoreError) as exc:
                return exc

        found = self._oidc.get("iam", fetch)
        if isinstance(found, Exception):
            raise found
        return found

    def _version_support(self, context: PartContext) -> VersionSupport:
        version = context.cluster.parsed_version
        if version is None:
            raise PartUnavailable(f"DescribeCluster returned no usable version: {context.cluster.version!r}")
        table = self._version_table(context.region)
        if not isinstance(table, Exception) and version.as_tuple() in table:
            return table[version.as_tuple()]
        if isinstance(table, ClientError):
            api_reason = describe_error(table, action_for(table.operation_name, Part.VERSION_SUPPORT))
        elif isinstance(table, Exception):
            api_reason = describe_error(table)
        else:
            api_reason = f"eks:DescribeClusterVersions does not list {version}"
        lookup = self._calendar_lookup()
        if isinstance(lookup, Exception):
            raise PartUnavailable(f"{api_reason}; release calendar unavailable: {describe_error(lookup)}")
        support = lookup(version)
        if support is None:
            raise PartUnavailable(f"{api_reason}; the release calendar has no row for {version}")
        logger.info("version support for %s from the release calendar (%s)", version, api_reason)
        return support

    def _version_table(self, region: str) -> dict[tuple[int, int], VersionSupport] | Exception:
        def fetch() -> dict[tuple[int, int], VersionSupport] | Exception:
            try:
                return describe_cluster_versions(self.clients.eks(region))
            except (ClientError, BotoCoreError) as exc:
                # Not offered everywhere (moto: 404); a role may deny it: the calendar answers then.
                return exc

        return self._versions.get(region, fetch)

    def _calendar_lookup(self) -> CalendarLookup | Exception:
        with self._lock:
            if self._calendar is None:
                try:
                    self._calendar = self._calendar_factory()
                except Exception as exc:  # a missing or unreadable calendar is a gap, not a crash
                    self._calendar = exc
            return self._calendar

    def _access_entries(self, context: PartContext) -> tuple[AccessEntry, ...]:
        from eks_auditor.collect.access_entries import read_access_entries

        if context.cluster.authentication_mode == "CONFIG_MAP":
            # aws-auth only: EKS refuses ListAccessEntries (InvalidRequestException), which
            # read_access_entries turns into () as well. No call that cannot succeed.
            return ()
        return read_access_entries(self.clients.eks(context.region), context.cluster_name)

    def _addons(self, context: PartContext) -> frozenset[str]:
        from eks_auditor.collect.addons import list_addons

        return list_addons(self.clients.eks(context.region), context.cluster_name)

    def _pod_identity(self, context: PartContext) -> tuple[PodIdentityAssociation, ...]:
        from eks_auditor.collect.addons import list_pod_identity_associations

        return list_pod_identity_associations(self.clients.eks(context.region), context.cluster_name)

    def _kubernetes(self, context: PartContext) -> PartResult:
        from eks_auditor.collect.kubernetes import read_kubernetes

        override = self.kube_overrides.get(context.cluster_name)
        state, gaps = read_kubernetes(
            context.cluster,
            context.cluster_name,
            # One STS client per region signs every cluster's token (clients are shared across threads).
            self.clients.sts(context.region),
            endpoint_override=override.endpoint if override else None,
            ca_file=override.ca_file if override else None,
            region=context.region,
        )
        return PartResult(state, gaps)


def node_security_group_ids(groups: Sequence[NodeGroup], cluster_sg: str | None) -> set[str]:
    """The security groups on the nodes: each group's launch-template (or launch-configuration) groups;
    a managed group whose template names none gets the cluster security group from EKS."""
    wanted = {sg for g in groups for sg in g.security_group_ids}
    if cluster_sg and any(g.kind == "managed" and not g.security_group_ids for g in groups):
        wanted.add(cluster_sg)
    return wanted


def _account_of(arn: str) -> str:
    # arn:aws:eks:<region>:<account>:cluster/<name>: no STS call needed.
    fields = arn.split(":")
    return fields[4] if len(fields) > 5 else ""
