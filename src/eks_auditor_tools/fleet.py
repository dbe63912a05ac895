"""Build EKS fleets in a moto account: VPCs (public / private / isolated subnets, NAT, IGW, endpoints),
clusters with given endpoint settings, managed node groups, self-managed ASGs, IAM OIDC providers, spot
instances. The demo's fleet (`eks_auditor_tools.demo.fleet`) and the functional tests build with it.

Call everything inside `moto.mock_aws()`. Every method returns the ids it created; named resources are
also recorded on the fleet (`subnets`, `route_tables`, `endpoints`, `clusters`, `instances`, ...).

Where moto's answers differ from EKS's, the fleet makes moto's stored state look like the real API's
(the collectors are not taught moto's quirks):
- DescribeCluster: moto echoes the request's resourcesVpcConfig, so vpcId and clusterSecurityGroupId
  (always present in the real API) are missing; the fleet adds them to moto's stored cluster. moto gives
  every cluster the same OIDC issuer; the fleet gives each its own, as EKS does.
- UpdateClusterConfig: EKS merges the new endpoint settings into the VPC config, moto replaces it
  (losing subnets and VPC); `update_endpoint` puts them back.
- DescribeNodegroup: moto invents remoteAccess {"ec2SshKey": "eksKeypair"} when none was requested, and
  instanceTypes ["t3.medium"] when a launch template gives the type; the real API returns neither.
- moto creates no Auto Scaling group behind a managed node group (`with_asg=True` creates the one EKS
  would, tagged as EKS tags it), never marks routes "blackhole", and does not implement
  DescribeClusterVersions (tests use botocore's Stubber for those).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3

LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
GATEWAY_SERVICES = frozenset({"s3", "dynamodb"})
# One of moto's built-in AMIs; listing them all costs seconds.
MOTO_AMI = "ami-12c6146b"


@dataclass(frozen=True)
class VpcIds:
    vpc_id: str
    azs: tuple[str, ...]
    public_subnet_ids: tuple[str, ...] = ()
    private_subnet_ids: tuple[str, ...] = ()
    isolated_subnet_ids: tuple[str, ...] = ()
    internet_gateway_id: str | None = None
    nat_gateway_ids: tuple[str, ...] = ()
    nat_public_ips: tuple[str, ...] = ()
    main_route_table_id: str = ""
    public_route_table_id: str | None = None
    private_route_table_ids: tuple[str, ...] = ()
    isolated_route_table_id: str | None = None
    # subnet id -> the route table explicitly associated with it
    subnet_route_tables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterIds:
    name: str
    arn: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    cluster_security_group_id: str
    oidc_issuer: str


@dataclass(frozen=True)
class NodegroupIds:
    name: str
    arn: str
    asg_name: str
    launch_template_id: str | None = None


class Fleet:
    def __init__(self, region: str = "us-east-1", session: boto3.Session | None = None) -> None:
        self.region = region
        self.session = session or boto3.Session(region_name=region)
        self.ec2: Any = self.session.client("ec2", region_name=region)
        self.eks: Any = self.session.client("eks", region_name=region)
        self.autoscaling: Any = self.session.client("autoscaling", region_name=region)
        self.iam: Any = self.session.client("iam", region_name=region)
        self.account_id: str = self.session.client("sts", region_name=region).get_caller_identity()["Account"]
        # What was built, by the name the caller gave it.
        self.vpcs: dict[str, str] = {}
        self.subnets: dict[str, str] = {}
        self.route_tables: dict[str, str] = {}
        self.endpoints: dict[str, str] = {}
        self.security_groups: list[str] = []  # endpoint security groups created by the fleet
        self.clusters: dict[str, str] = {}  # name -> ARN
        self.instances: dict[str, str] = {}  # label -> instance id
        self.nat_gateway = ""
        self.nat_ip = ""

    # Network

    def create_vpc(
        self,
        *,
        cidr: str = "10.0.0.0/16",
        azs: Sequence[str] = ("a", "b"),
        public: bool = True,
        private: bool = True,
        isolated: bool = False,
        nat: Literal["per-az", "single", "none"] = "per-az",
        public_prefix: int = 24,
        private_prefix: int = 20,
        isolated_prefix: int = 20,
        secondary_cidrs: Sequence[str] = (),
        public_map_ip_on_launch: bool = True,
    ) -> VpcIds:
        """A VPC with one subnet per AZ and tier. Public subnets route to an IGW, private ones to a NAT
        gateway (per AZ or a single one), isolated ones have no default route."""
        vpc_id = self.ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        for extra in secondary_cidrs:
            self.ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock=extra)
        zones = tuple(f"{self.region}{az}" if len(az) == 1 else az for az in azs)
        blocks = _Allocator(cidr)
        main = self._main_route_table(vpc_id)
        associations: dict[str, str] = {}

        def subnets(prefix: int, tier: str) -> tuple[str, ...]:
            return tuple(
                self.create_subnet(vpc_id, blocks.next(prefix), zone, f"{tier}-{zone}") for zone in zones
            )

        public_ids = subnets(public_prefix, "public") if public else ()
        private_ids = subnets(private_prefix, "private") if private else ()
        isolated_ids = subnets(isolated_prefix, "isolated") if isolated else ()

        igw_id: str | None = None
        public_rt: str | None = None
        if public_ids:
            igw_id = self.create_internet_gateway(vpc_id)
            public_rt = self.route_table(vpc_id, default_route={"GatewayId": igw_id}, subnet_ids=public_ids)
            associations.update(dict.fromkeys(public_ids, public_rt))
            if public_map_ip_on_launch:
                for subnet_id in public_ids:
                    self.ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})

        nat_ids: list[str] = []
        nat_ips: list[str] = []
        private_rts: list[str] = []
        if private_ids:
            if nat != "none" and not public_ids:
                raise ValueError("a NAT gateway needs a public subnet")
            if nat == "per-az":
                for public_subnet, subnet_id in zip(public_ids, private_ids, strict=True):
                    nat_id, ip = self.create_nat_gateway(public_subnet)
                    nat_ids.append(nat_id)
                    nat_ips.append(ip)
                    to_nat = {"NatGatewayId": nat_id}
                    private_rts.append(self.route_table(vpc_id, default_route=to_nat, subnet_ids=[subnet_id]))
                    associations[subnet_id] = private_rts[-1]
            else:
                route: dict[str, str] | None = None
                if nat == "single":
                    nat_id, ip = self.create_nat_gateway(public_ids[0])
                    nat_ids.append(nat_id)
                    nat_ips.append(ip)
                    route = {"NatGatewayId": nat_id}
                private_rts.append(self.route_table(vpc_id, default_route=route, subnet_ids=private_ids))
                associations.update(dict.fromkeys(private_ids, private_rts[-1]))

        isolated_rt: str | None = None
        if isolated_ids:
            isolated_rt = self.route_table(vpc_id, subnet_ids=isolated_ids)
            associations.update(dict.fromkeys(isolated_ids, isolated_rt))

        return VpcIds(
            vpc_id=vpc_id,
            azs=zones,
            public_subnet_ids=public_ids,
            private_subnet_ids=private_ids,
            isolated_subnet_ids=isolated_ids,
            internet_gateway_id=igw_id,
            nat_gateway_ids=tuple(nat_ids),
            nat_public_ips=tuple(nat_ips),
            main_route_table_id=main,
            public_route_table_id=public_rt,
            private_route_table_ids=tuple(private_rts),
            isolated_route_table_id=isolated_rt,
            subnet_route_tables=associations,
        )

    def create_subnet(self, vpc_id: str, cidr: str, zone: str, name: str) -> str:
        """A subnet tagged Name=<name> (and recorded under it); `zone` a full AZ name or its letter."""
        subnet_id: str = self.ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=f"{self.region}{zone}" if len(zone) == 1 else zone,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": name}]}],
        )["Subnet"]["SubnetId"]
        self.subnets[name] = subnet_id
        return subnet_id

    def create_nat_gateway(self, subnet_id: str) -> tuple[str, str]:
        """A public NAT gateway with a new Elastic IP: (nat id, public IP), also the fleet's last NAT."""
        eip = self.ec2.allocate_address(Domain="vpc")
        nat = self.ec2.create_nat_gateway(SubnetId=subnet_id, AllocationId=eip["AllocationId"])["NatGateway"]
        self.nat_gateway, self.nat_ip = nat["NatGatewayId"], eip["PublicIp"]
        return nat["NatGatewayId"], eip["PublicIp"]

    def create_internet_gateway(self, vpc_id: str) -> str:
        igw_id: str = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        return igw_id

    def route_table(
        self,
        vpc_id: str,
        *,
        default_route: Mapping[str, str] | None = None,
        subnet_ids: Iterable[str] = (),
        name: str | None = None,
    ) -> str:
        """A route table with an optional 0.0.0.0/0 route (e.g. {"NatGatewayId": ...}), associated."""
        table_id = self.ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        if default_route:
            self.ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", **default_route)
        for subnet_id in subnet_ids:
            self.ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)
        if name:
            self.route_tables[name] = table_id
        return table_id

    def add_endpoints(
        self,
        vpc: VpcIds,
        services: Iterable[str],
        *,
        private_dns: bool = True,
        subnet_ids: Sequence[str] | None = None,
        route_table_ids: Sequence[str] | None = None,
        security_group_ids: Sequence[str] | None = None,
    ) -> dict[str, str]:
        """VPC endpoints by service suffix ("ecr.api", "s3", ...): s3/dynamodb as Gateway endpoints on the
        private and isolated route tables, the rest as Interface endpoints in the isolated (else private)
        subnets, behind `security_group_ids` (default: one group admitting HTTPS from the VPC's CIDR, as
        the AWS guides create it; moto would list none where AWS applies the VPC's default group).
        Returns suffix -> endpoint id."""
        interface_subnets = list(subnet_ids or vpc.isolated_subnet_ids or vpc.private_subnet_ids)
        own_tables = [*vpc.private_route_table_ids, *filter(None, [vpc.isolated_route_table_id])]
        tables = list(route_table_ids or own_tables)
        groups = list(security_group_ids) if security_group_ids is not None else None
        made: dict[str, str] = {}
        for service in services:
            name = f"com.amazonaws.{self.region}.{service}"
            if service in GATEWAY_SERVICES:
                response = self.ec2.create_vpc_endpoint(
                    VpcId=vpc.vpc_id, ServiceName=name, VpcEndpointType="Gateway", RouteTableIds=tables
                )
            else:
                if groups is None:
                    groups = [self.endpoint_security_group(vpc.vpc_id)]
                response = self.ec2.create_vpc_endpoint(
                    VpcId=vpc.vpc_id,
                    ServiceName=name,
                    VpcEndpointType="Interface",
                    SubnetIds=interface_subnets,
                    PrivateDnsEnabled=private_dns,
                    SecurityGroupIds=groups,
                )
            made[service] = response["VpcEndpoint"]["VpcEndpointId"]
        self.endpoints.update(made)
        return made

    def endpoint_security_group(self, vpc_id: str, cidrs: Sequence[str] | None = None) -> str:
        """A security group admitting TCP 443 from `cidrs` (default: the VPC's CIDR blocks)."""
        if cidrs is None:
            vpc = self.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
            associated = [a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet") or ()]
            cidrs = associated or [vpc["CidrBlock"]]
        group_id: str = self.ec2.create_security_group(
            GroupName=f"vpc-endpoints-{len(self.security_groups)}",
            Description="VPC interface endpoints: HTTPS from the nodes",
            VpcId=vpc_id,
        )["GroupId"]
        self.ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpRanges": [{"CidrIp": c} for c in cidrs],
                }
            ],
        )
        self.security_groups.append(group_id)
        return group_id

    # EKS

    def create_cluster(
        self,
        name: str,
        subnet_ids: Sequence[str],
        *,
        version: str = "1.30",
        public: bool = True,
        private: bool = False,
        public_cidrs: Sequence[str] | None = ("0.0.0.0/0",),
        log_types: Iterable[str] = (),
        logging_entries: Sequence[Mapping[str, Any]] | None = None,
        secrets_key_arn: str | None = None,
        security_group_ids: Sequence[str] = (),
        tags: Mapping[str, str] | None = None,
        role_arn: str | None = None,
        cluster_security_group: bool = True,
        ip_family: Literal["ipv4", "ipv6"] = "ipv4",
    ) -> ClusterIds:
        """An ACTIVE cluster. `public_cidrs=None` sends no publicAccessCidrs (moto then returns none).
        Logging: `log_types` enabled, the rest disabled, as two entries the way EKS answers;
        `logging_entries` sends raw clusterLogging entries instead. `cluster_security_group=False`
        leaves clusterSecurityGroupId out."""
        vpc_config: dict[str, Any] = {
            "subnetIds": list(subnet_ids),
            "endpointPublicAccess": public,
            "endpointPrivateAccess": private,
        }
        if security_group_ids:
            vpc_config["securityGroupIds"] = list(security_group_ids)
        if public_cidrs is not None:
            vpc_config["publicAccessCidrs"] = list(public_cidrs)
        enabled = list(log_types)
        entries = (
            list(logging_entries)
            if logging_entries is not None
            else [
                {"types": enabled, "enabled": True},
                {"types": [t for t in LOG_TYPES if t not in enabled], "enabled": False},
            ]
        )
        params: dict[str, Any] = {
            "name": name,
            "version": version,
            "roleArn": role_arn or f"arn:aws:iam::{self.account_id}:role/eks-cluster-{name}",
            "resourcesVpcConfig": vpc_config,
            "logging": {"clusterLogging": [e for e in entries if e.get("types")]},
            "tags": dict(tags or {}),
        }
        if ip_family == "ipv6":
            params["kubernetesNetworkConfig"] = {"ipFamily": "ipv6"}
        if secrets_key_arn:
            params["encryptionConfig"] = [{"resources": ["secrets"], "provider": {"keyArn": secrets_key_arn}}]
        cluster = self.eks.create_cluster(**params)["cluster"]
        vpc_id = self.ec2.describe_subnets(SubnetIds=[subnet_ids[0]])["Subnets"][0]["VpcId"]
        stored = self._moto_cluster(name)
        stored.resources_vpc_config = {**stored.resources_vpc_config, "vpcId": vpc_id}
        cluster_sg = ""
        if cluster_security_group:
            cluster_sg = self.ec2.create_security_group(
                GroupName=f"eks-cluster-sg-{name}",
                Description=f"EKS created security group applied to ENI that is attached to EKS Control "
                f"Plane master nodes, as well as any managed workloads. ({name})",
                VpcId=vpc_id,
            )["GroupId"]
            stored.resources_vpc_config["clusterSecurityGroupId"] = cluster_sg
        issuer_id = hashlib.sha256(name.encode()).hexdigest()[:32].upper()
        issuer = f"https://oidc.eks.{self.region}.amazonaws.com/id/{issuer_id}"
        stored.identity = {"oidc": {"issuer": issuer}}
        self.clusters[name] = cluster["arn"]
        return ClusterIds(
            name=name,
            arn=cluster["arn"],
            vpc_id=vpc_id,
            subnet_ids=tuple(subnet_ids),
            cluster_security_group_id=cluster_sg,
            oidc_issuer=issuer,
        )

    def update_endpoint(self, name: str, *, public: bool, private: bool, cidrs: Sequence[str]) -> None:
        """UpdateClusterConfig of the endpoint settings, merged into the VPC config as EKS does."""
        stored = self._moto_cluster(name)
        kept = {k: v for k, v in stored.resources_vpc_config.items() if k not in _ENDPOINT_SETTINGS}
        self.eks.update_cluster_config(
            name=name,
            resourcesVpcConfig={
                "endpointPublicAccess": public,
                "endpointPrivateAccess": private,
                "publicAccessCidrs": list(cidrs),
            },
        )
        stored.resources_vpc_config.update(kept)

    def create_nodegroup(
        self,
        cluster: str,
        name: str,
        subnet_ids: Sequence[str],
        *,
        instance_types: Sequence[str] = ("m5.large",),
        capacity_type: str = "ON_DEMAND",
        min_size: int = 1,
        max_size: int = 3,
        desired_size: int = 2,
        ssh_key: str | None = None,
        source_security_groups: Sequence[str] = (),
        labels: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        launch_template_instance_type: str | None = None,
        with_asg: bool = False,
        node_role: str | None = None,
    ) -> NodegroupIds:
        """A managed node group. `launch_template_instance_type`: the type comes from a launch template
        (DescribeNodegroup then has no instanceTypes). `with_asg`: also create the ASG EKS would run."""
        params: dict[str, Any] = {
            "clusterName": cluster,
            "nodegroupName": name,
            "nodeRole": node_role or f"arn:aws:iam::{self.account_id}:role/eks-node-{cluster}",
            "subnets": list(subnet_ids),
            "capacityType": capacity_type,
            "scalingConfig": {"minSize": min_size, "maxSize": max_size, "desiredSize": desired_size},
            "labels": dict(labels or {}),
            "tags": dict(tags or {}),
        }
        template_id: str | None = None
        if launch_template_instance_type:
            template_id = self.create_launch_template(f"eks-{cluster}-{name}", launch_template_instance_type)
            params["launchTemplate"] = {"id": template_id, "version": "1"}
        else:
            params["instanceTypes"] = list(instance_types)
        if ssh_key:
            remote: dict[str, Any] = {"ec2SshKey": ssh_key}
            if source_security_groups:
                remote["sourceSecurityGroups"] = list(source_security_groups)
            params["remoteAccess"] = remote
        group = self.eks.create_nodegroup(**params)["nodegroup"]
        stored = self._moto_cluster(cluster).nodegroups[name]
        if not ssh_key:
            stored.remote_access = None
        if launch_template_instance_type:
            stored.instance_types = None
        asg_name = group["resources"]["autoScalingGroups"][0]["name"]
        if with_asg:
            types = [launch_template_instance_type] if launch_template_instance_type else list(instance_types)
            template = template_id or self.create_launch_template(f"eks-{cluster}-{name}", types[0])
            self.autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=asg_name,
                MinSize=min_size,
                MaxSize=max_size,
                DesiredCapacity=desired_size,
                VPCZoneIdentifier=",".join(subnet_ids),
                MixedInstancesPolicy={
                    "LaunchTemplate": {
                        "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "1"},
                        "Overrides": [{"InstanceType": t} for t in types],
                    },
                    "InstancesDistribution": {
                        "OnDemandPercentageAboveBaseCapacity": 0 if capacity_type == "SPOT" else 100
                    },
                },
                Tags=_asg_tags(
                    {
                        "eks:cluster-name": cluster,
                        "eks:nodegroup-name": name,
                        f"kubernetes.io/cluster/{cluster}": "owned",
                        "k8s.io/cluster-autoscaler/enabled": "true",
                        f"k8s.io/cluster-autoscaler/{cluster}": "owned",
                    }
                ),
            )
        return NodegroupIds(
            name=name, arn=group["nodegroupArn"], asg_name=asg_name, launch_template_id=template_id
        )

    def create_self_managed_group(
        self,
        cluster: str,
        name: str,
        subnet_ids: Sequence[str],
        *,
        instance_types: Sequence[str] = ("m5.large",),
        spot: bool = False,
        launch: Literal["mixed", "template", "configuration"] = "mixed",
        min_size: int = 0,
        max_size: int = 3,
        desired_size: int = 0,
        cluster_tag_value: str = "owned",
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """An ASG tagged kubernetes.io/cluster/<cluster>, launched by a MixedInstancesPolicy (one override per
        type; spot = 0% on-demand), a launch template (spot market option) or a launch configuration
        (spot price). Returns its name."""
        all_tags = {f"kubernetes.io/cluster/{cluster}": cluster_tag_value, **(tags or {})}
        params: dict[str, Any] = {
            "AutoScalingGroupName": name,
            "MinSize": min_size,
            "MaxSize": max_size,
            "DesiredCapacity": desired_size,
            "VPCZoneIdentifier": ",".join(subnet_ids),
            "Tags": _asg_tags(all_tags),
        }
        if launch == "mixed":
            template = self.create_launch_template(f"{name}-lt", instance_types[0])
            params["MixedInstancesPolicy"] = {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "$Latest"},
                    "Overrides": [{"InstanceType": t} for t in instance_types],
                },
                "InstancesDistribution": {
                    "OnDemandBaseCapacity": 0,
                    "OnDemandPercentageAboveBaseCapacity": 0 if spot else 100,
                },
            }
        elif launch == "template":
            template = self.create_launch_template(f"{name}-lt", instance_types[0], spot=spot)
            params["LaunchTemplate"] = {"LaunchTemplateId": template, "Version": "$Default"}
        else:
            config: dict[str, Any] = {
                "LaunchConfigurationName": f"{name}-lc",
                "ImageId": "ami-12c6146b",
                "InstanceType": instance_types[0],
            }
            if spot:
                config["SpotPrice"] = "0.10"
            self.autoscaling.create_launch_configuration(**config)
            params["LaunchConfigurationName"] = config["LaunchConfigurationName"]
        self.autoscaling.create_auto_scaling_group(**params)
        return name

    def create_launch_template(self, name: str, instance_type: str, *, spot: bool = False) -> str:
        data: dict[str, Any] = {"InstanceType": instance_type}
        if spot:
            data["InstanceMarketOptions"] = {"MarketType": "spot"}
        template = self.ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)
        return template["LaunchTemplate"]["LaunchTemplateId"]

    # IAM

    def register_oidc_provider(self, issuer_url: str) -> str:
        """The IAM OIDC provider IRSA needs for a cluster's issuer; returns its ARN."""
        return self.iam.create_open_id_connect_provider(
            Url=issuer_url,
            ClientIDList=["sts.amazonaws.com"],
            ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
        )["OpenIDConnectProviderArn"]

    # EC2

    def launch_instance(
        self,
        tags: Mapping[str, str],
        *,
        instance_type: str = "m5.large",
        subnet_id: str | None = None,
        az: str | None = None,
        spot: bool = True,
        label: str | None = None,
        image_id: str = MOTO_AMI,
    ) -> str:
        """One running instance (a spot one unless `spot=False`) with the given tags; returns its id."""
        params: dict[str, Any] = {
            "ImageId": image_id,
            "InstanceType": instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ],
        }
        if subnet_id:
            params["SubnetId"] = subnet_id
        if az:
            params["Placement"] = {"AvailabilityZone": az}
        if spot:
            params["InstanceMarketOptions"] = {"MarketType": "spot"}
        instance_id: str = self.ec2.run_instances(**params)["Instances"][0]["InstanceId"]
        if label:
            self.instances[label] = instance_id
        return instance_id

    # moto internals

    def _moto_cluster(self, name: str) -> Any:
        from moto.eks.models import eks_backends

        return eks_backends[self.account_id][self.region].clusters[name]

    def _main_route_table(self, vpc_id: str) -> str:
        tables = self.ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]}]
        )["RouteTables"]
        return tables[0]["RouteTableId"]


_ENDPOINT_SETTINGS = ("endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs")


def _asg_tags(tags: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in tags.items()]


class _Allocator:
    """Hands out consecutive, aligned subnets of a VPC CIDR of any prefix length."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr)
        self.cursor = int(self.network.network_address)

    def next(self, prefix: int) -> str:
        size = 2 ** (self.network.max_prefixlen - prefix)
        start = -(-self.cursor // size) * size
        block = ipaddress.ip_network((start, prefix))
        if not block.subnet_of(self.network):  # type: ignore[arg-type]
            raise ValueError(f"{self.network} has no room left for a /{prefix}")
        self.cursor = start + size
        return str(block)
