"""The VPC IPs one node HOLDS under the VPC CNI: its pods' addresses plus ipamd's warm pool.

The model follows ipamd (aws/amazon-vpc-cni-k8s docs/eni-and-ip-target.md, docs/prefix-and-ip-target.md,
pkg/ipamd/ipamd.go). Assumptions, stated once:

- `pods` counts pods that take a VPC IP (host-network pods take none). By default it is the node's
  recommended max pods (the max-pods calculator's capped figure, which EKS managed node groups pass to the
  kubelet) minus the 2 host-network pods: a node full of pods, the state a node group reaches at its
  scaling maximum.
- Secondary-IP mode with WARM_ENI_TARGET (default 1): an attached ENI always gets all its secondary IPs;
  ipamd attaches ENIs until the free secondary IPs cover WARM_ENI_TARGET whole ENIs.
- WARM_IP_TARGET / MINIMUM_IP_TARGET (either > 0) replace WARM_ENI_TARGET: ipamd keeps
  max(pods + WARM_IP_TARGET, MINIMUM_IP_TARGET) secondary IPs, adding ENIs only when the attached ones
  are full.
- Prefix delegation (Nitro only): each secondary-IP slot holds a /28 (16 addresses); ipamd keeps
  WARM_PREFIX_TARGET whole free prefixes, or with the IP targets rounds their figure up to whole prefixes;
  a new ENI is attached only when the attached ones have no free prefix slot.
- Since aws/amazon-vpc-cni-k8s PR #2745 (2024) the pool stops growing once it holds max-pods addresses;
  that cap is applied here.
- Every attached ENI's primary address is held too (the first ENI's is the node's own IP). With custom
  networking the primary ENI stays in the node subnet and carries no pods; pod ENIs, their primary
  addresses included, live in the ENIConfig subnet.
- Settings that were read: an unset variable takes ipamd's built-in default (WARM_ENI_TARGET 1,
  WARM_PREFIX_TARGET 0). Settings not read: the defaults of the aws-node manifest and EKS add-on
  (WARM_ENI_TARGET 1, WARM_PREFIX_TARGET 1, no IP targets, prefix delegation and custom networking off).
"""

from __future__ import annotations

import math

from eks_auditor.capacity.max_pods import HOST_NETWORK_PODS, IPS_PER_PREFIX, MaxPods, compute_max_pods
from eks_auditor.model.frozen import FrozenModel
from eks_auditor.model.kubernetes import AwsNodeSettings
from eks_auditor.model.snapshot import InstanceTypeInfo

SOURCE_READ = "read from the aws-node DaemonSet"
SOURCE_ASSUMED = "assumed defaults (aws-node settings not read)"

MANIFEST_WARM_ENI_TARGET = 1
MANIFEST_WARM_PREFIX_TARGET = 1
IPAMD_DEFAULT_WARM_ENI_TARGET = 1
IPAMD_DEFAULT_WARM_PREFIX_TARGET = 0


class CniSettings(FrozenModel):
    """The VPC CNI settings in effect, with where they came from."""

    warm_eni_target: int
    warm_ip_target: int  # 0 = unset
    minimum_ip_target: int  # 0 = unset
    warm_prefix_target: int
    prefix_delegation: bool
    custom_networking: bool
    source: str  # SOURCE_READ or SOURCE_ASSUMED
    read: bool

    @property
    def ip_targets(self) -> bool:
        """WARM_IP_TARGET or MINIMUM_IP_TARGET set: they replace WARM_ENI_TARGET / WARM_PREFIX_TARGET."""
        return self.warm_ip_target > 0 or self.minimum_ip_target > 0

    def describe(self) -> str:
        """The settings as aws-node environment variables."""
        if self.ip_targets:
            pool = f"WARM_IP_TARGET={self.warm_ip_target}, MINIMUM_IP_TARGET={self.minimum_ip_target}"
        elif self.prefix_delegation:
            pool = f"WARM_PREFIX_TARGET={self.warm_prefix_target}"
        else:
            pool = f"WARM_ENI_TARGET={self.warm_eni_target}"
        return (
            f"ENABLE_PREFIX_DELEGATION={str(self.prefix_delegation).lower()}, "
            f"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG={str(self.custom_networking).lower()}, {pool}"
        )


def effective_settings(settings: AwsNodeSettings | None) -> CniSettings:
    """What ipamd runs with: read settings over ipamd's defaults, or the manifest defaults when not read."""
    if settings is None:
        return CniSettings(
            warm_eni_target=MANIFEST_WARM_ENI_TARGET,
            warm_ip_target=0,
            minimum_ip_target=0,
            warm_prefix_target=MANIFEST_WARM_PREFIX_TARGET,
            prefix_delegation=False,
            custom_networking=False,
            source=SOURCE_ASSUMED,
            read=False,
        )

    # ipamd ignores negative values and falls back to its default.
    def _value(value: int | None, default: int) -> int:
        return default if value is None or value < 0 else value

    return CniSettings(
        warm_eni_target=_value(settings.warm_eni_target, IPAMD_DEFAULT_WARM_ENI_TARGET),
        warm_ip_target=_value(settings.warm_ip_target, 0),
        minimum_ip_target=_value(settings.minimum_ip_target, 0),
        warm_prefix_target=_value(settings.warm_prefix_target, IPAMD_DEFAULT_WARM_PREFIX_TARGET),
        prefix_delegation=settings.enable_prefix_delegation,
        custom_networking=settings.custom_network_cfg,
        source=SOURCE_READ,
        read=True,
    )


class Footprint(FrozenModel):
    """The addresses one node holds at a given pod count, split by the subnet they come from."""

    settings: CniSettings
    max_pods: MaxPods  # the node's max-pods figure: its instance type, mode and custom networking
    pods: int  # pods with a VPC IP assumed on the node
    pod_enis: int  # attached ENIs that carry pods
    secondary_ips: int  # secondary-IP mode: secondary addresses held
    prefixes: int  # prefix delegation: /28 prefixes held
    node_subnet_ips: int  # held in the node's own subnet
    pod_subnet_ips: int  # held in the ENIConfig subnet (custom networking), else 0
    explanation: str

    @property
    def ips_per_node(self) -> int:
        return self.node_subnet_ips + self.pod_subnet_ips

    @property
    def prefix_ips(self) -> int:
        return self.prefixes * IPS_PER_PREFIX

    @property
    def pods_subnet_is_node_subnet(self) -> bool:
        return not self.max_pods.custom_networking


def node_footprint(
    info: InstanceTypeInfo,
    settings: AwsNodeSettings | None,
    *,
    custom_networking: bool | None = None,
    pods: int | None = None,
    ipv6: bool = False,
) -> Footprint:
    """IPs one node of this type holds with `pods` VPC-IP pods (None: a full node at max pods).

    `custom_networking` None takes the flag from the settings. Prefix delegation on a non-Nitro type
    falls back to secondary IPs, as the max-pods calculator does.
    """
    cni = effective_settings(settings)
    custom = cni.custom_networking if custom_networking is None else custom_networking
    limits = compute_max_pods(info, prefix_delegation=cni.prefix_delegation, custom_networking=custom)
    slots_per_eni = max(info.ipv4_per_eni - 1, 0)
    enis_for_pods = limits.pod_enis
    kubelet_max = limits.max_pods
    capacity = enis_for_pods * slots_per_eni * (IPS_PER_PREFIX if limits.mode == "prefix-delegation" else 1)
    wanted = kubelet_max - HOST_NETWORK_PODS if pods is None else pods
    pod_count = max(0, min(wanted, capacity, kubelet_max - HOST_NETWORK_PODS))
    assumption = (
        f"{pod_count} pods with VPC IPs (a full node: max pods {kubelet_max} "
        f"minus {HOST_NETWORK_PODS} host-network pods)"
        if pods is None
        else f"{pod_count} pods with VPC IPs per node"
    )
    notes = list(limits.notes)
    if pods is not None and pod_count != pods:
        notes.append(
            f"{pods} pods requested, limited to {pod_count} by the node's max pods and address slots"
        )

    if enis_for_pods == 0 or slots_per_eni == 0:
        secondaries, prefixes, attached = 0, 0, 0
        rule = "no ENI can carry pods"
    elif limits.mode == "prefix-delegation":
        prefixes, rule = _prefixes_held(cni, pod_count, enis_for_pods * slots_per_eni, kubelet_max)
        secondaries = 0
        attached = max(1, math.ceil(prefixes / slots_per_eni))
    else:
        secondaries, attached, rule = _secondaries_held(
            cni, pod_count, enis_for_pods, slots_per_eni, kubelet_max
        )
        prefixes = 0

    # ENI primaries: the pod ENIs' own addresses; with custom networking the primary ENI adds one more
    # address, in the node subnet.
    pod_addresses = secondaries + prefixes * IPS_PER_PREFIX + attached
    if custom:
        node_ips, pod_ips = 1, pod_addresses
    else:
        node_ips, pod_ips = max(pod_addresses, 1), 0

    where = (
        f"{node_ips} in the node subnet (primary ENI) and {pod_ips} in the ENIConfig subnet"
        if custom
        else f"{node_ips} in the node subnet"
    )
    held = (
        f"{prefixes} /28 prefixes on {attached} ENIs"
        if limits.mode == "prefix-delegation"
        else f"{secondaries} secondary IPs on {attached} ENIs"
    )
    explanation = (
        f"{info.name}, {limits.mode} mode, {assumption}: {rule}; holds {held} plus {attached} ENI primary "
        f"address(es) = {node_ips + pod_ips} IPs, {where}. CNI settings: {cni.describe()}; {cni.source}."
    )
    if notes:
        explanation += " " + " ".join(notes)
    if ipv6:
        # IPv6 clusters: the VPC CNI gives pods IPv6 addresses (a /80 prefix on the primary ENI) and
        # attaches no pod ENIs; the node keeps only its own primary IPv4 address (EKS user guide,
        # "IPv6 addresses for clusters, Pods, and services").
        node_ips, pod_ips, secondaries, prefixes, attached = 1, 0, 0, 0, 0
        explanation = (
            f"{info.name}, IPv6 cluster: pods take IPv6 addresses, not the subnet's IPv4 pool; the node "
            "holds only its primary IPv4 address = 1 IP in the node subnet."
        )
    return Footprint(
        settings=cni,
        max_pods=limits,
        pods=pod_count,
        pod_enis=attached,
        secondary_ips=secondaries,
        prefixes=prefixes,
        node_subnet_ips=node_ips,
        pod_subnet_ips=pod_ips,
        explanation=explanation,
    )


def _secondaries_held(
    cni: CniSettings, pods: int, max_enis: int, per_eni: int, kubelet_max: int
) -> tuple[int, int, str]:
    """(secondary IPs, ENIs, rule) in secondary-IP mode."""
    if cni.ip_targets:
        target = max(pods + cni.warm_ip_target, cni.minimum_ip_target)
        held = min(target, max_enis * per_eni, max(kubelet_max, pods))
        enis = max(1, math.ceil(held / per_eni))
        rule = (
            f"WARM_IP_TARGET={cni.warm_ip_target}/MINIMUM_IP_TARGET={cni.minimum_ip_target} keep "
            f"max({pods} + {cni.warm_ip_target}, {cni.minimum_ip_target}) = {target} secondary IPs"
        )
        if held < target:
            rule += f", limited to {held} by the ENI limits or max pods"
        return held, enis, rule
    warm = cni.warm_eni_target
    in_use = math.ceil(pods / per_eni)
    # ipamd adds an ENI while free IPs < WARM_ENI_TARGET x IPs per ENI (or, at 0, while none is free),
    # and stops once the pool holds max-pods addresses.
    wanted = in_use + warm if warm > 0 else pods // per_eni + 1
    enis = min(max_enis, max(1, in_use, min(wanted, math.ceil(kubelet_max / per_eni))))
    rule = (
        f"WARM_ENI_TARGET={warm} keeps {warm} whole spare ENI(s) of {per_eni} secondary IPs beyond the "
        f"{in_use} ENI(s) in use"
    )
    if enis < wanted:
        rule += f", limited to {enis} ENI(s) by the instance's ENI limit or max pods"
    return enis * per_eni, enis, rule


def _prefixes_held(cni: CniSettings, pods: int, max_prefixes: int, kubelet_max: int) -> tuple[int, str]:
    """(/28 prefixes, rule) with prefix delegation."""
    if cni.ip_targets:
        target_ips = max(pods + cni.warm_ip_target, cni.minimum_ip_target)
        in_use = math.ceil(pods / IPS_PER_PREFIX)
        wanted = max(1, math.ceil(target_ips / IPS_PER_PREFIX))
        prefixes = min(max_prefixes, max(in_use, min(wanted, math.ceil(kubelet_max / IPS_PER_PREFIX))))
        rule = (
            f"WARM_IP_TARGET={cni.warm_ip_target}/MINIMUM_IP_TARGET={cni.minimum_ip_target} keep "
            f"{target_ips} IPs, rounded up to {wanted} whole /28 prefixes"
        )
    else:
        warm = cni.warm_prefix_target
        in_use = math.ceil(pods / IPS_PER_PREFIX)
        wanted = in_use + warm if warm > 0 else pods // IPS_PER_PREFIX + 1
        prefixes = min(max_prefixes, max(1, in_use, min(wanted, math.ceil(kubelet_max / IPS_PER_PREFIX))))
        rule = f"WARM_PREFIX_TARGET={warm} keeps {warm} whole free /28 prefix(es) beyond the {in_use} in use"
    if prefixes < wanted:
        rule += f", limited to {prefixes} by the ENI slots or max pods"
    return prefixes, rule
