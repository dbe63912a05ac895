"""The parts of what the auditor reads: the snapshot's fields, plus what the spot event path looks up."""

from __future__ import annotations

from enum import StrEnum


class Part(StrEnum):
    """One unit of collection. A snapshot part's value is the ClusterSnapshot field of the same name."""

    CLUSTER = "cluster"
    NETWORK = "network"
    NODEGROUPS = "nodegroups"
    INSTANCE_TYPES = "instance_types"
    NODE_SECURITY_GROUPS = "node_security_groups"
    IAM_OIDC_PROVIDERS = "iam_oidc_providers"
    VERSION_SUPPORT = "version_support"
    KUBERNETES = "kubernetes"
    ACCESS_ENTRIES = "access_entries"
    ADDONS = "addons"
    POD_IDENTITY = "pod_identity_associations"
    # Not a snapshot field: the spot event handler's one DescribeInstances per batch (eks_auditor.spot).
    SPOT_INSTANCES = "spot_instances"


SNAPSHOT_PARTS: frozenset[Part] = frozenset(Part) - {Part.SPOT_INSTANCES}
