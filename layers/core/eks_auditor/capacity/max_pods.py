"""Max pods per node under the VPC CNI, by the rules of the EKS AMI's max-pods calculator.

- secondary-IP mode: ENIs x (IPv4 per ENI - 1) + 2. The "- 1" is each ENI's primary address, which no
  pod gets; the "+ 2" are host-network pods (aws-node, kube-proxy) that take no VPC IP of their own.
- custom networking: the primary ENI carries no pods, so one ENI fewer.
- prefix delegation (Nitro only): every secondary-IP slot holds a /28 prefix of 16 addresses,
  ENIs x (IPv4 per ENI - 1) x 16 + 2.
- the recommended ceiling applies in both modes: 110 up to and including 30 vCPUs, 250 above.

ENI limits are those of the default network card: the CNI assigns pod IPs on network card 0 only.
"""

from __future__ import annotations

from typing import Literal

from eks_auditor.model.frozen import FrozenModel
from eks_auditor.model.snapshot import InstanceTypeInfo

IPS_PER_PREFIX = 16  # an IPv4 /28
HOST_NETWORK_PODS = 2
CEILING_SMALL = 110
CEILING_LARGE = 250
CEILING_VCPU_THRESHOLD = 30  # types with more vCPUs than this get the larger ceiling

Mode = Literal["secondary-ip", "prefix-delegation"]


class MaxPods(FrozenModel):
    """One instance type's max-pods figure and how it was reached."""

    instance_type: str
    vcpus: int
    max_enis: int  # of the default network card
    pod_enis: int  # ENIs that carry pods (one fewer with custom networking)
    ipv4_per_eni: int
    nitro: bool
    custom_networking: bool
    prefix_delegation_requested: bool
    mode: Mode  # the mode actually applied
    raw: int  # the formula's figure, before the ceiling
    ceiling: int
    max_pods: int  # min(raw, ceiling): the recommended kubelet max-pods
    notes: tuple[str, ...] = ()

    @property
    def limited_by_ceiling(self) -> bool:
        return self.raw > self.ceiling


def recommended_ceiling(vcpus: int) -> int:
    """110 for instance types with 30 vCPUs or fewer, 250 above."""
    return CEILING_LARGE if vcpus > CEILING_VCPU_THRESHOLD else CEILING_SMALL


def secondary_ip_slots(info: InstanceTypeInfo, *, custom_networking: bool = False) -> int:
    """Pod address slots: ENIs for pods x (IPv4 per ENI - 1); each slot is one IP or one /28 prefix."""
    return pod_enis(info, custom_networking=custom_networking) * max(info.ipv4_per_eni - 1, 0)


def pod_enis(info: InstanceTypeInfo, *, custom_networking: bool = False) -> int:
    return max(info.max_enis - (1 if custom_networking else 0), 0)


def compute_max_pods(
    info: InstanceTypeInfo,
    *,
    prefix_delegation: bool = False,
    custom_networking: bool = False,
) -> MaxPods:
    """Max pods for one instance type; prefix delegation on a non-Nitro type falls back to secondary IPs."""
    notes: list[str] = []
    mode: Mode = "secondary-ip"
    if prefix_delegation:
        if info.nitro:
            mode = "prefix-delegation"
        else:
            hypervisor = info.hypervisor or "unknown"
            notes.append(
                f"prefix delegation needs a Nitro instance type; {info.name} runs on {hypervisor}, "
                "so the secondary-IP figure applies"
            )
    slots = secondary_ip_slots(info, custom_networking=custom_networking)
    raw = slots * (IPS_PER_PREFIX if mode == "prefix-delegation" else 1) + HOST_NETWORK_PODS
    ceiling = recommended_ceiling(info.vcpus)
    if custom_networking and info.max_enis <= 1:
        notes.append(f"{info.name} has a single ENI: with custom networking no ENI is left for pods")
    return MaxPods(
        instance_type=info.name,
        vcpus=info.vcpus,
        max_enis=info.max_enis,
        pod_enis=pod_enis(info, custom_networking=custom_networking),
        ipv4_per_eni=info.ipv4_per_eni,
        nitro=info.nitro,
        custom_networking=custom_networking,
        prefix_delegation_requested=prefix_delegation,
        mode=mode,
        raw=raw,
        ceiling=ceiling,
        max_pods=min(raw, ceiling),
        notes=tuple(notes),
    )
