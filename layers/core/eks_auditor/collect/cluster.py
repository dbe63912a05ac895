"""EKS clusters and their node groups (managed and self-managed), normalized into the snapshot model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from eks_auditor.collect.errors import ClusterNotFound
from eks_auditor.model.snapshot import ClusterInfo, EndpointAccess, KubernetesVersion, NodeGroup

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_eks import EKSClient

# EKS fills publicAccessCidrs with 0.0.0.0/0 when the public endpoint is on and no CIDRs were given;
# clusters created before the field existed (late 2019) omit it and are open to all of IPv4.
DEFAULT_PUBLIC_ACCESS_CIDRS: tuple[str, ...] = ("0.0.0.0/0",)
MANAGED_NODEGROUP_TAG = "eks:nodegroup-name"
# DescribeLaunchConfigurations accepts at most 50 names per call.
_LAUNCH_CONFIGURATION_BATCH = 50
# Tag keys in one DescribeAutoScalingGroups tag-key filter (the API documents no limit on a filter's
# values; DescribeTags allows 1,000): each call stays well within one request's size.
SELF_MANAGED_TAG_KEYS_PER_CALL = 50


def cluster_tag_key(cluster_name: str) -> str:
    """The tag kubelet's cloud provider and self-managed node templates put on a cluster's ASGs."""
    return f"kubernetes.io/cluster/{cluster_name}"


def list_clusters(eks: EKSClient) -> list[str]:
    names: list[str] = []
    for page in eks.get_paginator("list_clusters").paginate():
        names.extend(page.get("clusters", []))
    return names


def describe_cluster(eks: EKSClient, region: str, name: str) -> Mapping[str, Any]:
    """The raw DescribeCluster `cluster` object; ClusterNotFound when EKS does not know the name."""
    try:
        return eks.describe_cluster(name=name)["cluster"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise ClusterNotFound(region, name) from exc
        raise


def normalize_cluster(raw: Mapping[str, Any]) -> ClusterInfo:
    vpc = raw.get("resourcesVpcConfig") or {}
    # Clusters created before endpoint access control (2019) omit both flags: public only.
    public = bool(vpc.get("endpointPublicAccess", True))
    private = bool(vpc.get("endpointPrivateAccess", False))
    cidrs: tuple[str, ...] = ()
    if public:
        cidrs = tuple(vpc.get("publicAccessCidrs") or ()) or DEFAULT_PUBLIC_ACCESS_CIDRS
    # Prowler reads only clusterLogging[0]; EKS splits enabled and disabled types over several entries.
    log_types = frozenset(
        log_type
        for entry in (raw.get("logging") or {}).get("clusterLogging") or ()
        if entry.get("enabled")
        for log_type in entry.get("types") or ()
    )
    encrypted = frozenset(
        resource for entry in raw.get("encryptionConfig") or () for resource in entry.get("resources") or ()
    )
    version = raw.get("version")
    return ClusterInfo(
        status=raw.get("status") or "UNKNOWN",
        version=version,
        parsed_version=KubernetesVersion.parse(version),
        platform_version=raw.get("platformVersion"),
        endpoint_url=raw.get("endpoint"),
        certificate_authority=(raw.get("certificateAuthority") or {}).get("data"),
        endpoint_access=EndpointAccess(public=public, private=private, public_cidrs=cidrs),
        vpc_id=vpc.get("vpcId") or "",
        subnet_ids=tuple(vpc.get("subnetIds") or ()),
        security_group_ids=tuple(vpc.get("securityGroupIds") or ()),
        cluster_security_group_id=vpc.get("clusterSecurityGroupId"),
        enabled_log_types=log_types,
        encrypted_resources=encrypted,
        oidc_issuer=((raw.get("identity") or {}).get("oidc") or {}).get("issuer"),
        authentication_mode=(raw.get("accessConfig") or {}).get("authenticationMode"),
        # Clusters created before IPv6 support (2022) omit kubernetesNetworkConfig.ipFamily: IPv4.
        ip_family=str((raw.get("kubernetesNetworkConfig") or {}).get("ipFamily") or "ipv4").lower(),
        created_at=raw.get("createdAt"),
        tags=dict(raw.get("tags") or {}),
    )


@dataclass(frozen=True)
class TemplateRef:
    """A launch template version as a node group or ASG names it."""

    id: str | None
    name: str | None
    version: str

    @property
    def key(self) -> str:
        return self.id or self.name or ""

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None, *, camel: bool) -> TemplateRef | None:
        """From an ASG LaunchTemplateSpecification, or (camel=True) a node group's launchTemplate."""
        if not spec:
            return None
        keys = ("id", "name", "version") if camel else ("LaunchTemplateId", "LaunchTemplateName", "Version")
        template_id, name, version = (spec.get(k) for k in keys)
        if not template_id and not name:
            return None
        return cls(id=template_id, name=name, version=str(version or "$Default"))


def resolve_launch_templates(
    ec2: EC2Client, refs: Iterable[TemplateRef]
) -> dict[TemplateRef, Mapping[str, Any]]:
    """LaunchTemplateData per reference: one DescribeLaunchTemplateVersions call per distinct template."""
    by_template: dict[str, list[TemplateRef]] = {}
    for ref in refs:
        by_template.setdefault(ref.key, []).append(ref)
    resolved: dict[TemplateRef, Mapping[str, Any]] = {}
    for group in by_template.values():
        first = group[0]
        selector: dict[str, Any] = (
            {"LaunchTemplateId": first.id} if first.id else {"LaunchTemplateName": first.name}
        )
        versions = sorted({ref.version for ref in group})
        found: list[Mapping[str, Any]] = []
        for page in ec2.get_paginator("describe_launch_template_versions").paginate(
            **selector, Versions=versions
        ):
            found.extend(page.get("LaunchTemplateVersions", []))
        for ref in group:
            match = _pick_version(found, ref.version)
            if match is not None:
                resolved[ref] = match.get("LaunchTemplateData") or {}
    return resolved


def _pick_version(found: Sequence[Mapping[str, Any]], spec: str) -> Mapping[str, Any] | None:
    # The response does not echo which requested spec ($Latest, $Default, "3") each version answers.
    if not found:
        return None
    if spec == "$Latest":
        return max(found, key=lambda v: int(v.get("VersionNumber") or 0))
    if spec == "$Default":
        return next((v for v in found if v.get("DefaultVersion")), None)
    return next((v for v in found if str(v.get("VersionNumber")) == spec), None)


def describe_launch_configurations(
    autoscaling: AutoScalingClient, names: Iterable[str]
) -> dict[str, Mapping[str, Any]]:
    wanted = sorted(set(names))
    found: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(wanted), _LAUNCH_CONFIGURATION_BATCH):
        batch = wanted[start : start + _LAUNCH_CONFIGURATION_BATCH]
        paginator = autoscaling.get_paginator("describe_launch_configurations")
        for page in paginator.paginate(LaunchConfigurationNames=batch):
            for item in page.get("LaunchConfigurations", []):
                found[item["LaunchConfigurationName"]] = item
    return found


def describe_managed_nodegroups(eks: EKSClient, cluster_name: str) -> list[Mapping[str, Any]]:
    names: list[str] = []
    for page in eks.get_paginator("list_nodegroups").paginate(clusterName=cluster_name):
        names.extend(page.get("nodegroups", []))
    return [
        eks.describe_nodegroup(clusterName=cluster_name, nodegroupName=name)["nodegroup"] for name in names
    ]


def describe_self_managed_groups(
    autoscaling: AutoScalingClient, cluster_name: str
) -> list[Mapping[str, Any]]:
    """ASGs tagged kubernetes.io/cluster/<name>, without those EKS runs for managed node groups."""
    return describe_self_managed_groups_of(autoscaling, [cluster_name])[cluster_name]


def describe_self_managed_groups_of(
    autoscaling: AutoScalingClient, cluster_names: Sequence[str]
) -> dict[str, list[Mapping[str, Any]]]:
    """The self-managed ASGs of several clusters of one region: one paginated call per
    SELF_MANAGED_TAG_KEYS_PER_CALL clusters instead of one per cluster (a tag-key filter matches any of
    its values). An ASG tagged for two clusters belongs to both."""
    names = list(dict.fromkeys(cluster_names))
    found: dict[str, list[Mapping[str, Any]]] = {name: [] for name in names}
    owners = {cluster_tag_key(name): name for name in names}
    paginator = autoscaling.get_paginator("describe_auto_scaling_groups")
    for start in range(0, len(names), SELF_MANAGED_TAG_KEYS_PER_CALL):
        keys = [cluster_tag_key(name) for name in names[start : start + SELF_MANAGED_TAG_KEYS_PER_CALL]]
        # A tag-key filter keeps the call to these clusters' groups instead of every ASG in the region.
        for page in paginator.paginate(Filters=[{"Name": "tag-key", "Values": keys}]):
            for group in page.get("AutoScalingGroups", []):
                tags = _tags(group.get("Tags"))
                if MANAGED_NODEGROUP_TAG in tags:
                    continue
                for key in keys:
                    if key in tags:
                        found[owners[key]].append(group)
    return found


def collect_nodegroups(
    eks: EKSClient,
    autoscaling: AutoScalingClient,
    ec2: EC2Client,
    cluster_name: str,
    self_managed: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[NodeGroup, ...]:
    """Managed node groups, then self-managed ASGs (`self_managed` when already read with other
    clusters'); one DescribeLaunchTemplateVersions per distinct template that a managed group needs for
    its types or a self-managed group uses."""
    managed = describe_managed_nodegroups(eks, cluster_name)
    if self_managed is None:
        self_managed = describe_self_managed_groups(autoscaling, cluster_name)
    refs: dict[int, TemplateRef] = {}
    for index, raw in enumerate([*managed, *self_managed]):
        ref = _template_needed(raw)
        if ref is not None:
            refs[index] = ref
    templates = resolve_launch_templates(ec2, refs.values()) if refs else {}
    configs = describe_launch_configurations(
        autoscaling,
        [g["LaunchConfigurationName"] for g in self_managed if g.get("LaunchConfigurationName")],
    )
    groups: list[NodeGroup] = []
    for index, raw in enumerate(managed):
        ref = refs.get(index)
        groups.append(normalize_managed_nodegroup(raw, templates.get(ref) if ref else None))
    for offset, raw in enumerate(self_managed):
        ref = refs.get(len(managed) + offset)
        config = configs.get(raw.get("LaunchConfigurationName") or "")
        groups.append(normalize_self_managed_group(raw, templates.get(ref) if ref else None, config))
    return tuple(groups)


def _template_needed(raw: Mapping[str, Any]) -> TemplateRef | None:
    """The launch template to read, whenever a group has one: the node security groups (for
    nodegroup_ssh_open) live only there, and so do a managed group's instance types when its
    description lacks them."""
    if "nodegroupName" in raw:
        return TemplateRef.from_spec(raw.get("launchTemplate"), camel=True)
    mixed = raw.get("MixedInstancesPolicy")
    if mixed:
        # Read even when the overrides name the types: a self-managed group's security groups (for
        # nodegroup_ssh_open) live only in its launch template.
        template = mixed.get("LaunchTemplate") or {}
        return TemplateRef.from_spec(template.get("LaunchTemplateSpecification"), camel=False)
    return TemplateRef.from_spec(raw.get("LaunchTemplate"), camel=False)


def normalize_managed_nodegroup(
    raw: Mapping[str, Any], template: Mapping[str, Any] | None = None
) -> NodeGroup:
    scaling = raw.get("scalingConfig") or {}
    remote = raw.get("remoteAccess") or {}
    resources = raw.get("resources") or {}
    instance_types = tuple(raw.get("instanceTypes") or ())
    if not instance_types and template and template.get("InstanceType"):
        instance_types = (template["InstanceType"],)
    return NodeGroup(
        name=raw["nodegroupName"],
        kind="managed",
        arn=raw.get("nodegroupArn"),
        status=raw.get("status"),
        capacity_type=raw.get("capacityType") or "ON_DEMAND",
        instance_types=instance_types,
        subnet_ids=tuple(raw.get("subnets") or ()),
        min_size=int(scaling.get("minSize") or 0),
        max_size=int(scaling.get("maxSize") or 0),
        desired_size=int(scaling.get("desiredSize") or 0),
        ami_type=raw.get("amiType"),
        ssh_key=remote.get("ec2SshKey"),
        ssh_source_security_groups=tuple(remote.get("sourceSecurityGroups") or ()),
        asg_names=tuple(g["name"] for g in resources.get("autoScalingGroups") or () if g.get("name")),
        security_group_ids=_template_security_groups(template),
        labels=dict(raw.get("labels") or {}),
        tags=dict(raw.get("tags") or {}),
    )


def normalize_self_managed_group(
    raw: Mapping[str, Any],
    template: Mapping[str, Any] | None = None,
    launch_configuration: Mapping[str, Any] | None = None,
) -> NodeGroup:
    mixed = raw.get("MixedInstancesPolicy") or {}
    instance_types = _override_types((mixed.get("LaunchTemplate") or {}).get("Overrides"))
    if not instance_types and template and template.get("InstanceType"):
        instance_types = (template["InstanceType"],)
    if not instance_types and launch_configuration and launch_configuration.get("InstanceType"):
        instance_types = (launch_configuration["InstanceType"],)
    security_groups = _template_security_groups(template)
    if not security_groups and launch_configuration:
        security_groups = tuple(launch_configuration.get("SecurityGroups") or ())
    return NodeGroup(
        name=raw["AutoScalingGroupName"],
        kind="self-managed",
        arn=raw.get("AutoScalingGroupARN"),
        status=raw.get("Status"),
        capacity_type=_self_managed_capacity(mixed, template, launch_configuration),
        instance_types=instance_types,
        subnet_ids=tuple(s.strip() for s in (raw.get("VPCZoneIdentifier") or "").split(",") if s.strip()),
        min_size=int(raw.get("MinSize") or 0),
        max_size=int(raw.get("MaxSize") or 0),
        desired_size=int(raw.get("DesiredCapacity") or 0),
        asg_names=(raw["AutoScalingGroupName"],),
        security_group_ids=security_groups,
        tags=_tags(raw.get("Tags")),
    )


def _self_managed_capacity(
    mixed: Mapping[str, Any],
    template: Mapping[str, Any] | None,
    launch_configuration: Mapping[str, Any] | None,
) -> str:
    if mixed:
        distribution = mixed.get("InstancesDistribution") or {}
        # The API default is 100 (all on-demand above the base); 0 means every scaled node is spot.
        return "SPOT" if distribution.get("OnDemandPercentageAboveBaseCapacity", 100) == 0 else "ON_DEMAND"
    if launch_configuration and launch_configuration.get("SpotPrice"):
        return "SPOT"
    market = ((template or {}).get("InstanceMarketOptions") or {}).get("MarketType")
    return "SPOT" if market == "spot" else "ON_DEMAND"


def _override_types(overrides: Iterable[Mapping[str, Any]] | None) -> tuple[str, ...]:
    # Overrides given as InstanceRequirements (attribute-based selection) name no instance type.
    seen = dict.fromkeys(o["InstanceType"] for o in overrides or () if o.get("InstanceType"))
    return tuple(seen)


def _template_security_groups(template: Mapping[str, Any] | None) -> tuple[str, ...]:
    if not template:
        return ()
    groups = list(template.get("SecurityGroupIds") or ())
    for interface in template.get("NetworkInterfaces") or ():
        groups.extend(interface.get("Groups") or ())
    return tuple(dict.fromkeys(groups))


def _tags(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or () if "Key" in t}
