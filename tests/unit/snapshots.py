"""One healthy cluster snapshot and small functions that change one part of it (cfn-lint style).

The base cluster `prod` (us-east-1) passes every check in checks/{endpoint,vpc_endpoints,cluster_config,
version,oidc,nodegroup}.py: public+private endpoint with a restricted CIDR that holds the NAT IPs, nodes
in two private subnets that egress through one NAT gateway per AZ, all log types on, secrets encrypted
with KMS, OIDC provider registered, Kubernetes 1.33 evaluated on 2026-01-15 (195 days of standard
support left), one managed node group without SSH.

Helpers return new frozen snapshots (`model_copy(update=...)`); nothing here mutates the base.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from eks_auditor.audit import evaluate
from eks_auditor.checks.registry import CHECKS
from eks_auditor.model.check import Outcome, Result
from eks_auditor.model.network import (
    IngressRule,
    NatGateway,
    Route,
    RouteTable,
    SecurityGroup,
    Subnet,
    VpcEndpoint,
    VpcNetwork,
)
from eks_auditor.model.snapshot import (
    ClusterInfo,
    ClusterSnapshot,
    EndpointAccess,
    KubernetesVersion,
    NodeGroup,
    VersionSupport,
)

ACCOUNT = "111122223333"
REGION = "us-east-1"
NAME = "prod"
ARN = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{NAME}"
VPC = "vpc-0a1b2c3d4e5f60718"
COLLECTED_AT = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
OIDC_ID = "EXAMPLED539D4633E53DE1B71EXAMPLE"
OIDC_ISSUER = f"https://oidc.eks.{REGION}.amazonaws.com/id/{OIDC_ID}"
OFFICE_CIDR = "198.51.100.0/24"
NAT_CIDR = "203.0.113.0/28"

PUBLIC_A, PUBLIC_B = "subnet-0pub0000000000a", "subnet-0pub0000000000b"
PRIVATE_A, PRIVATE_B = "subnet-0priv000000000a", "subnet-0priv000000000b"
NAT_A, NAT_B = "nat-0aaaaaaaaaaaaaaaa", "nat-0bbbbbbbbbbbbbbbb"
NAT_A_IP, NAT_B_IP = "203.0.113.10", "203.0.113.11"
IGW = "igw-0c0ffee0c0ffee000"
RTB_MAIN, RTB_PUBLIC = "rtb-0main00000000000", "rtb-0public000000000"
RTB_PRIVATE_A, RTB_PRIVATE_B = "rtb-0priva0000000000", "rtb-0privb0000000000"
NODEGROUP = "general"
NODEGROUP_ARN = (
    f"arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/{NAME}/{NODEGROUP}/8ec5a1b2-0b7e-2f3a-9e6c-1f0c8e0d2a11"
)
ALL_LOG_TYPES = frozenset({"api", "audit", "authenticator", "controllerManager", "scheduler"})

LOCAL = Route(destination="10.0.0.0/16", target_type="local", target_id="local")


def _subnet(subnet_id: str, cidr: str, az: str, *, public: bool) -> Subnet:
    return Subnet(
        id=subnet_id,
        vpc_id=VPC,
        cidr=cidr,
        availability_zone=az,
        available_ips=4000,
        map_public_ip_on_launch=public,
    )


def default_route(target_type: Any, target_id: str, *, active: bool = True) -> Route:
    return Route(destination="0.0.0.0/0", target_type=target_type, target_id=target_id, active=active)


def _network() -> VpcNetwork:
    return VpcNetwork(
        vpc_id=VPC,
        dns_support=True,
        dns_hostnames=True,
        cidr_blocks=("10.0.0.0/16",),
        subnets={
            PUBLIC_A: _subnet(PUBLIC_A, "10.0.0.0/24", "us-east-1a", public=True),
            PUBLIC_B: _subnet(PUBLIC_B, "10.0.1.0/24", "us-east-1b", public=True),
            PRIVATE_A: _subnet(PRIVATE_A, "10.0.16.0/20", "us-east-1a", public=False),
            PRIVATE_B: _subnet(PRIVATE_B, "10.0.32.0/20", "us-east-1b", public=False),
        },
        route_tables=(
            # The main table has no way out: a subnet that relies on it is isolated.
            RouteTable(id=RTB_MAIN, main=True, routes=(LOCAL,)),
            RouteTable(
                id=RTB_PUBLIC,
                main=False,
                subnet_ids=(PUBLIC_A, PUBLIC_B),
                routes=(LOCAL, default_route("igw", IGW)),
            ),
            RouteTable(
                id=RTB_PRIVATE_A,
                main=False,
                subnet_ids=(PRIVATE_A,),
                routes=(LOCAL, default_route("nat", NAT_A)),
            ),
            RouteTable(
                id=RTB_PRIVATE_B,
                main=False,
                subnet_ids=(PRIVATE_B,),
                routes=(LOCAL, default_route("nat", NAT_B)),
            ),
        ),
        nat_gateways={
            NAT_A: NatGateway(id=NAT_A, subnet_id=PUBLIC_A, state="available", public_ips=(NAT_A_IP,)),
            NAT_B: NatGateway(id=NAT_B, subnet_id=PUBLIC_B, state="available", public_ips=(NAT_B_IP,)),
        },
    )


def healthy() -> ClusterSnapshot:
    """The base snapshot: every check in this helper's modules passes or is not applicable."""
    return ClusterSnapshot(
        account=ACCOUNT,
        region=REGION,
        name=NAME,
        arn=ARN,
        collected_at=COLLECTED_AT,
        cluster=ClusterInfo(
            status="ACTIVE",
            version="1.33",
            parsed_version=KubernetesVersion(major=1, minor=33),
            platform_version="eks.9",
            endpoint_url="https://EXAMPLE0123456789.gr7.us-east-1.eks.amazonaws.com",
            endpoint_access=EndpointAccess(public=True, private=True, public_cidrs=(OFFICE_CIDR, NAT_CIDR)),
            vpc_id=VPC,
            subnet_ids=(PRIVATE_A, PRIVATE_B),
            enabled_log_types=ALL_LOG_TYPES,
            encrypted_resources=frozenset({"secrets"}),
            oidc_issuer=OIDC_ISSUER,
        ),
        network=_network(),
        nodegroups=(
            NodeGroup(
                name=NODEGROUP,
                arn=NODEGROUP_ARN,
                status="ACTIVE",
                instance_types=("m5.large",),
                subnet_ids=(PRIVATE_A, PRIVATE_B),
                min_size=2,
                max_size=6,
                desired_size=3,
                ami_type="AL2023_x86_64_STANDARD",
            ),
        ),
        iam_oidc_providers=frozenset({f"oidc.eks.{REGION}.amazonaws.com/id/{OIDC_ID}"}),
        # The default add-ons of a new cluster; no Pod Identity.
        addons=frozenset({"vpc-cni", "kube-proxy", "coredns"}),
        pod_identity_associations=(),
        version_support=VersionSupport(
            version="1.33",
            end_of_standard_support=date(2026, 7, 29),
            end_of_extended_support=date(2027, 7, 29),
            source="test calendar",
        ),
    )


BASE = healthy()


# --- one-part changes -----------------------------------------------------------------------------


def with_cluster(snapshot: ClusterSnapshot, **changes: Any) -> ClusterSnapshot:
    assert snapshot.cluster is not None
    return snapshot.model_copy(update={"cluster": snapshot.cluster.model_copy(update=changes)})


def with_endpoint(
    snapshot: ClusterSnapshot, *, public: bool, private: bool, cidrs: Iterable[str] | None = None
) -> ClusterSnapshot:
    assert snapshot.cluster is not None
    current = snapshot.cluster.endpoint_access.public_cidrs
    access = EndpointAccess(
        public=public, private=private, public_cidrs=tuple(current if cidrs is None else cidrs)
    )
    return with_cluster(snapshot, endpoint_access=access)


def with_network(snapshot: ClusterSnapshot, **changes: Any) -> ClusterSnapshot:
    assert snapshot.network is not None
    return snapshot.model_copy(update={"network": snapshot.network.model_copy(update=changes)})


def replace_route_table(snapshot: ClusterSnapshot, table: RouteTable) -> ClusterSnapshot:
    """Swap the table with the same id (or add it)."""
    assert snapshot.network is not None
    others = tuple(t for t in snapshot.network.route_tables if t.id != table.id)
    return with_network(snapshot, route_tables=(*others, table))


def without_route_table(snapshot: ClusterSnapshot, table_id: str) -> ClusterSnapshot:
    assert snapshot.network is not None
    return with_network(
        snapshot, route_tables=tuple(t for t in snapshot.network.route_tables if t.id != table_id)
    )


def with_nat(snapshot: ClusterSnapshot, nat_id: str, **changes: Any) -> ClusterSnapshot:
    assert snapshot.network is not None
    nats = dict(snapshot.network.nat_gateways)
    nats[nat_id] = nats[nat_id].model_copy(update=changes)
    return with_network(snapshot, nat_gateways=nats)


def with_subnet(snapshot: ClusterSnapshot, subnet_id: str, **changes: Any) -> ClusterSnapshot:
    assert snapshot.network is not None
    subnets = dict(snapshot.network.subnets)
    subnets[subnet_id] = subnets[subnet_id].model_copy(update=changes)
    return with_network(snapshot, subnets=subnets)


def with_nodegroups(snapshot: ClusterSnapshot, *groups: NodeGroup) -> ClusterSnapshot:
    return snapshot.model_copy(update={"nodegroups": tuple(groups)})


def with_nodegroup(snapshot: ClusterSnapshot, **changes: Any) -> ClusterSnapshot:
    """Change the base node group."""
    assert snapshot.nodegroups
    return with_nodegroups(snapshot, snapshot.nodegroups[0].model_copy(update=changes))


def without(snapshot: ClusterSnapshot, part: str) -> ClusterSnapshot:
    """The part could not be collected."""
    return snapshot.model_copy(update={part: None, "gaps": {**snapshot.gaps, part: "AccessDenied (test)"}})


# --- private (isolated) cluster -------------------------------------------------------------------

ISOLATED_A = RouteTable(id=RTB_PRIVATE_A, main=False, subnet_ids=(PRIVATE_A,), routes=(LOCAL,))
ISOLATED_B = RouteTable(id=RTB_PRIVATE_B, main=False, subnet_ids=(PRIVATE_B,), routes=(LOCAL,))
INTERFACE_SUFFIXES = (
    "ecr.api",
    "ecr.dkr",
    "sts",
    "ec2",
    "logs",
    "elasticloadbalancing",
    "autoscaling",
    "eks-auth",
    "eks",
)


# The interface endpoints' security group: HTTPS from the whole VPC CIDR, as the AWS guides create it.
ENDPOINT_SG = "sg-0endpoints0000000"
ENDPOINT_SECURITY_GROUP = SecurityGroup(
    id=ENDPOINT_SG,
    ingress=(IngressRule(protocol="tcp", from_port=443, to_port=443, cidrs=("10.0.0.0/16",)),),
)


def interface_endpoint(
    suffix: str,
    *,
    private_dns: bool = True,
    subnets: tuple[str, ...] = (PRIVATE_A, PRIVATE_B),
    security_groups: tuple[str, ...] = (ENDPOINT_SG,),
) -> VpcEndpoint:
    return VpcEndpoint(
        id=f"vpce-{suffix.replace('.', '')}",
        service_name=f"com.amazonaws.{REGION}.{suffix}",
        type="Interface",
        state="available",
        private_dns_enabled=private_dns,
        subnet_ids=subnets,
        security_group_ids=security_groups,
    )


def s3_gateway(*route_tables: str) -> VpcEndpoint:
    return VpcEndpoint(
        id="vpce-s3gateway",
        service_name=f"com.amazonaws.{REGION}.s3",
        type="Gateway",
        state="available",
        route_table_ids=route_tables,
    )


def all_endpoints() -> tuple[VpcEndpoint, ...]:
    return (*(interface_endpoint(s) for s in INTERFACE_SUFFIXES), s3_gateway(RTB_PRIVATE_A, RTB_PRIVATE_B))


def isolated(
    snapshot: ClusterSnapshot = BASE, endpoints: Iterable[VpcEndpoint] | None = None
) -> ClusterSnapshot:
    """Both node subnets lose their NAT route; the VPC has `endpoints` (default: every required one)."""
    snap = replace_route_table(replace_route_table(snapshot, ISOLATED_A), ISOLATED_B)
    return with_network(
        snap,
        vpc_endpoints=tuple(all_endpoints() if endpoints is None else endpoints),
        endpoint_security_groups={ENDPOINT_SG: ENDPOINT_SECURITY_GROUP},
    )


def without_endpoint(snapshot: ClusterSnapshot, suffix: str) -> ClusterSnapshot:
    assert snapshot.network is not None
    name = f"com.amazonaws.{REGION}.{suffix}"
    return with_network(
        snapshot, vpc_endpoints=tuple(e for e in snapshot.network.vpc_endpoints if e.service_name != name)
    )


# --- running --------------------------------------------------------------------------------------


def run(check_id: str, snapshot: ClusterSnapshot) -> list[Outcome]:
    """The registered check's outcomes through the engine's gate; every outcome must carry the check's id.

    The engine turns a missing required part into ERROR, so checks never test for it themselves. A check
    that raises is a bug the engine would hide as ERROR: here it fails the test.
    """
    outcomes = evaluate(snapshot, [CHECKS[check_id]])
    assert outcomes, f"{check_id} returned no outcome"
    raised = [
        o.reason for o in outcomes if o.result is Result.ERROR and (o.reason or "").startswith("check raised")
    ]
    assert raised == [], raised
    assert all(o.check_id == check_id for o in outcomes)
    return outcomes


def only(check_id: str, snapshot: ClusterSnapshot) -> Outcome:
    """The single outcome of a cluster-level check."""
    outcomes = run(check_id, snapshot)
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


def by_resource(outcomes: Iterable[Outcome]) -> dict[str, Outcome]:
    """Outcomes keyed by resource id; a check must not report one resource twice."""
    listed = list(outcomes)
    keyed = {o.resource: o for o in listed}
    assert len(keyed) == len(listed), [o.resource for o in listed]
    return keyed
