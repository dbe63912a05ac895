"""A small fleet in an embedded (moto) account that shows every check failing and passing.

| cluster   | VPC      | what it shows                                                               |
|-----------|----------|-----------------------------------------------------------------------------|
| prod-web  | shared   | endpoint open to 0.0.0.0/0, private access off, logging off, SSH open        |
| analytics | shared   | public-only endpoint excluding the NAT IP (CRITICAL), 1.31, nodes in public subnets |
| payments  | isolated | private cluster missing VPC endpoints; sts endpoint with private DNS off     |
| batch     | shared   | small node subnets (IP exhaustion), one-type spot node group                |
| platform  | shared   | the healthy reference: 1.35, prefix delegation, diversified spot           |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
OFFICE_CIDR = "203.0.113.0/24"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-node-role"
CLUSTER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-cluster-role"
ALL_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


@dataclass(frozen=True)
class _NodeGroupSpec:
    name: str
    subnets: tuple[str, ...]
    types: tuple[str, ...]
    min: int
    max: int
    desired: int
    capacity: str = "ON_DEMAND"
    ssh: bool = False


@dataclass(frozen=True)
class _ClusterSpec:
    name: str
    subnets: tuple[str, ...]
    public: bool
    private: bool
    cidrs: tuple[str, ...] | None  # None: the office range and the NAT gateway's IP
    hardened: bool  # every log type on, secrets encrypted
    version: str
    nodegroups: tuple[_NodeGroupSpec, ...]


_PRIVATE = ("private-a", "private-b")
_CLUSTERS = (
    _ClusterSpec(
        "prod-web", _PRIVATE, True, False, ("0.0.0.0/0",), False, "1.34",
        (_NodeGroupSpec("web", _PRIVATE, ("m5.large",), 2, 6, 3, ssh=True),),
    ),
    _ClusterSpec(
        "analytics", _PRIVATE, True, False, (OFFICE_CIDR,), True, "1.31",
        (
            _NodeGroupSpec("workers", _PRIVATE, ("m5.xlarge",), 1, 4, 2),
            # Ingress nodes straight in the public subnets: public IPs, a route to the internet gateway.
            _NodeGroupSpec("ingress", ("public-a", "public-b"), ("m5.large",), 1, 2, 1),
        ),
    ),
    _ClusterSpec(
        "payments", ("isolated-a", "isolated-b"), False, True, (), True, "1.34",
        (_NodeGroupSpec("core", ("isolated-a", "isolated-b"), ("m5.large", "m5a.large"), 2, 4, 2),),
    ),
    _ClusterSpec(
        "batch", ("tight-a", "tight-b"), True, True, None, True, "1.34",
        (_NodeGroupSpec("spot-workers", ("tight-a", "tight-b"), ("m5.large",), 1, 10, 2, "SPOT"),),
    ),
    _ClusterSpec(
        "platform", _PRIVATE, True, True, None, True, "1.35",
        (
            _NodeGroupSpec("system", _PRIVATE, ("m5.large", "m5a.large", "m6i.large"), 2, 6, 3),
            _NodeGroupSpec("spot-mixed", _PRIVATE, ("m5.large", "m5a.large", "m6i.large"), 0, 6, 1, "SPOT"),
        ),
    ),
)  # fmt: skip


@dataclass
class Fleet:
    region: str
    vpcs: dict[str, str] = field(default_factory=dict)
    subnets: dict[str, str] = field(default_factory=dict)
    route_tables: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)
    nat_gateway: str = ""
    nat_ip: str = ""
    clusters: dict[str, str] = field(default_factory=dict)  # name -> ARN
    instances: dict[str, str] = field(default_factory=dict)  # label -> instance id


def build_fleet(session: Any, region: str = REGION) -> Fleet:
    """Create the fleet with real API calls against whatever endpoint the session points at (moto)."""
    ec2 = session.client("ec2", region_name=region)
    eks = session.client("eks", region_name=region)
    iam = session.client("iam", region_name=region)
    fleet = Fleet(region=region)
    _shared_vpc(ec2, fleet)
    _isolated_vpc(ec2, fleet)

    restricted = [f"{fleet.nat_ip}/32", OFFICE_CIDR]
    for spec in _CLUSTERS:
        _cluster(
            eks,
            fleet,
            spec.name,
            list(spec.subnets),
            public=spec.public,
            private=spec.private,
            cidrs=list(spec.cidrs) if spec.cidrs is not None else restricted,
            logging=ALL_LOG_TYPES if spec.hardened else None,
            secrets=spec.hardened,
            version=spec.version,
        )
        for group in spec.nodegroups:
            extra: dict[str, Any] = {"remoteAccess": {"ec2SshKey": "ops-keypair"}} if group.ssh else {}
            eks.create_nodegroup(
                clusterName=spec.name,
                nodegroupName=group.name,
                nodeRole=NODE_ROLE,
                subnets=[fleet.subnets[s] for s in group.subnets],
                instanceTypes=list(group.types),
                capacityType=group.capacity,
                scalingConfig={"minSize": group.min, "maxSize": group.max, "desiredSize": group.desired},
                **extra,
            )
    _match_real_eks(
        fleet, ssh_nodegroups={(c.name, g.name) for c in _CLUSTERS for g in c.nodegroups if g.ssh}
    )
    # IRSA works for every cluster but prod-web: register the others' OIDC issuers in IAM.
    for name in ("analytics", "payments", "batch", "platform"):
        issuer = eks.describe_cluster(name=name)["cluster"]["identity"]["oidc"]["issuer"]
        iam.create_open_id_connect_provider(
            Url=issuer,
            ClientIDList=["sts.amazonaws.com"],
            ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
        )
    _spot_nodes(ec2, fleet)
    return fleet


def clone_clusters(session: Any, fleet: Fleet, copies: int) -> list[str]:
    """Add `copies` clones of each demo cluster (same VPC, subnets, endpoint and node groups) to the
    region: larger fleets for the concurrency tests and the latency benchmark. Returns the new names."""
    eks = session.client("eks", region_name=fleet.region)
    created: list[str] = []
    ssh: set[tuple[str, str]] = set()
    for copy in range(1, copies + 1):
        for spec in _CLUSTERS:
            name = f"{spec.name}-{copy}"
            restricted = [f"{fleet.nat_ip}/32", OFFICE_CIDR]
            _cluster(
                eks,
                fleet,
                name,
                list(spec.subnets),
                public=spec.public,
                private=spec.private,
                cidrs=list(spec.cidrs) if spec.cidrs is not None else restricted,
                logging=ALL_LOG_TYPES if spec.hardened else None,
                secrets=spec.hardened,
                version=spec.version,
            )
            for group in spec.nodegroups:
                extra: dict[str, Any] = {"remoteAccess": {"ec2SshKey": "ops-keypair"}} if group.ssh else {}
                if group.ssh:
                    ssh.add((name, group.name))
                eks.create_nodegroup(
                    clusterName=name,
                    nodegroupName=group.name,
                    nodeRole=NODE_ROLE,
                    subnets=[fleet.subnets[s] for s in group.subnets],
                    instanceTypes=list(group.types),
                    capacityType=group.capacity,
                    scalingConfig={"minSize": group.min, "maxSize": group.max, "desiredSize": group.desired},
                    **extra,
                )
            created.append(name)
    originals = {(c.name, g.name) for c in _CLUSTERS for g in c.nodegroups if g.ssh}
    _match_real_eks(fleet, ssh_nodegroups=originals | ssh)
    return created


def _match_real_eks(fleet: Fleet, ssh_nodegroups: set[tuple[str, str]]) -> None:
    """Where moto's EKS differs from the real service, make the fake answer like the real one.

    - every cluster gets its own OIDC issuer id (moto shares one across clusters);
    - DescribeCluster carries resourcesVpcConfig.vpcId (moto omits it);
    - node groups created without remoteAccess have none (moto invents an SSH key "eksKeypair").
    """
    import hashlib

    from moto.eks.models import eks_backends

    backend = eks_backends[ACCOUNT][fleet.region]
    vpc_of_subnet = {}
    ec2 = _moto_ec2(fleet)
    for subnet in ec2.describe_subnets()["Subnets"]:
        vpc_of_subnet[subnet["SubnetId"]] = subnet["VpcId"]
    for name, cluster in backend.clusters.items():
        issuer_id = hashlib.sha256(name.encode()).hexdigest()[:32].upper()
        cluster.identity = {
            "oidc": {"issuer": f"https://oidc.eks.{fleet.region}.amazonaws.com/id/{issuer_id}"}
        }
        subnets = cluster.resources_vpc_config.get("subnetIds") or []
        if subnets:
            cluster.resources_vpc_config["vpcId"] = vpc_of_subnet[subnets[0]]
        for nodegroup_name, nodegroup in cluster.nodegroups.items():
            if (name, nodegroup_name) not in ssh_nodegroups:
                nodegroup.remote_access = {}


def _moto_ec2(fleet: Fleet) -> Any:
    import boto3

    return boto3.client("ec2", region_name=fleet.region)


def update_endpoint(
    session: Any, fleet: Fleet, name: str, *, public: bool, private: bool, cidrs: list[str]
) -> None:
    """UpdateClusterConfig; real EKS merges the new endpoint settings into the cluster's VPC config,
    moto replaces it (losing subnets and VPC), so put those back."""
    from moto.eks.models import eks_backends

    cluster = eks_backends[ACCOUNT][fleet.region].clusters[name]
    kept = {k: v for k, v in cluster.resources_vpc_config.items() if k in ("subnetIds", "vpcId")}
    session.client("eks", region_name=fleet.region).update_cluster_config(
        name=name,
        resourcesVpcConfig={
            "endpointPublicAccess": public,
            "endpointPrivateAccess": private,
            "publicAccessCidrs": cidrs,
        },
    )
    cluster.resources_vpc_config.update(kept)


def _shared_vpc(ec2: Any, fleet: Fleet) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    fleet.vpcs["shared"] = vpc
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    fleet.route_tables["public"] = public_rt
    for name, cidr, az in (("public-a", "10.0.0.0/24", "a"), ("public-b", "10.0.1.0/24", "b")):
        subnet = _subnet(ec2, fleet, vpc, name, cidr, az)
        ec2.associate_route_table(RouteTableId=public_rt, SubnetId=subnet)
        ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    allocation = ec2.allocate_address(Domain="vpc")
    fleet.nat_ip = allocation["PublicIp"]
    nat = ec2.create_nat_gateway(SubnetId=fleet.subnets["public-a"], AllocationId=allocation["AllocationId"])
    fleet.nat_gateway = nat["NatGateway"]["NatGatewayId"]
    private_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=private_rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=fleet.nat_gateway
    )
    fleet.route_tables["private"] = private_rt
    for name, cidr, az in (
        ("private-a", "10.0.16.0/20", "a"),
        ("private-b", "10.0.32.0/20", "b"),
        # /27: 32 addresses, 27 usable after AWS reserves five — far too few for ten m5.large nodes.
        ("tight-a", "10.0.48.0/27", "a"),
        ("tight-b", "10.0.48.32/27", "b"),
    ):
        subnet = _subnet(ec2, fleet, vpc, name, cidr, az)
        ec2.associate_route_table(RouteTableId=private_rt, SubnetId=subnet)


def _isolated_vpc(ec2: Any, fleet: Fleet) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    fleet.vpcs["isolated"] = vpc
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    isolated = []
    for name, cidr, az in (("isolated-a", "10.1.0.0/20", "a"), ("isolated-b", "10.1.16.0/20", "b")):
        subnet = _subnet(ec2, fleet, vpc, name, cidr, az)
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        fleet.route_tables[name] = table
        isolated.append(subnet)
    region = fleet.region
    for service, private_dns in (("ecr.api", True), ("ecr.dkr", True), ("sts", False)):
        endpoint = ec2.create_vpc_endpoint(
            VpcId=vpc,
            ServiceName=f"com.amazonaws.{region}.{service}",
            VpcEndpointType="Interface",
            SubnetIds=isolated,
            PrivateDnsEnabled=private_dns,
        )
        fleet.endpoints[service] = endpoint["VpcEndpoint"]["VpcEndpointId"]
    # The S3 gateway endpoint reaches only isolated-a's route table: image layers fail in isolated-b.
    s3 = ec2.create_vpc_endpoint(
        VpcId=vpc,
        ServiceName=f"com.amazonaws.{region}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[fleet.route_tables["isolated-a"]],
    )
    fleet.endpoints["s3"] = s3["VpcEndpoint"]["VpcEndpointId"]


def _subnet(ec2: Any, fleet: Fleet, vpc: str, name: str, cidr: str, az: str) -> str:
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{fleet.region}{az}")
    subnet_id: str = subnet["Subnet"]["SubnetId"]
    ec2.create_tags(Resources=[subnet_id], Tags=[{"Key": "Name", "Value": name}])
    fleet.subnets[name] = subnet_id
    return subnet_id


def _cluster(
    eks: Any,
    fleet: Fleet,
    name: str,
    subnets: list[str],
    *,
    public: bool,
    private: bool,
    cidrs: list[str],
    logging: list[str] | None = None,
    secrets: bool = False,
    version: str = "1.34",
) -> str:
    vpc_config: dict[str, Any] = {
        "subnetIds": [fleet.subnets[s] for s in subnets],
        "endpointPublicAccess": public,
        "endpointPrivateAccess": private,
    }
    if public:
        vpc_config["publicAccessCidrs"] = cidrs
    kwargs: dict[str, Any] = {}
    if logging:
        kwargs["logging"] = {"clusterLogging": [{"types": logging, "enabled": True}]}
    if secrets:
        kwargs["encryptionConfig"] = [
            {
                "resources": ["secrets"],
                "provider": {"keyArn": f"arn:aws:kms:{fleet.region}:{ACCOUNT}:key/demo"},
            }
        ]
    cluster = eks.create_cluster(
        name=name, version=version, roleArn=CLUSTER_ROLE, resourcesVpcConfig=vpc_config, **kwargs
    )["cluster"]
    fleet.clusters[name] = cluster["arn"]
    return str(cluster["arn"])


def _spot_nodes(ec2: Any, fleet: Fleet) -> None:
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    for index in range(4):
        reservation = ec2.run_instances(
            ImageId=image,
            InstanceType="m5.large",
            MinCount=1,
            MaxCount=1,
            SubnetId=fleet.subnets["tight-a" if index % 2 == 0 else "tight-b"],
            InstanceMarketOptions={"MarketType": "spot"},
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "eks:cluster-name", "Value": "batch"},
                        {"Key": "eks:nodegroup-name", "Value": "spot-workers"},
                        {"Key": "kubernetes.io/cluster/batch", "Value": "owned"},
                        {"Key": "aws:autoscaling:groupName", "Value": "eks-spot-workers-demo"},
                    ],
                }
            ],
        )
        fleet.instances[f"spot-{index}"] = reservation["Instances"][0]["InstanceId"]


def sample_ids(fleet: Fleet) -> dict[str, str]:
    """The ids the sample events in events/ use -> the embedded fleet's resources."""
    return {
        "demo-public": "prod-web",
        "demo-private": "payments",
        "demo-spot": "batch",
        "demo-retired": "analytics",
        "i-0123456789abcdef0": fleet.instances["spot-0"],
        "vpc-0d1e2f3a4b5c6d7e8": fleet.vpcs["isolated"],
        "subnet-0a1b2c3d4e5f60718": fleet.subnets["isolated-a"],
        "subnet-0b2c3d4e5f6071829": fleet.subnets["isolated-b"],
        "rtb-0c3d4e5f60718293a": fleet.route_tables["isolated-b"],
        "vpce-0a11b22c33d44e55f": fleet.endpoints["ecr.dkr"],
        "vpce-0f66e77d88c99b00a": fleet.endpoints["sts"],
    }
