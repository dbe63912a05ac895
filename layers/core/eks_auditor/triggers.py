"""Which clusters and which checks an incoming event asks us to re-audit.

Pure: an EventBridge event in, a list of AuditRequest out. EKS calls name their cluster; EC2, Auto Scaling
and Network Firewall calls name resources (a route table, a transit gateway, an Auto Scaling group, a launch
template, a firewall) that `dispatch.resolve_scope` turns into VPCs or clusters, which is I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from eks_auditor.checks.registry import CHECKS
from eks_auditor.errors import InvalidEvent
from eks_auditor.model.check import CLOUDTRAIL_DETAIL_TYPE
from eks_auditor.model.events import ACCOUNT_PATTERN, CLUSTER_PATTERN, REGION_PATTERN
from eks_auditor.model.frozen import FrozenModel

# Calls about the cluster as a whole rather than some checks: a new cluster gets every check, a deleted
# one has its findings resolved.
EVERY_CHECK_EVENTS = frozenset({"CreateCluster"})
EKS_DELETE_EVENTS = frozenset({"DeleteCluster"})


def _routes(source: str) -> dict[str, frozenset[str]]:
    """eventName -> the snapshot checks that declare the call (source, eventName) among their events."""
    routes: dict[str, dict[str, None]] = {}
    for check in CHECKS.values():
        for event in check.spec.events:
            if event.source == source and event.name and event.detail_type == CLOUDTRAIL_DETAIL_TYPE:
                routes.setdefault(event.name, {})[check.spec.id] = None
    return {name: frozenset(ids) for name, ids in routes.items()}


# eventName -> the checks the call can change. None means every check.
EKS_EVENT_CHECKS: Mapping[str, frozenset[str] | None] = {
    **dict.fromkeys(EVERY_CHECK_EVENTS, None),
    **_routes("aws.eks"),
}
EC2_EVENT_CHECKS: Mapping[str, frozenset[str]] = _routes("aws.ec2")
IAM_EVENT_CHECKS: Mapping[str, frozenset[str]] = _routes("aws.iam")
AUTOSCALING_EVENT_CHECKS: Mapping[str, frozenset[str]] = _routes("aws.autoscaling")
FIREWALL_EVENT_CHECKS: Mapping[str, frozenset[str]] = _routes("aws.network-firewall")
_SERVICE = {"aws.ec2": "EC2", "aws.autoscaling": "Auto Scaling", "aws.network-firewall": "Network Firewall"}
# Resource-scoped sources: the calls name resources that resolve to VPCs or clusters.
RESOURCE_EVENT_CHECKS: Mapping[str, Mapping[str, frozenset[str]]] = {
    "aws.ec2": EC2_EVENT_CHECKS,
    "aws.autoscaling": AUTOSCALING_EVENT_CHECKS,
    "aws.network-firewall": FIREWALL_EVENT_CHECKS,
}

# CloudTrail field names (camelCase, any nesting: EC2 wraps its parameters in a "...Request" object)
# that point at a VPC-scoped resource, and the resource kind they name.
_EC2_REFERENCE_KEYS: Mapping[str, str] = {
    "vpcId": "vpc",
    "subnetId": "subnet",
    "routeTableId": "route_table",
    "vpcEndpointId": "vpc_endpoint",
    "natGatewayId": "nat_gateway",
    "groupId": "security_group",
    "networkInterfaceId": "network_interface",
    "instanceId": "instance",
    "transitGatewayId": "transit_gateway",
    "transitGatewayAttachmentId": "transit_gateway_attachment",
    "transitGatewayRouteTableId": "transit_gateway_route_table",
    "vpcPeeringConnectionId": "vpc_peering_connection",
    "launchTemplateId": "launch_template",
}
# Keys whose values are names or ARNs, not EC2 ids: taken as they are.
_NAME_KEYS: Mapping[str, str] = {
    "launchTemplateName": "launch_template",
    "autoScalingGroupName": "auto_scaling_group",
    "firewallName": "firewall",
    "firewallArn": "firewall",
}
_ID_PREFIXES: Mapping[str, str] = {
    "vpc-": "vpc",
    "subnet-": "subnet",
    "rtb-": "route_table",
    "vpce-": "vpc_endpoint",
    "nat-": "nat_gateway",
    "sg-": "security_group",
    "eni-": "network_interface",
    # Longest first: tgw-attach-… and tgw-rtb-… also start with tgw-.
    "tgw-attach-": "transit_gateway_attachment",
    "tgw-rtb-": "transit_gateway_route_table",
    "tgw-": "transit_gateway",
    "pcx-": "vpc_peering_connection",
    "lt-": "launch_template",
}
# What a call's scope is read from when its parameters name other resources too: a launch template
# version's data names subnets and security groups, but only the groups that use the template change.
_SCOPE_KINDS: Mapping[str, frozenset[str]] = {
    "CreateLaunchTemplateVersion": frozenset({"launch_template"}),
    "ModifyLaunchTemplate": frozenset({"launch_template"}),
    # EC2 tag calls: only the subnets among the resources tagged (their tags are what checks read).
    "CreateTags": frozenset({"subnet"}),
    "DeleteTags": frozenset({"subnet"}),
}
# Calls that change nothing a check reads unless their scope names a resource of that kind: tags put on
# an instance or a volume only. The template forwards them only for subnets; a record that names none
# (replayed by hand, or the rule widened) is not widened to the region but dropped.
_SCOPE_REQUIRED: Mapping[str, str] = {"CreateTags": "subnet", "DeleteTags": "subnet"}
# Tags that make an Auto Scaling group a cluster's node group (the collector discovers self-managed groups
# by the first; EKS puts all of them on a managed node group's group).
_CLUSTER_TAG_PREFIXES = ("kubernetes.io/cluster/", "k8s.io/cluster-autoscaler/")
_CLUSTER_NAME_TAG = "eks:cluster-name"
_REGION = re.compile(REGION_PATTERN)
_ACCOUNT = re.compile(ACCOUNT_PATTERN)
_CLUSTER = re.compile(CLUSTER_PATTERN)
_OIDC_REGION = re.compile(r"oidc\.eks\.([a-z0-9-]+)\.amazonaws\.com")
# EC2 resource ids: a type prefix and 8 (older) or 17 lowercase hex digits.
_EC2_ID = re.compile(
    r"(?:vpc|subnet|rtb|vpce|nat|sg|eni|i|tgw|tgw-attach|tgw-rtb|pcx|lt)-(?:[0-9a-f]{8}|[0-9a-f]{17})"
)


class VpcReference(FrozenModel):
    """The resources a resource-scoped call named; `dispatch.resolve_scope` resolves them to VPCs or clusters.

    Kinds: EC2 ids by type (vpc, subnet, route_table, …, transit_gateway_attachment, vpc_peering_connection,
    launch_template), auto_scaling_group and firewall names, and cluster names read from the call's tags.
    """

    ids: Mapping[str, tuple[str, ...]]  # kind -> ids, e.g. {"route_table": ("rtb-1",)}

    def of(self, kind: str) -> tuple[str, ...]:
        return self.ids.get(kind, ())


class AuditRequest(FrozenModel):
    source: str  # the event id
    event_name: str
    account: str
    region: str
    cluster: str | None = None  # None: every cluster in `vpc` (or the region when vpc is None)
    vpc: VpcReference | None = None
    check_ids: frozenset[str] | None = None  # None: every check
    delete_cluster: bool = False


def requests_from_event(event: Mapping[str, Any]) -> list[AuditRequest]:
    """Route one EventBridge event. [] means "nothing to do" (e.g. a failed API call)."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"event is not a JSON object but {type(event).__name__}")
    missing = [key for key in ("id", "source", "detail-type", "account", "region") if not event.get(key)]
    if missing:
        raise InvalidEvent(f"event lacks required field(s) {', '.join(missing)}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEvent(f"event {event['id']} has no detail object")
    if event["detail-type"] != CLOUDTRAIL_DETAIL_TYPE:
        raise InvalidEvent(f"event {event['id']}: unexpected detail-type {event['detail-type']!r}")
    if detail.get("errorCode"):
        # The call failed, so nothing changed.
        return []
    name = detail.get("eventName")
    if not isinstance(name, str) or not name:
        raise InvalidEvent(f"event {event['id']} has no detail.eventName")
    region = str(detail.get("awsRegion") or event["region"])
    account = str(detail.get("recipientAccountId") or event["account"])
    # Keys, clients and findings are built from these: "us-east-1 " would audit (and record) a region
    # no scan ever resolves, or fail inside botocore.
    if not _REGION.fullmatch(region) or not _ACCOUNT.fullmatch(account):
        raise InvalidEvent(f"event {event['id']}: region {region!r} or account {account!r} is malformed")
    base = {"source": str(event["id"]), "event_name": name, "account": account, "region": region}
    source = event["source"]

    if source == "aws.eks":
        if name not in EKS_EVENT_CHECKS and name not in EKS_DELETE_EVENTS:
            raise InvalidEvent(f"event {event['id']}: EKS call {name} is not one we audit for")
        cluster = _cluster_name(detail)
        if cluster is None:
            raise InvalidEvent(f"event {event['id']}: {name} names no cluster in requestParameters")
        if not _CLUSTER.fullmatch(cluster):
            # Found by fuzzing: a 3,000-character name failed in DynamoDB (key too large), not as bad input.
            raise InvalidEvent(f"event {event['id']}: {name} names no valid EKS cluster ({cluster[:120]!r})")
        if name in EKS_DELETE_EVENTS:
            return [AuditRequest(**base, cluster=cluster, delete_cluster=True)]
        return [AuditRequest(**base, cluster=cluster, check_ids=EKS_EVENT_CHECKS[name])]

    if source in RESOURCE_EVENT_CHECKS:
        routes = RESOURCE_EVENT_CHECKS[source]
        if name not in routes:
            raise InvalidEvent(f"event {event['id']}: {_SERVICE[source]} call {name} is not one we audit for")
        if source == "aws.autoscaling":
            refs = _autoscaling_references(detail)
        else:
            refs = _ec2_references(detail, _SCOPE_KINDS.get(name))
            required = _SCOPE_REQUIRED.get(name)
            if required is not None and not refs.of(required):
                return []
        return [AuditRequest(**base, vpc=refs, check_ids=routes[name])]

    if source == "aws.iam":
        if name not in IAM_EVENT_CHECKS:
            raise InvalidEvent(f"event {event['id']}: IAM call {name} is not one we audit for")
        # IAM is global; the provider URL names the region of the clusters it serves.
        match = _OIDC_REGION.search(str(detail.get("requestParameters") or ""))
        regions = (match.group(1),) if match else ()
        if not regions:
            raise InvalidEvent(f"event {event['id']}: {name} names no EKS OIDC issuer URL")
        return [AuditRequest(**{**base, "region": regions[0]}, check_ids=IAM_EVENT_CHECKS[name])]

    raise InvalidEvent(f"event {event['id']}: unexpected source {source!r}")


def _cluster_name(detail: Mapping[str, Any]) -> str | None:
    params = detail.get("requestParameters") or {}
    if not isinstance(params, Mapping):
        return None
    # CreateCluster records carry "name" (the API field); older records "clusterName"; the
    # nodegroup and access-entry calls put the cluster in the URI's {name}.
    for key in ("name", "clusterName", "cluster"):
        value = params.get(key)
        if isinstance(value, str) and value:
            return value
    response = detail.get("responseElements") or {}
    cluster = response.get("cluster") if isinstance(response, Mapping) else None
    if isinstance(cluster, Mapping):
        value = cluster.get("name") or cluster.get("clusterName")
        return value if isinstance(value, str) and value else None
    return None


def _ec2_references(detail: Mapping[str, Any], kinds: frozenset[str] | None = None) -> VpcReference:
    found: dict[str, dict[str, None]] = {}
    for key, value in _walk(detail.get("requestParameters")) + _walk(detail.get("responseElements")):
        kind = _EC2_REFERENCE_KEYS.get(key)
        name_kind = _NAME_KEYS.get(key)
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str) or not item:
                continue
            if name_kind is not None:
                found.setdefault(name_kind, {})[item] = None
                continue
            # DeleteVpcEndpoints sends a list under "VpcEndpointId"; prefixes identify ids whatever the key.
            item_kind = kind or next((k for p, k in _ID_PREFIXES.items() if item.startswith(p)), None)
            if item_kind and _looks_like_id(item):
                found.setdefault(item_kind, {})[item] = None
    return VpcReference(
        ids={kind: tuple(ids) for kind, ids in found.items() if kinds is None or kind in kinds}
    )


def _autoscaling_references(detail: Mapping[str, Any]) -> VpcReference:
    """The groups an Auto Scaling call names, and the clusters its tags name.

    A tag call's tags name the cluster even when the tag is being removed (the group then no longer says
    whose it was). Subnets and launch templates a group names are not its scope: the group is.
    """
    params = detail.get("requestParameters")
    params = params if isinstance(params, Mapping) else {}
    groups: dict[str, None] = {}
    clusters: dict[str, None] = {}
    if isinstance(params.get("autoScalingGroupName"), str) and params["autoScalingGroupName"]:
        groups[params["autoScalingGroupName"]] = None
    for tag in params.get("tags") or ():
        if not isinstance(tag, Mapping):
            continue
        resource = tag.get("resourceId")
        if (
            isinstance(resource, str)
            and resource
            and tag.get("resourceType", "auto-scaling-group") == ("auto-scaling-group")
        ):
            groups[resource] = None
        for cluster in clusters_in_tag(str(tag.get("key") or ""), str(tag.get("value") or "")):
            clusters[cluster] = None
    ids = {"auto_scaling_group": tuple(groups), "cluster": tuple(clusters)}
    return VpcReference(ids={kind: values for kind, values in ids.items() if values})


def clusters_in_tag(key: str, value: str) -> tuple[str, ...]:
    """The cluster an Auto Scaling group's tag says the group belongs to, if any."""
    if key == _CLUSTER_NAME_TAG:
        return (value,) if value else ()
    for prefix in _CLUSTER_TAG_PREFIXES:
        name = key.removeprefix(prefix)
        # k8s.io/cluster-autoscaler/enabled is the auto-discovery switch, not a cluster.
        if name != key and name and name != "enabled":
            return (name,)
    return ()


def _looks_like_id(value: str) -> bool:
    # A prefix alone is not enough: names ("vpce-ecr" as a groupName, "subnet-private-a") share them.
    return _EC2_ID.fullmatch(value) is not None


def _walk(node: Any, key: str = "") -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    if isinstance(node, Mapping):
        for child_key, child in node.items():
            pairs.append((str(child_key)[:1].lower() + str(child_key)[1:], child))
            pairs.extend(_walk(child, str(child_key)))
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (Mapping, list)):
                pairs.extend(_walk(item, key))
            else:
                pairs.append((key[:1].lower() + key[1:], item))
    return pairs


def merge_checks(groups: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    """Union of check sets; None (every check) absorbs everything."""
    merged: set[str] = set()
    for group in groups:
        if group is None:
            return None
        merged |= group
    return frozenset(merged)
