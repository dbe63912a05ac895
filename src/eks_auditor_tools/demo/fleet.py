"""A small fleet in an embedded (moto) account that shows every check failing and passing.

| cluster   | VPC      | what it shows                                                               |
|-----------|----------|-----------------------------------------------------------------------------|
| prod-web  | shared   | endpoint open to 0.0.0.0/0, private access off, logging off, SSH open        |
| analytics | shared   | public-only endpoint excluding the NAT IP (CRITICAL), 1.31, nodes in public subnets |
| payments  | isolated | private cluster missing VPC endpoints; sts endpoint with private DNS off     |
| batch     | shared   | small node subnets (IP exhaustion), one-type spot node group                |
| platform  | shared   | the healthy reference: 1.35, prefix delegation, diversified spot           |
| inspected | inspected| private cluster egressing through a firewall (GWLB endpoint -> NAT): quiet  |
| ipv6-api  | shared   | IPv6 cluster on the small subnets: pods take IPv6, no IP exhaustion: quiet  |

The two quiet ones guard against false alarms: `inspected` has no VPC endpoints and runs
cluster-autoscaler without the static instance list, which is right because its nodes reach the internet
through the inspection appliance (its one finding: the autoscaler image's minor version, MEDIUM);
`ipv6-api` runs where an IPv4 cluster's pods would exhaust the subnets, and has no finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from eks_auditor_tools.fleet import LOG_TYPES, Fleet, VpcIds

__all__ = ["ACCOUNT", "NODE_ROLE", "REGION", "Fleet", "build_fleet", "sample_ids"]

ACCOUNT = "123456789012"
REGION = "us-east-1"
OFFICE_CIDR = "203.0.113.0/24"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-node-role"
CLUSTER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-cluster-role"


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
    ip_family: Literal["ipv4", "ipv6"] = "ipv4"


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
        # control-a (a /28: 11 free IPs) holds only control-plane ENIs: cluster_subnet_ip_low, MEDIUM.
        "batch", ("tight-a", "tight-b", "control-a"), True, True, None, True, "1.34",
        (_NodeGroupSpec("spot-workers", ("tight-a", "tight-b"), ("m5.large",), 1, 10, 2, "SPOT"),),
    ),
    _ClusterSpec(
        "platform", _PRIVATE, True, True, None, True, "1.35",
        (
            _NodeGroupSpec("system", _PRIVATE, ("m5.large", "m5a.large", "m6i.large"), 2, 6, 3),
            _NodeGroupSpec("spot-mixed", _PRIVATE, ("m5.large", "m5a.large", "m6i.large"), 0, 6, 1, "SPOT"),
        ),
    ),
    _ClusterSpec(
        # Default routes to a Gateway Load Balancer endpoint (an inspection firewall) whose subnet routes
        # to a NAT gateway: internet egress, so no VPC endpoint is required.
        "inspected", ("inspected-a", "inspected-b"), False, True, (), True, "1.35",
        (_NodeGroupSpec("apps", ("inspected-a", "inspected-b"), ("m5.large",), 2, 6, 2),),
    ),
    _ClusterSpec(
        # The /27 subnets that exhaust batch's IPv4 pods hold an IPv6 cluster's nodes easily (1 IPv4 each).
        "ipv6-api", _PRIVATE, False, True, (), True, "1.35",
        (_NodeGroupSpec("api", ("tight-a", "tight-b"), ("m5.large",), 1, 10, 2),),
        ip_family="ipv6",
    ),
)  # fmt: skip


# The fleet's first five clusters: the shapes the latency benchmark has scaled since issue 12 (15, 60,
# 240 clusters over 3 regions), so its figures stay comparable as the demo fleet grows.
CORE_CLUSTERS = ("prod-web", "analytics", "payments", "batch", "platform")


def build_fleet(session: Any, region: str = REGION, *, only: tuple[str, ...] | None = None) -> Fleet:
    """Create the fleet with real API calls against whatever endpoint the session points at (moto);
    `only` names the clusters to create (every VPC is created all the same)."""
    fleet = Fleet(region, session)
    _shared_vpc(fleet)
    _isolated_vpc(fleet)
    _inspected_vpc(fleet)

    specs = [spec for spec in _CLUSTERS if only is None or spec.name in only]
    for spec in specs:
        _create_cluster(fleet, spec, spec.name)
    # IRSA works for every cluster but prod-web: register the others' OIDC issuers in IAM.
    for name in (spec.name for spec in specs if spec.name != "prod-web"):
        fleet.register_oidc_provider(
            fleet.eks.describe_cluster(name=name)["cluster"]["identity"]["oidc"]["issuer"]
        )
    _spot_nodes(fleet)
    return fleet


def _create_cluster(fleet: Fleet, spec: _ClusterSpec, name: str) -> None:
    region = fleet.region
    restricted = [f"{fleet.nat_ip}/32", OFFICE_CIDR]
    fleet.create_cluster(
        name,
        [fleet.subnets[s] for s in spec.subnets],
        version=spec.version,
        public=spec.public,
        private=spec.private,
        public_cidrs=(list(spec.cidrs) if spec.cidrs is not None else restricted) if spec.public else None,
        log_types=LOG_TYPES if spec.hardened else (),
        secrets_key_arn=f"arn:aws:kms:{region}:{ACCOUNT}:key/demo" if spec.hardened else None,
        role_arn=CLUSTER_ROLE,
        cluster_security_group=False,
        ip_family=spec.ip_family,
    )
    for group in spec.nodegroups:
        fleet.create_nodegroup(
            name,
            group.name,
            [fleet.subnets[s] for s in group.subnets],
            instance_types=group.types,
            capacity_type=group.capacity,
            min_size=group.min,
            max_size=group.max,
            desired_size=group.desired,
            ssh_key="ops-keypair" if group.ssh else None,
            node_role=NODE_ROLE,
        )


def clone_clusters(
    session: Any, fleet: Fleet, copies: int, *, only: tuple[str, ...] | None = None
) -> list[str]:
    """Add `copies` clones of each demo cluster (or of those `only` names; same VPC, subnets, endpoint
    and node groups) to the region: larger fleets for the concurrency tests and the latency benchmark.
    Returns the new names."""
    del session  # the fleet holds its session's clients
    created: list[str] = []
    for copy in range(1, copies + 1):
        for spec in (s for s in _CLUSTERS if only is None or s.name in only):
            name = f"{spec.name}-{copy}"
            _create_cluster(fleet, spec, name)
            created.append(name)
    return created


def _shared_vpc(fleet: Fleet) -> None:
    vpc = fleet.vpcs["shared"] = fleet.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    igw = fleet.create_internet_gateway(vpc)
    public = [fleet.create_subnet(vpc, cidr, az, name) for name, cidr, az in (
        ("public-a", "10.0.0.0/24", "a"), ("public-b", "10.0.1.0/24", "b"),
    )]  # fmt: skip
    fleet.route_table(vpc, default_route={"GatewayId": igw}, subnet_ids=public, name="public")
    for subnet in public:
        fleet.ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    fleet.create_nat_gateway(fleet.subnets["public-a"])
    private = [fleet.create_subnet(vpc, cidr, az, name) for name, cidr, az in (
        ("private-a", "10.0.16.0/20", "a"),
        ("private-b", "10.0.32.0/20", "b"),
        # /27: 32 addresses, 27 usable after AWS reserves five — far too few for ten m5.large nodes.
        ("tight-a", "10.0.48.0/27", "a"),
        ("tight-b", "10.0.48.32/27", "b"),
        ("control-a", "10.0.48.64/28", "a"),
    )]  # fmt: skip
    fleet.route_table(
        vpc, default_route={"NatGatewayId": fleet.nat_gateway}, subnet_ids=private, name="private"
    )


def _isolated_vpc(fleet: Fleet) -> None:
    ec2 = fleet.ec2
    vpc = fleet.vpcs["isolated"] = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    isolated = []
    for name, cidr, az in (("isolated-a", "10.1.0.0/20", "a"), ("isolated-b", "10.1.16.0/20", "b")):
        isolated.append(fleet.create_subnet(vpc, cidr, az, name))
        fleet.route_table(vpc, subnet_ids=[isolated[-1]], name=name)
    ids = VpcIds(vpc_id=vpc, azs=(), isolated_subnet_ids=tuple(isolated))
    fleet.add_endpoints(ids, ["ecr.api", "ecr.dkr"])
    fleet.add_endpoints(ids, ["sts"], private_dns=False)
    # The S3 gateway endpoint reaches only isolated-a's route table: image layers fail in isolated-b.
    fleet.add_endpoints(ids, ["s3"], route_table_ids=[fleet.route_tables["isolated-a"]])


def _inspected_vpc(fleet: Fleet) -> None:
    """Centralized inspection in one VPC: node subnets -> a GWLB endpoint per AZ (the firewall appliance)
    -> the endpoint subnets' route table -> a NAT gateway -> the internet gateway. moto lists GWLB
    endpoints and keeps `vpce-` routes as AWS does (Network Firewall endpoints it does not list)."""
    ec2 = fleet.ec2
    shared_nat = (fleet.nat_gateway, fleet.nat_ip)  # the shared VPC's NAT stays the fleet's NAT
    vpc = fleet.vpcs["inspected"] = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    igw = fleet.create_internet_gateway(vpc)
    public = fleet.create_subnet(vpc, "10.2.0.0/24", "a", "inspected-public-a")
    fleet.route_table(vpc, default_route={"GatewayId": igw}, subnet_ids=[public], name="inspected-public")
    nat, _ = fleet.create_nat_gateway(public)
    fleet.nat_gateway, fleet.nat_ip = shared_nat
    for az in ("a", "b"):
        firewall = fleet.create_subnet(vpc, f"10.2.{1 if az == 'a' else 2}.0/28", az, f"firewall-{az}")
        fleet.route_table(
            vpc, default_route={"NatGatewayId": nat}, subnet_ids=[firewall], name=f"firewall-{az}"
        )
        endpoint = ec2.create_vpc_endpoint(
            VpcId=vpc,
            VpcEndpointType="GatewayLoadBalancer",
            ServiceName=f"com.amazonaws.vpce.{fleet.region}.vpce-svc-0inspection00000{az}",
            SubnetIds=[firewall],
        )["VpcEndpoint"]["VpcEndpointId"]
        fleet.endpoints[f"inspection-{az}"] = endpoint
        nodes = fleet.create_subnet(vpc, f"10.2.{16 if az == 'a' else 32}.0/20", az, f"inspected-{az}")
        fleet.route_table(
            vpc, default_route={"VpcEndpointId": endpoint}, subnet_ids=[nodes], name=f"inspected-{az}"
        )


def _spot_nodes(fleet: Fleet) -> None:
    image = fleet.ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    tags = {
        "eks:cluster-name": "batch",
        "eks:nodegroup-name": "spot-workers",
        "kubernetes.io/cluster/batch": "owned",
        "aws:autoscaling:groupName": "eks-spot-workers-demo",
    }
    for index in range(4):
        subnet = fleet.subnets["tight-a" if index % 2 == 0 else "tight-b"]
        fleet.launch_instance(tags, subnet_id=subnet, label=f"spot-{index}", image_id=image)


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
