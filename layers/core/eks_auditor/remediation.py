"""A finding's remediation with its placeholders filled from the finding itself: the one filling function.

Check specs write their commands once for every cluster (`aws eks update-cluster-config --name <cluster>`);
the finding knows the cluster, and its evidence often names the endpoint, subnet, node group or principal.
A placeholder that stands for one value is filled only when the finding gives exactly one value for it; a
placeholder that stands for a list (`publicAccessCidrs=<cidr>,<eip>/32`, `--subnet-ids <one node subnet
per AZ>`) takes every value the finding gives.

What the finding does not determine (none or several candidates, or a value only the operator can choose,
such as `<office-cidr>`) stays as written for a reader (the HTML report, OCSF), where the evidence beside it
lists the candidates. A Slack message is copied into a shell instead: `fill(finding, variables=True)` turns
each such placeholder into a named shell variable (`$OFFICE_CIDR`), followed by the candidates when the
finding has several, so no `<...>` is left to guess (notify.steps).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from eks_auditor.model.finding import Finding

_PLACEHOLDER = re.compile(r"<([^<>\n]{1,60})>")

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
    "name": ("nodegroup", "node_group"),
    "group": ("nodegroup", "node_group"),
    "old": ("nodegroup", "node_group"),
    "asg": ("asg_names", "asg_name"),
    "arn": ("principal",),
    "key": ("ec2_ssh_key",),
}

# placeholder -> (evidence keys, separator): placeholders that stand for a list take every value found
_LISTS: dict[str, tuple[tuple[str, ...], str]] = {
    "one node subnet per AZ": (("isolated_subnets",), " "),
    "every node subnet's route table": (("route_tables_without_s3",), " "),
    # The NAT gateways' Elastic IPs outside publicAccessCidrs; the text appends "/32" to the last one.
    "eip": (("excluded_ips",), "/32,"),
    "nat-eip": (("excluded_ips",), "/32,"),
}

# (check, placeholder) whose evidence value is not what the placeholder asks for: cluster_subnet_ip_low's
# `<subnet>` is a subnet WITH room, its evidence names the exhausted one.
_NOT_FROM_EVIDENCE = {("cluster_subnet_ip_low", "subnet")}

# Shell variable names for what only the operator can choose (or the finding does not say).
_VARIABLES = {
    "vpc": "$VPC_ID",
    "vpce-id": "$VPC_ENDPOINT_ID",
    "subnet": "$SUBNET_ID",
    "sg": "$SECURITY_GROUP_ID",
    "office-cidr": "$OFFICE_CIDR",
    "key-id": "$KMS_KEY_ID",
    "bastion-sg": "$BASTION_SG_ID",
    "new": "$NEW_NODEGROUP",
    "key": "$SSH_KEY_NAME",
    "sg allowing 443 from the node subnets": "$ENDPOINT_SG_ID",
    "every node subnet's route table": "$NODE_ROUTE_TABLE_IDS",
    "private subnets": "$PRIVATE_SUBNET_IDS",
}

_OPEN_CIDRS = ("0.0.0.0/0", "::/0")


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


def _distinct(found: Iterator[str]) -> list[str]:
    return list(dict.fromkeys(value for value in found if value))


def _next_minor(version: Any) -> str | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", str(version or ""))
    return f"{match[1]}.{int(match[2]) + 1}" if match else None


def values(finding: Finding, placeholder: str) -> list[str]:
    """The distinct values the finding gives for `placeholder`, in the order first found."""
    if placeholder in _FIELDS:
        return [str(getattr(finding, _FIELDS[placeholder]))]
    if (finding.check_id, placeholder) in _NOT_FROM_EVIDENCE:
        return []
    if placeholder == "next minor":
        minor = _next_minor(finding.evidence.get("version"))
        return [minor] if minor else []
    if placeholder == "cidr":
        # The CIDRs publicAccessCidrs allows already, but the open ones the finding is about.
        cidrs = _distinct(_found(finding.evidence, "public_access_cidrs"))
        kept = ",".join(cidr for cidr in cidrs if cidr not in _OPEN_CIDRS)
        return [kept] if kept else []
    if placeholder in _LISTS:
        keys, separator = _LISTS[placeholder]
        for key in keys:
            found = _distinct(_found(finding.evidence, key))
            if found:
                return [separator.join(found)]
        return []
    for key in _EVIDENCE_KEYS.get(placeholder, ()):
        found = _distinct(_found(finding.evidence, key))
        if placeholder == "service":
            # The evidence has the whole name (com.amazonaws.<region>.ecr.api); commands take the suffix.
            found = _distinct(value.removeprefix(f"com.amazonaws.{finding.region}.") for value in found)
        if found:
            return found
    if placeholder in ("name", "group", "old"):
        # A node-group finding names its group in its resource ARN (…:nodegroup/<cluster>/<name>/<uuid>).
        match = re.search(r":nodegroup/[^/]+/([^/]+)/", finding.resource)
        return [match[1]] if match else []
    return []


def _variable(placeholder: str) -> str:
    return _VARIABLES.get(placeholder) or "$" + re.sub(r"[^A-Za-z0-9]+", "_", placeholder).strip("_").upper()


def fill(finding: Finding, *, variables: bool = False) -> str:
    """The remediation with every placeholder the finding determines replaced by its value.

    The others stay as written, or with `variables` become named shell variables (with the candidates
    when the finding has several): `$SUBNET_ID (each of subnet-1, subnet-2)`.
    """

    def substitute(match: re.Match[str]) -> str:
        known = values(finding, match.group(1))
        if len(known) == 1:
            return known[0]
        if not variables:
            return match.group(0)
        variable = _variable(match.group(1))
        return f"{variable} (each of {', '.join(known)})" if known else variable

    return _PLACEHOLDER.sub(substitute, finding.remediation)
