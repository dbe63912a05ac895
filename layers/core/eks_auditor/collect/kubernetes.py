"""Reads inside the cluster through the Kubernetes API: cluster-autoscaler, aws-node, aws-auth, ENIConfigs.

One error boundary per read. What can end all reads at once (endpoint unreachable, TLS failure, the
token rejected with 401) makes the whole state None with a gap under "kubernetes"; a 403 or another
failure on one read makes that part None with a gap under "kubernetes.<part>", and the other reads go on.

A part that is None without a gap was read and is absent: `aws_node` None when the cluster has no
aws-node DaemonSet (another CNI). Absent aws-auth ConfigMap or ENIConfig CRD read as empty tuples.

Access: AmazonEKSViewPolicy (an EKS access policy, associated at cluster scope) allows get/list on
Deployments, DaemonSets and ConfigMaps, not on Secrets and not on custom resources such as ENIConfigs
(https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml

from eks_auditor.kube.client import KubeClient, ssl_context
from eks_auditor.kube.errors import KubeAuthError, KubeError, KubeNotFound, KubeTlsError, KubeUnreachable
from eks_auditor.kube.token import TOKENS, TokenCache, generate_token, regional_sts_endpoint
from eks_auditor.model.kubernetes import (
    AwsAuthMapping,
    AwsNodeSettings,
    Container,
    EniConfig,
    KubernetesState,
    Workload,
)
from eks_auditor.model.part import Part
from eks_auditor.model.snapshot import ClusterInfo

logger = logging.getLogger(__name__)

PART = Part.KUBERNETES
AUTOSCALERS = "kubernetes.autoscalers"
AWS_NODE = "kubernetes.aws_node"
AWS_AUTH = "kubernetes.aws_auth"
ENI_CONFIGS = "kubernetes.eni_configs"
LOG_SHIPPERS = "kubernetes.log_shippers"

DEPLOYMENTS_PATH = "/apis/apps/v1/deployments"
AWS_NODE_PATH = "/apis/apps/v1/namespaces/kube-system/daemonsets/aws-node"
AWS_AUTH_PATH = "/api/v1/namespaces/kube-system/configmaps/aws-auth"
ENI_CONFIGS_PATH = "/apis/crd.k8s.amazonaws.com/v1alpha1/eniconfigs"
DAEMONSETS_PATH = "/apis/apps/v1/daemonsets"

_VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
GRANT: Mapping[str, str] = {
    AUTOSCALERS: (
        f"Associate {_VIEW_POLICY} with the auditor's access entry at cluster scope (listing Deployments "
        "in all namespaces needs cluster scope; a namespace-scoped association is not enough), or bind "
        "the `view` ClusterRole to a group the auditor is mapped to"
    ),
    AWS_NODE: (
        f"Associate {_VIEW_POLICY} with the auditor's access entry (cluster scope, or namespace "
        "kube-system); it allows get on DaemonSets"
    ),
    AWS_AUTH: (
        f"Associate {_VIEW_POLICY} with the auditor's access entry (cluster scope, or namespace "
        "kube-system); it allows get on ConfigMaps (not on Secrets)"
    ),
    LOG_SHIPPERS: (
        f"Associate {_VIEW_POLICY} with the auditor's access entry at cluster scope (listing DaemonSets in "
        "all namespaces needs cluster scope)"
    ),
    ENI_CONFIGS: (
        "AmazonEKSViewPolicy does not cover custom resources: bind a ClusterRole allowing get/list on "
        "eniconfigs (API group crd.k8s.amazonaws.com) to a Kubernetes group named in the auditor's access "
        "entry (kubernetesGroups), or associate AmazonEKSAdminViewPolicy (it can also read Secrets)"
    ),
}

_AUTOSCALER_NAME = "cluster-autoscaler"
_AUTOSCALER_LABELS: Mapping[str, frozenset[str]] = {
    "app.kubernetes.io/name": frozenset({"aws-cluster-autoscaler", "cluster-autoscaler"}),
    "app": frozenset({"cluster-autoscaler"}),
    "k8s-app": frozenset({"cluster-autoscaler"}),
}
_AWS_NODE_CONTAINER = "aws-node"
# strconv.ParseBool, which the CNI's ipamd uses for its boolean settings.
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class _Abort(Exception):
    """A failure that ends every read (nothing can be read from this endpoint)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_kubernetes(
    cluster: ClusterInfo,
    cluster_name: str,
    session_or_sts_client: Any,
    *,
    endpoint_override: str | None = None,
    ca_file: str | None = None,
    tls_server_name: str | None = None,
    region: str | None = None,
    token_cache: TokenCache = TOKENS,
    connect_timeout: float = 3.0,
    read_timeout: float = 5.0,
) -> tuple[KubernetesState | None, dict[str, str]]:
    """Read what the checks need from the cluster's Kubernetes API; returns (state, gaps).

    `session_or_sts_client`: a boto3 Session (an STS client on the regional endpoint is built from it)
    or an STS client. `endpoint_override` / `ca_file`: reach the API through a tunnel or proxy; by
    default the certificate is then verified against the cluster endpoint's own host name (what a
    tunnel forwards to), unless `tls_server_name` names another.
    """
    gaps: dict[str, str] = {}
    endpoint = endpoint_override or cluster.endpoint_url
    if not endpoint:
        gaps[PART] = f"DescribeCluster returned no API endpoint (cluster status {cluster.status})"
        return None, gaps
    server_name = tls_server_name
    if server_name is None and endpoint_override and cluster.endpoint_url:
        server_name = urlsplit(cluster.endpoint_url).hostname
    try:
        context = ssl_context(ca_data=None if ca_file else cluster.certificate_authority, ca_file=ca_file)
        sts_client, identity = _sts_client(session_or_sts_client, region)
    except (KubeError, OSError, ValueError) as error:
        gaps[PART] = f"cannot prepare the Kubernetes client: {error}"
        return None, gaps

    unshared: list[str] = []

    def token() -> str:
        if identity is not None:
            return token_cache.get(sts_client, cluster_name, identity=identity)
        # Unknown signer identity: never share its token across calls, but sign once for this one.
        if not unshared:
            unshared.append(generate_token(sts_client, cluster_name))
        return unshared[0]

    client = KubeClient(
        endpoint,
        token=token,
        context=context,
        tls_server_name=server_name,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    try:
        autoscalers = _guard(AUTOSCALERS, gaps, cluster, endpoint_override, lambda: _read_autoscalers(client))
        aws_node_read = _guard(AWS_NODE, gaps, cluster, endpoint_override, lambda: _read_aws_node(client))
        aws_auth = _guard(AWS_AUTH, gaps, cluster, endpoint_override, lambda: _read_aws_auth(client))
        log_shippers = _guard(
            LOG_SHIPPERS, gaps, cluster, endpoint_override, lambda: _read_log_shippers(client)
        )
        aws_node, settings = aws_node_read if aws_node_read else (None, None)
        if settings is not None and not settings.custom_network_cfg:
            # ENIConfigs only take effect with custom networking; unused ones are not worth a gap.
            eni_configs: tuple[EniConfig, ...] | None = ()
        else:
            eni_configs = _guard(
                ENI_CONFIGS, gaps, cluster, endpoint_override, lambda: _read_eni_configs(client)
            )
    except _Abort as abort:
        return None, {PART: abort.reason}
    state = KubernetesState(
        endpoint=endpoint,
        autoscalers=autoscalers,
        aws_node=aws_node,
        aws_node_settings=settings,
        aws_auth=aws_auth,
        eni_configs=eni_configs,
        log_shippers=log_shippers,
    )
    return state, gaps


def _sts_client(source: Any, region: str | None) -> tuple[Any, str | None]:
    """(STS client, identity for the token cache). The identity is the access key id when known."""
    if hasattr(source, "generate_presigned_url"):
        # botocore documents _get_credentials as private; without it the token is simply not shared.
        getter = getattr(source, "_get_credentials", None)
        credentials = getter() if callable(getter) else None
        return source, getattr(credentials, "access_key", None)
    region_name = region or source.region_name
    if not region_name:
        raise ValueError("no region for the STS client that signs the EKS token")
    client = source.client("sts", region_name=region_name, endpoint_url=regional_sts_endpoint(region_name))
    credentials = source.get_credentials()
    return client, getattr(credentials, "access_key", None)


def _guard[T](
    part: str,
    gaps: dict[str, str],
    cluster: ClusterInfo,
    endpoint_override: str | None,
    read: Callable[[], T],
) -> T | None:
    """Run one read; record its gap, or raise _Abort when no read can succeed."""
    try:
        return read()
    except KubeUnreachable as error:
        raise _Abort(f"{error.describe()}. {_open_path(cluster, endpoint_override)}") from None
    except KubeTlsError as error:
        raise _Abort(error.describe()) from None
    except KubeAuthError as error:
        if error.status == 401:
            raise _Abort(error.describe()) from None
        gaps[part] = f"{error.reason} ({error.path}). {GRANT[part]}"
    except KubeError as error:
        gaps[part] = error.describe()
    except _ParseError as error:
        gaps[part] = str(error)
    return None


def _open_path(cluster: ClusterInfo, endpoint_override: str | None) -> str:
    if endpoint_override:
        return f"Check the tunnel or proxy behind the endpoint override {endpoint_override}"
    access = cluster.endpoint_access
    cluster_sg = f" {cluster.cluster_security_group_id}" if cluster.cluster_security_group_id else ""
    in_vpc = (
        f"run the auditor's Kubernetes reader in subnets of {cluster.vpc_id} (the template's optional "
        "subnet and security-group parameters) with a security group that the cluster security group"
        f"{cluster_sg} accepts on TCP 443"
    )
    if not access.public:
        return (
            f"The endpoint is private-only, reachable only from inside the VPC: {in_vpc}; or scan through "
            "a tunnel with an endpoint override"
        )
    cidrs = ", ".join(access.public_cidrs) or "0.0.0.0/0"
    return (
        f"The public endpoint admits {cidrs}: add the auditor's egress address to publicAccessCidrs, "
        f"or {in_vpc}"
    )


class _ParseError(Exception):
    """An object the API returned that does not have the shape Kubernetes documents."""


# --- Deployments: cluster-autoscaler -------------------------------------------------------------


def _read_autoscalers(client: KubeClient) -> tuple[Workload, ...]:
    found = [item for item in client.list(DEPLOYMENTS_PATH) if is_cluster_autoscaler(item)]
    return tuple(to_workload(item, "Deployment") for item in found)


def is_cluster_autoscaler(deployment: Mapping[str, Any]) -> bool:
    """By name (Helm names it e.g. cluster-autoscaler-aws-cluster-autoscaler), labels, or image."""
    metadata = deployment.get("metadata") or {}
    if _AUTOSCALER_NAME in str(metadata.get("name", "")):
        return True
    template = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    labels = {**(template.get("labels") or {}), **(metadata.get("labels") or {})}
    if any(labels.get(key) in values for key, values in _AUTOSCALER_LABELS.items()):
        return True
    return any(_AUTOSCALER_NAME in container.image for container in _containers(deployment))


def to_workload(obj: Mapping[str, Any], kind: str) -> Workload:
    metadata = obj.get("metadata") or {}
    replicas = (obj.get("spec") or {}).get("replicas")
    return Workload(
        kind=kind,
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
        containers=_containers(obj),
        replicas=replicas if isinstance(replicas, int) else None,
    )


def _containers(obj: Mapping[str, Any]) -> tuple[Container, ...]:
    pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = []
    for raw in pod.get("containers") or []:
        # Only literal values: valueFrom (ConfigMap, field refs) is resolved by the kubelet, not visible here.
        env = {
            str(e["name"]): str(e["value"])
            for e in raw.get("env") or []
            if isinstance(e, dict) and "name" in e and "value" in e
        }
        containers.append(
            Container(
                name=str(raw.get("name", "")),
                image=str(raw.get("image", "")),
                command=tuple(str(c) for c in raw.get("command") or []),
                args=tuple(str(a) for a in raw.get("args") or []),
                env=env,
            )
        )
    return tuple(containers)


# --- DaemonSets that ship node and pod logs to CloudWatch Logs ------------------------------------

# Fluent Bit (the aws-for-fluent-bit chart, the amazon-cloudwatch-observability add-on's fluent-bit),
# the CloudWatch agent, and the older fluentd-cloudwatch manifests.
_LOG_SHIPPER_MARKERS = ("fluent-bit", "fluentbit", "cloudwatch-agent", "fluentd-cloudwatch")


def _read_log_shippers(client: KubeClient) -> tuple[Workload, ...]:
    found = [item for item in client.list(DAEMONSETS_PATH) if is_log_shipper(item)]
    return tuple(to_workload(item, "DaemonSet") for item in found)


def is_log_shipper(daemonset: Mapping[str, Any]) -> bool:
    name = str((daemonset.get("metadata") or {}).get("name", "")).lower()
    images = [container.image.lower() for container in _containers(daemonset)]
    return any(marker in text for marker in _LOG_SHIPPER_MARKERS for text in (name, *images))


# --- aws-node DaemonSet ---------------------------------------------------------------------------


def _read_aws_node(client: KubeClient) -> tuple[Workload | None, AwsNodeSettings | None]:
    try:
        daemonset = client.get(AWS_NODE_PATH)
    except KubeNotFound:
        return None, None
    workload = to_workload(daemonset, "DaemonSet")
    return workload, aws_node_settings(workload)


def aws_node_settings(workload: Workload) -> AwsNodeSettings:
    """The VPC CNI settings in the aws-node container's env (unset or unparseable -> None/False)."""
    container = next((c for c in workload.containers if c.name == _AWS_NODE_CONTAINER), None)
    if container is None and workload.containers:
        container = workload.containers[0]
    env = container.env if container else {}
    return AwsNodeSettings(
        warm_eni_target=_int(env.get("WARM_ENI_TARGET")),
        warm_ip_target=_int(env.get("WARM_IP_TARGET")),
        minimum_ip_target=_int(env.get("MINIMUM_IP_TARGET")),
        warm_prefix_target=_int(env.get("WARM_PREFIX_TARGET")),
        enable_prefix_delegation=env.get("ENABLE_PREFIX_DELEGATION", "").strip() in _GO_TRUE,
        custom_network_cfg=env.get("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "").strip() in _GO_TRUE,
        external_snat=env.get("AWS_VPC_K8S_CNI_EXTERNALSNAT", "").strip() in _GO_TRUE,
        enable_subnet_discovery=_go_bool(env.get("ENABLE_SUBNET_DISCOVERY")),
        image=container.image if container else None,
    )


def _go_bool(value: str | None) -> bool | None:
    """strconv.ParseBool as ipamd applies it: unset or unparseable -> None (ipamd's default applies)."""
    text = (value or "").strip()
    return True if text in _GO_TRUE else False if text in _GO_FALSE else None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


# --- aws-auth ConfigMap ---------------------------------------------------------------------------


def _read_aws_auth(client: KubeClient) -> tuple[AwsAuthMapping, ...]:
    try:
        configmap = client.get(AWS_AUTH_PATH)
    except KubeNotFound:
        return ()
    return parse_aws_auth(configmap.get("data") or {})


def parse_aws_auth(data: Mapping[str, str]) -> tuple[AwsAuthMapping, ...]:
    """mapRoles / mapUsers / mapAccounts, each a YAML document inside a string.

    Keys are matched case-insensitively (`rolearn` and `roleARN` both occur; the authenticator's
    JSON decoding accepts either). A mapAccounts entry keeps the account id in `arn`.
    """
    mappings: list[AwsAuthMapping] = []
    for kind, arn_key in (("mapRoles", "rolearn"), ("mapUsers", "userarn")):
        for entry in _yaml_list(data, kind):
            if not isinstance(entry, dict):
                raise _ParseError(f"aws-auth {kind} has an entry that is not a mapping: {entry!r}")
            lowered = {str(k).lower(): v for k, v in entry.items()}
            arn = lowered.get(arn_key)
            if not arn:
                raise _ParseError(f"aws-auth {kind} has an entry without {arn_key}")
            groups = lowered.get("groups") or []
            if isinstance(groups, str):
                groups = [groups]
            username = lowered.get("username")
            mappings.append(
                AwsAuthMapping(
                    kind=kind,
                    arn=str(arn).strip(),
                    username=str(username) if username is not None else None,
                    groups=tuple(str(g) for g in groups),
                )
            )
    for account in _yaml_list(data, "mapAccounts"):
        mappings.append(AwsAuthMapping(kind="mapAccounts", arn=str(account).strip()))
    return tuple(mappings)


def _yaml_list(data: Mapping[str, str], key: str) -> list[Any]:
    text = data.get(key)
    if not text or not text.strip():
        return []
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise _ParseError(f"aws-auth {key} is not valid YAML: {error}") from None
    if document is None:
        return []
    if not isinstance(document, list):
        raise _ParseError(f"aws-auth {key} is not a YAML list")
    return document


# --- ENIConfigs -----------------------------------------------------------------------------------


def _read_eni_configs(client: KubeClient) -> tuple[EniConfig, ...]:
    try:
        items = client.list(ENI_CONFIGS_PATH)
    except KubeNotFound:
        return ()  # the CRD is not installed
    configs = []
    for item in items:
        spec = item.get("spec") or {}
        configs.append(
            EniConfig(
                name=str((item.get("metadata") or {}).get("name", "")),
                subnet_id=str(spec.get("subnet", "")),
                security_groups=tuple(str(sg) for sg in spec.get("securityGroups") or []),
            )
        )
    return tuple(configs)
