"""cluster-autoscaler in clusters whose nodes cannot reach the public EC2 API.

By default cluster-autoscaler fetches the region's instance types from the EC2 API at startup; in a
private cluster without a route there it can crash on startup, and the cluster silently stops scaling
(kubernetes/autoscaler, cluster-autoscaler/cloudprovider/aws/README.md). Three outcome families share
the id `autoscaler_dynamic_instance_list`, one resource each:

- `deployment/<ns>/<name>`: `--aws-use-static-instance-list` is not true and some node subnet is
  isolated (the egress model, `VpcNetwork.egress`: no way out): without a usable `ec2` interface
  endpoint (private DNS on), HIGH for versions that exit on the failed fetch (1.15.6-1.21.2,
  1.22.0-1.22.2, 1.23.0, 1.24.x, or an image without a version: crash loop) and MEDIUM for the others
  (they fall back to the static list; upstream commit ccc3ce0c); LOW with such an endpoint.
- `deployment/<ns>/<name>/discovery/<node group>`: the deployment discovers ASGs by tag
  (`--node-group-auto-discovery=asg:tag=k1,k2=v`) and the node group's ASG lacks those tags, so the
  autoscaler never scales it (HIGH when it discovers no node group at all, else MEDIUM).
- `deployment/<ns>/<name>/version`: the image's minor version differs from the cluster's (MEDIUM).

ASG tags compared: a self-managed node group's `tags` are its ASG's tags. For a managed node group
EKS itself puts `k8s.io/cluster-autoscaler/enabled=true`, `k8s.io/cluster-autoscaler/<cluster>=owned`
and `kubernetes.io/cluster/<cluster>=owned` on the ASG; tags set on the node group are NOT copied to
its ASG, so only those three count for a managed group.

Flags are read from `command` and `args` together (the upstream manifest writes them in `command`),
with cluster-autoscaler's flag semantics (pflag): `--flag` alone is true, `--flag=<bool>` takes Go's
ParseBool values, the last occurrence wins, and `--flag false` as two words is still true (the bare
flag does not consume the next word).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eks_auditor.checks.base import *
from eks_auditor.model.kubernetes import Container, Workload
from eks_auditor.model.network import VpcNetwork
from eks_auditor.model.snapshot import NodeGroup

STATIC_LIST_FLAG = "aws-use-static-instance-list"
DISCOVERY_FLAG = "node-group-auto-discovery"
NODES_FLAG = "nodes"

_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_IMAGE_VERSION = re.compile(r":v?(\d+)\.(\d+)(?:\.\d+)?")
_IMAGE_PATCH = re.compile(r":v?(\d+)\.(\d+)\.(\d+)")

_README = (
    "https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md"
)
_MANAGED_NODEGROUPS_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html"

SPEC = CheckSpec(
    id="autoscaler_dynamic_instance_list",
    title="cluster-autoscaler fetches instance types from an EC2 API its nodes cannot reach",
    severity=Severity.HIGH,
    severity_rule="HIGH / MEDIUM / LOW",
    description=(
        "cluster-autoscaler runs without --aws-use-static-instance-list=true, so at startup it fetches the "
        "region's instance types from the EC2 API. Some node subnets have no route out and no usable ec2 "
        "interface endpoint: the autoscaler can crash on startup and the cluster stops scaling."
    ),
    remediation=(
        "Add --aws-use-static-instance-list=true to the cluster-autoscaler container (Helm: "
        "--set extraArgs.aws-use-static-instance-list=true; manifest: append it to the container's command "
        "or args), and keep the autoscaling and ec2 interface endpoints (private DNS on) in the VPC."
    ),
    references=(_README, PRIVATE_CLUSTERS_DOC),
    requires=(Part.CLUSTER, Part.NETWORK, Part.NODEGROUPS, Part.KUBERNETES),
    events=(
        events.CLUSTER_CONFIG
        + events.CLUSTER_VERSION
        + events.NODE_GROUPS
        + events.ADDONS
        + events.VPC_ENDPOINTS
        + events.NODE_EGRESS
        + events.EGRESS_PATHS
    ),
    schedule_only={
        Part.KUBERNETES: (
            "cluster-autoscaler's Deployment (image, arguments) changes only through the Kubernetes API"
        )
    },
)

_LOW_DESCRIPTION = (
    "cluster-autoscaler runs without --aws-use-static-instance-list=true in a cluster with isolated node "
    "subnets. An ec2 interface endpoint with private DNS lets it fetch instance types today, but its startup "
    "depends on that endpoint; the static list removes the dependency."
)
_FALLBACK_DESCRIPTION = (
    "cluster-autoscaler runs without --aws-use-static-instance-list=true where nodes cannot reach the EC2 "
    "API. This version logs the failed instance-type fetch and falls back to its built-in list: it starts "
    "slowly and may not know instance types released after it was built."
)
_DISCOVERY_TITLE = "cluster-autoscaler does not discover a node group's Auto Scaling group"
_DISCOVERY_DESCRIPTION = (
    "The cluster-autoscaler Deployment discovers Auto Scaling groups by tag "
    "(--node-group-auto-discovery=asg:tag=...), and this node group's ASG lacks those tags: the autoscaler "
    "never scales it."
)
_DISCOVERY_REMEDIATION = (
    "Tag the node group's Auto Scaling group itself with every key (and value) the flag names: aws "
    "autoscaling create-or-update-tags --tags ResourceId=<asg>,ResourceType=auto-scaling-group,"
    "Key=<key>,Value=<value>,PropagateAtLaunch=true. Tags on a managed node group are not copied to its "
    "ASG; EKS adds only k8s.io/cluster-autoscaler/enabled and k8s.io/cluster-autoscaler/<cluster>. If the "
    "node group is meant to stay fixed, suppress this finding for it."
)
_VERSION_TITLE = "cluster-autoscaler's minor version differs from the cluster's"
_VERSION_DESCRIPTION = (
    "The cluster-autoscaler project recommends running the release made for the cluster's Kubernetes minor "
    "version: it embeds that version's scheduler code, and another minor can simulate scheduling wrongly "
    "or call APIs the control plane no longer serves."
)
_VERSION_REMEDIATION = (
    "Run the cluster-autoscaler release whose minor version matches the cluster (e.g. v1.32.x on Kubernetes "
    "1.32), and upgrade it together with the control plane."
)


@dataclass(frozen=True)
class FlagSetting:
    """How one flag ends up after parsing the container's command and args."""

    present: bool
    value: str | None  # the text after `=`, None for the bare form
    source: str | None  # "command" or "args" (the last occurrence)
    note: str | None = None


def _occurrences(container: Container, name: str) -> list[tuple[str | None, str, str | None]]:
    """(value, source, following word) for each `--name[=value]` (or Go's single-dash form)."""
    found = []
    for source, tokens in (("command", container.command), ("args", container.args)):
        for index, token in enumerate(tokens):
            flag, sep, value = token.partition("=")
            if flag.lstrip("-") != name or not flag.startswith("-"):
                continue
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            found.append((value if sep else None, source, following))
    return found


def static_list_setting(container: Container) -> tuple[bool, FlagSetting]:
    """(static list on?, how the flag was written)."""
    occurrences = _occurrences(container, STATIC_LIST_FLAG)
    if not occurrences:
        return False, FlagSetting(present=False, value=None, source=None)
    value, source, following = occurrences[-1]
    if value is None:
        note = None
        if following in _GO_TRUE | _GO_FALSE:
            note = (
                f"written as two words ('--{STATIC_LIST_FLAG} {following}'): the bare flag means true and "
                f"'{following}' is left as a stray argument; write --{STATIC_LIST_FLAG}={following}"
            )
        return True, FlagSetting(present=True, value=None, source=source, note=note)
    if value in _GO_TRUE:
        return True, FlagSetting(present=True, value=value, source=source)
    if value in _GO_FALSE:
        return False, FlagSetting(present=True, value=value, source=source)
    return False, FlagSetting(
        present=True,
        value=value,
        source=source,
        note=f"{value!r} is not a boolean: cluster-autoscaler rejects the flag and does not start",
    )


def discovery_specs(container: Container) -> list[dict[str, str | None]]:
    """Each `asg:tag=k1,k2=v` discovery spec as {key: required value or None}; an ASG matches any spec."""
    specs = []
    for value, _, _ in _occurrences(container, DISCOVERY_FLAG):
        if not value or not value.startswith("asg:"):
            continue
        for clause in value[len("asg:") :].split(":"):
            kind, _, tags = clause.partition("=")
            if kind != "tag" or not tags:
                continue
            spec: dict[str, str | None] = {}
            for item in tags.split(","):
                key, sep, required = item.strip().partition("=")
                if key:
                    spec[key] = required if sep else None
            if spec:
                specs.append(spec)
    return specs


def static_node_asgs(container: Container) -> set[str]:
    """ASG names listed with `--nodes=min:max:name` (managed by the autoscaler without discovery)."""
    names = set()
    for value, _, _ in _occurrences(container, NODES_FLAG):
        if value and value.count(":") >= 2:
            names.add(value.split(":", 2)[2])
    return names


def asg_tags(group: NodeGroup, cluster_name: str) -> tuple[Mapping[str, str], str]:
    """The tags known to be on the node group's ASG, and where that knowledge comes from."""
    if group.kind == "managed":
        return (
            {
                "k8s.io/cluster-autoscaler/enabled": "true",
                f"k8s.io/cluster-autoscaler/{cluster_name}": "owned",
                f"kubernetes.io/cluster/{cluster_name}": "owned",
            },
            "managed node group: only the tags EKS puts on its ASG (node group tags are not copied)",
        )
    return group.tags, "self-managed node group: the ASG's own tags"


def _matches(tags: Mapping[str, str], spec: Mapping[str, str | None]) -> bool:
    return all(key in tags and (value is None or tags[key] == value) for key, value in spec.items())


def autoscaler_container(workload: Workload) -> Container | None:
    """The container running cluster-autoscaler: by image, then by name, else the only one."""
    for container in workload.containers:
        if "cluster-autoscaler" in container.image:
            return container
    for container in workload.containers:
        if "cluster-autoscaler" in container.name:
            return container
    return workload.containers[0] if len(workload.containers) == 1 else None


def image_minor(image: str) -> tuple[int, int] | None:
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1]
    match = _IMAGE_VERSION.search(tag)
    return (int(match.group(1)), int(match.group(2))) if match else None


def check(snapshot: ClusterSnapshot) -> list[Outcome]:
    kubernetes = collected(snapshot.kubernetes, Part.KUBERNETES)
    network = collected(snapshot.network, Part.NETWORK)
    groups = collected(snapshot.nodegroups, Part.NODEGROUPS)
    if kubernetes.autoscalers is None:
        reason = snapshot.gaps.get("kubernetes.autoscalers", "Deployments were not read")
        return [could_not_evaluate(SPEC, snapshot.arn, f"cannot list Deployments: {reason}")]
    if not kubernetes.autoscalers:
        return [not_applicable(SPEC, snapshot.arn, "no cluster-autoscaler Deployment in the cluster")]
    outcomes: list[Outcome] = []
    for workload in kubernetes.autoscalers:
        resource = f"deployment/{workload.namespace}/{workload.name}"
        container = autoscaler_container(workload)
        if container is None:
            outcomes.append(
                could_not_evaluate(SPEC, resource, "cannot tell which container runs cluster-autoscaler")
            )
            continue
        outcomes.append(_static_list(snapshot, network, workload, container, resource))
        outcomes.extend(_discovery(snapshot, groups, container, resource))
        outcomes.append(_version(snapshot, container, resource))
    return outcomes


def _static_list(
    snapshot: ClusterSnapshot, network: VpcNetwork, workload: Workload, container: Container, resource: str
) -> Outcome:
    if workload.replicas == 0:
        return not_applicable(SPEC, resource, "the Deployment is scaled to 0 replicas")
    static, setting = static_list_setting(container)
    isolated = [s for s in snapshot.node_subnet_ids() if network.is_isolated(s)]
    evidence: dict[str, Any] = {
        "deployment": f"{workload.namespace}/{workload.name}",
        "container": container.name,
        "image": container.image,
        "static_instance_list": static,
        "flag": _flag_evidence(setting),
        "isolated_node_subnets": isolated,
    }
    if static or not isolated:
        return passed(SPEC, resource, evidence=evidence)
    endpoints = network.endpoints_for("ec2", snapshot.region)
    usable = [e.id for e in endpoints if e.type == "Interface" and e.private_dns_enabled]
    evidence["ec2_interface_endpoints"] = [e.id for e in endpoints]
    evidence["ec2_endpoint_private_dns"] = {e.id: e.private_dns_enabled for e in endpoints}
    if usable:
        return fail(SPEC, resource, evidence=evidence, severity=Severity.LOW, description=_LOW_DESCRIPTION)
    behaviour, version = failed_fetch_behaviour(container.image)
    evidence["autoscaler_version"] = version
    evidence["on_failed_fetch"] = behaviour
    if behaviour in ("exits", "unknown"):
        return fail(SPEC, resource, evidence=evidence, severity=Severity.HIGH)
    return fail(
        SPEC, resource, evidence=evidence, severity=Severity.MEDIUM, description=_FALLBACK_DESCRIPTION
    )


def image_version(image: str) -> tuple[int, int, int] | None:
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1]
    match = _IMAGE_PATCH.search(tag)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def failed_fetch_behaviour(image: str) -> tuple[str, str | None]:
    """("exits" | "falls back" | "unknown", version): what the image does when the instance-type fetch
    fails. 1.15.6-1.21.2, 1.22.0-1.22.2, 1.23.0 and every 1.24.x exit; 1.21.3, 1.22.3, 1.23.1, 1.25.0+
    (and earlier than 1.15.6, which never fetched) fall back to the static list (upstream commit ccc3ce0c).
    An unknown version is treated as exiting: the worse case."""
    version = image_version(image)
    if version is None:
        return "unknown", None
    text = ".".join(map(str, version))
    exits = (
        (1, 15, 6) <= version <= (1, 21, 2)
        or (1, 22, 0) <= version <= (1, 22, 2)
        or version == (1, 23, 0)
        or version[:2] == (1, 24)
    )
    return ("exits" if exits else "falls back"), text


def _flag_evidence(setting: FlagSetting) -> dict[str, Any]:
    if not setting.present:
        return {"present": False}
    written = f"--{STATIC_LIST_FLAG}" + (f"={setting.value}" if setting.value is not None else "")
    evidence: dict[str, Any] = {"present": True, "written": written, "in": setting.source}
    if setting.note:
        evidence["note"] = setting.note
    return evidence


def _discovery(
    snapshot: ClusterSnapshot, groups: Iterable[NodeGroup], container: Container, resource: str
) -> list[Outcome]:
    specs = discovery_specs(container)
    groups = tuple(groups)
    if not specs:
        return [
            not_applicable(SPEC, f"{resource}/discovery", "no --node-group-auto-discovery=asg:tag=... flag")
        ]
    if not groups:
        return [not_applicable(SPEC, f"{resource}/discovery", "the cluster has no node groups")]
    listed = static_node_asgs(container)
    results: dict[str, tuple[bool, dict[str, Any]]] = {}
    for group in groups:
        tags, basis = asg_tags(group, snapshot.name)
        found = any(_matches(tags, spec) for spec in specs) or bool(listed & set(group.asg_names))
        missing = sorted(
            {key for spec in specs for key, value in spec.items() if not _matches(tags, {key: value})}
        )
        results[group.name] = (
            found,
            {
                "node_group": group.name,
                "kind": group.kind,
                "asg_names": list(group.asg_names),
                "discovery_tags": [dict(spec) for spec in specs],
                "asg_tags_compared": dict(tags),
                "tags_basis": basis,
                "missing_tags": missing,
            },
        )
    none_found = not any(found for found, _ in results.values())
    outcomes = []
    for name, (found, evidence) in results.items():
        group_resource = f"{resource}/discovery/{name}"
        if found:
            outcomes.append(passed(SPEC, group_resource, evidence=evidence))
            continue
        outcomes.append(
            fail(
                SPEC,
                group_resource,
                evidence={**evidence, "discovers_no_node_group": none_found},
                severity=Severity.HIGH if none_found else Severity.MEDIUM,
                title=_DISCOVERY_TITLE,
                description=_DISCOVERY_DESCRIPTION,
                remediation=_DISCOVERY_REMEDIATION,
            )
        )
    return outcomes


def _version(snapshot: ClusterSnapshot, container: Container, resource: str) -> Outcome:
    version_resource = f"{resource}/version"
    autoscaler = image_minor(container.image)
    cluster = snapshot.cluster.parsed_version if snapshot.cluster else None
    if autoscaler is None:
        return not_applicable(SPEC, version_resource, f"no version in the image tag of {container.image}")
    if cluster is None:
        return not_applicable(SPEC, version_resource, "the cluster's Kubernetes version is unknown")
    evidence = {
        "image": container.image,
        "autoscaler_version": f"{autoscaler[0]}.{autoscaler[1]}",
        "cluster_version": str(cluster),
    }
    if autoscaler == cluster.as_tuple():
        return passed(SPEC, version_resource, evidence=evidence)
    return fail(
        SPEC,
        version_resource,
        evidence=evidence,
        severity=Severity.MEDIUM,
        title=_VERSION_TITLE,
        description=_VERSION_DESCRIPTION,
        remediation=_VERSION_REMEDIATION,
    )


CHECKS: tuple[Check, ...] = (Check(spec=SPEC, run=check),)
