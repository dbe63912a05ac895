"""A finding's remediation with its placeholders filled from the finding itself.

Check specs write their commands once for every cluster (`aws eks update-cluster-config --name <cluster>`);
the finding knows the cluster, and its evidence often names the endpoint, subnet, node group or principal.
A placeholder is filled only when the finding gives exactly one value for it: with none or several (two
subnets, three endpoints) it stays as written, and the evidence beside it lists the candidates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from eks_auditor.model.finding import Finding

_PLACEHOLDER = re.compile(r"<([a-z][a-z_-]*)>")

# placeholder -> the finding's own field
_FIELDS = {"cluster": "cluster", "cluster_arn": "cluster_arn", "region": "region", "account": "account"}

# placeholder -> evidence keys (searched at any depth) that hold its value, as the checks write them; the
# first key present wins (a public-subnet finding lists the failing subnet_id before all subnet_ids)
_EVIDENCE_KEYS: dict[str, tuple[str, ...]] = {
    "vpc": ("vpc_id",),
    "vpce-id": ("vpc_endpoint_ids", "interface_endpoints_without_private_dns"),
    "service": ("service",),
    "subnet": ("subnet_id", "subnet_ids"),
    "sg": ("security_group_id",),
    "group": ("nodegroup", "node_group"),
    "old": ("nodegroup", "node_group"),
    "asg": ("asg_names", "asg_name"),
    "arn": ("principal",),
    "key": ("ec2_ssh_key",),
}


def _found(evidence: Any, key: str) -> Iterator[str]:
    """Every string under `key` anywhere in the evidence (a value or a list of values)."""
    if isinstance(evidence, Mapping):
        for name, value in evidence.items():
            if name == key:
                if isinstance(value, str):
                    yield value
                elif isinstance(value, list | tuple):
                    yield from (item for item in value if isinstance(item, str))
            else:
                yield from _found(value, key)
    elif isinstance(evidence, list | tuple):
        for item in evidence:
            yield from _found(item, key)


def values(finding: Finding, placeholder: str) -> list[str]:
    """The distinct values the finding gives for `placeholder`, in the order first found."""
    if placeholder in _FIELDS:
        return [str(getattr(finding, _FIELDS[placeholder]))]
    for key in _EVIDENCE_KEYS.get(placeholder, ()):
        found: dict[str, None] = {}
        for value in _found(finding.evidence, key):
            if placeholder == "service":
                # The evidence has the whole name (com.amazonaws.<region>.ecr.api); commands take the suffix.
                value = value.removeprefix(f"com.amazonaws.{finding.region}.")
            if value:
                found.setdefault(value, None)
        if found:
            return list(found)
    return []


def fill(finding: Finding) -> str:
    """The remediation with every placeholder the finding determines replaced by its value."""

    def substitute(match: re.Match[str]) -> str:
        known = values(finding, match.group(1))
        return known[0] if len(known) == 1 else match.group(0)

    return _PLACEHOLDER.sub(substitute, finding.remediation)
