"""What the read-only Kubernetes client saw inside a cluster, and EKS access entries."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from eks_auditor.model.frozen import FrozenModel


class Container(FrozenModel):
    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = Field(default_factory=dict)


class Workload(FrozenModel):
    """A Deployment or DaemonSet, reduced to what the checks read."""

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str] = Field(default_factory=dict)
    containers: tuple[Container, ...] = ()
    replicas: int | None = None


class AwsNodeSettings(FrozenModel):
    """VPC CNI settings from the aws-node DaemonSet's env; None means unset (the CNI default applies)."""

    warm_eni_target: int | None = None
    warm_ip_target: int | None = None
    minimum_ip_target: int | None = None
    warm_prefix_target: int | None = None
    enable_prefix_delegation: bool = False
    custom_network_cfg: bool = False
    external_snat: bool = False
    # ENABLE_SUBNET_DISCOVERY (VPC CNI v1.18.0+, default true): None when unset or unparseable.
    enable_subnet_discovery: bool | None = None
    image: str | None = None


class AwsAuthMapping(FrozenModel):
    kind: str  # mapRoles | mapUsers | mapAccounts
    arn: str
    username: str | None = None
    groups: tuple[str, ...] = ()


class AccessPolicyAssociation(FrozenModel):
    policy_arn: str
    scope_type: str  # cluster | namespace
    namespaces: tuple[str, ...] = ()


class AccessEntry(FrozenModel):
    principal_arn: str
    type: str = "STANDARD"
    username: str | None = None
    kubernetes_groups: tuple[str, ...] = ()
    policies: tuple[AccessPolicyAssociation, ...] = ()


class EniConfig(FrozenModel):
    name: str
    subnet_id: str
    security_groups: tuple[str, ...] = ()


class KubernetesState(FrozenModel):
    """Read through the Kubernetes API. Each part is None when it could not be read (see snapshot gaps)."""

    endpoint: str
    autoscalers: tuple[Workload, ...] | None = None
    aws_node: Workload | None = None
    aws_node_settings: AwsNodeSettings | None = None
    aws_auth: tuple[AwsAuthMapping, ...] | None = None
    eni_configs: tuple[EniConfig, ...] | None = None
    # DaemonSets that ship logs to CloudWatch Logs (Fluent Bit, the CloudWatch agent).
    log_shippers: tuple[Workload, ...] | None = None
