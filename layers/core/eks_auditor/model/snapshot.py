"""The normalized, frozen view of one cluster that every check reads.

Collectors fill it once per evaluation; quirks of the AWS APIs are fixed here, not in checks
(all `clusterLogging` entries merged, versions parsed to integers). A part that could not be
collected is None and its reason is in `gaps`, so checks that need it report ERROR, never PASS.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from pydantic import Field

from eks_auditor.model.frozen import FrozenModel
from eks_auditor.model.kubernetes import AccessEntry, KubernetesState
from eks_auditor.model.network import SecurityGroup, VpcNetwork


class KubernetesVersion(FrozenModel):
    """A Kubernetes minor version compared as integers ("1.9" < "1.10")."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str | None) -> KubernetesVersion | None:
        if not text:
            return None
        parts = text.strip().lstrip("v").split(".")
        try:
            return cls(major=int(parts[0]), minor=int(parts[1]))
        except (IndexError, ValueError):
            return None

    def as_tuple(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, KubernetesVersion):
            return NotImplemented
        return self.as_tuple() < other.as_tuple()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, KubernetesVersion):
            return NotImplemented
        return self.as_tuple() <= other.as_tuple()

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


class EndpointAccess(FrozenModel):
    public: bool
    private: bool
    public_cidrs: tuple[str, ...] = ()


class ClusterInfo(FrozenModel):
    """DescribeCluster, normalized."""

    status: str
    version: str | None = None
    parsed_version: KubernetesVersion | None = None
    platform_version: str | None = None
    endpoint_url: str | None = None
    certificate_authority: str | None = None  # base64 PEM, as DescribeCluster returns it
    endpoint_access: EndpointAccess
    vpc_id: str
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    cluster_security_group_id: str | None = None
    # The union of every `logging.clusterLogging` entry with enabled=true.
    enabled_log_types: frozenset[str] = frozenset()
    # Resources listed in any encryptionConfig entry (e.g. {"secrets"}).
    encrypted_resources: frozenset[str] = frozenset()
    oidc_issuer: str | None = None
    # accessConfig.authenticationMode: CONFIG_MAP (aws-auth only), API (access entries only), or
    # API_AND_CONFIG_MAP; None when DescribeCluster did not say.
    authentication_mode: str | None = None
    # kubernetesNetworkConfig.ipFamily, lower case: "ipv4" (also when DescribeCluster omits it) or "ipv6".
    ip_family: str = "ipv4"
    created_at: datetime | None = None
    tags: Mapping[str, str] = Field(default_factory=dict)


class NodeGroup(FrozenModel):
    """A managed node group (DescribeNodegroup) or a self-managed ASG tagged for the cluster."""

    name: str
    kind: str = "managed"  # managed | self-managed
    arn: str | None = None
    status: str | None = None
    capacity_type: str = "ON_DEMAND"  # ON_DEMAND | SPOT
    instance_types: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    min_size: int = 0
    max_size: int = 0
    desired_size: int = 0
    ami_type: str | None = None
    ssh_key: str | None = None
    ssh_source_security_groups: tuple[str, ...] = ()
    asg_names: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    labels: Mapping[str, str] = Field(default_factory=dict)
    tags: Mapping[str, str] = Field(default_factory=dict)


class InstanceTypeInfo(FrozenModel):
    """DescribeInstanceTypes, reduced to what the VPC CNI capacity model needs (default network card)."""

    name: str
    vcpus: int
    hypervisor: str | None = None  # "nitro", "xen", or None for bare metal
    bare_metal: bool = False
    max_enis: int
    ipv4_per_eni: int
    ipv6_supported: bool = False

    @property
    def nitro(self) -> bool:
        # Bare-metal instances run on the Nitro system too, though they report no hypervisor.
        return self.hypervisor == "nitro" or (self.bare_metal and self.hypervisor is None)


class VersionSupport(FrozenModel):
    version: str
    end_of_standard_support: date | None = None
    end_of_extended_support: date | None = None
    source: str  # "eks:DescribeClusterVersions" or the calendar's URL and read date


class PodIdentityAssociation(FrozenModel):
    """One EKS Pod Identity association (ListPodIdentityAssociations summary)."""

    namespace: str
    service_account: str
    association_id: str | None = None


class ClusterSnapshot(FrozenModel):
    account: str
    region: str
    name: str
    arn: str
    collected_at: datetime
    cluster: ClusterInfo | None = None
    network: VpcNetwork | None = None
    nodegroups: tuple[NodeGroup, ...] | None = None
    instance_types: Mapping[str, InstanceTypeInfo] | None = None
    # The nodes' security groups (launch template / launch configuration, else the cluster SG), by id.
    node_security_groups: Mapping[str, SecurityGroup] | None = None
    kubernetes: KubernetesState | None = None
    access_entries: tuple[AccessEntry, ...] | None = None
    addons: frozenset[str] | None = None  # EKS add-on names (ListAddons)
    pod_identity_associations: tuple[PodIdentityAssociation, ...] | None = None
    iam_oidc_providers: frozenset[str] | None = None  # issuer host/path, without https://
    version_support: VersionSupport | None = None
    # part name -> why it could not be collected (e.g. "network": "AccessDenied on ec2:DescribeSubnets")
    gaps: Mapping[str, str] = Field(default_factory=dict)

    def node_subnet_ids(self) -> tuple[str, ...]:
        """Subnets the nodes run in: node group subnets, else the cluster's subnets."""
        seen: dict[str, None] = {}
        for group in self.nodegroups or ():
            seen.update(dict.fromkeys(group.subnet_ids))
        if not seen and self.cluster:
            seen.update(dict.fromkeys(self.cluster.subnet_ids))
        return tuple(seen)
