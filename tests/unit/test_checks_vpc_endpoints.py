"""vpc_endpoint_missing and vpc_endpoint_private_dns_disabled over an isolated variant of the base."""

from __future__ import annotations

from eks_auditor.model.check import Result, Severity
from eks_auditor.model.kubernetes import KubernetesState, Workload
from eks_auditor.model.network import IngressRule, RouteTable, SecurityGroup, VpcEndpoint
from eks_auditor.model.snapshot import ClusterSnapshot, PodIdentityAssociation
from snapshots import (
    ARN,
    BASE,
    ENDPOINT_SG,
    INTERFACE_SUFFIXES,
    LOCAL,
    PRIVATE_A,
    PRIVATE_B,
    REGION,
    RTB_MAIN,
    RTB_PRIVATE_A,
    RTB_PRIVATE_B,
    VPC,
    by_resource,
    interface_endpoint,
    isolated,
    replace_route_table,
    run,
    s3_gateway,
    with_network,
    without,
    without_endpoint,
)

MISSING = "vpc_endpoint_missing"
DNS = "vpc_endpoint_private_dns_disabled"
ALL_SERVICES = (
    "ecr.api",
    "ecr.dkr",
    "s3",
    "sts",
    "ec2",
    "logs",
    "elasticloadbalancing",
    "autoscaling",
    "eks-auth",
    "eks",
)
VERIFIED = {"egress-unverified": Result.PASS}


def res(suffix: str) -> str:
    return f"{ARN}/vpc-endpoint/{suffix}"


def no_ecr_api() -> ClusterSnapshot:
    return without_endpoint(isolated(), "ecr.api")


def sts_without_private_dns() -> ClusterSnapshot:
    snapshot = without_endpoint(isolated(), "sts")
    assert snapshot.network is not None
    return with_network(
        snapshot,
        vpc_endpoints=(*snapshot.network.vpc_endpoints, interface_endpoint("sts", private_dns=False)),
    )


COVERAGE = [
    (MISSING, Result.FAIL, no_ecr_api),
    (MISSING, Result.FAIL, lambda: endpoint_rules(IngressRule(protocol="tcp", from_port=22, to_port=22))),
    (MISSING, Result.PASS, isolated),
    (MISSING, Result.NOT_APPLICABLE, lambda: BASE),
    (MISSING, Result.ERROR, lambda: without(isolated(), "network")),
    (MISSING, Result.FAIL, lambda: pod_identity(addons=frozenset({"eks-pod-identity-agent"}))),
    (DNS, Result.FAIL, sts_without_private_dns),
    (DNS, Result.PASS, isolated),
    (DNS, Result.NOT_APPLICABLE, lambda: BASE),
    (DNS, Result.FAIL, lambda: with_network(isolated(), dns_hostnames=False)),
    (DNS, Result.ERROR, lambda: with_network(isolated(), dns_support=None)),
]


def results(check_id: str, snapshot: ClusterSnapshot) -> dict[str, Result]:
    prefix = f"{ARN}/vpc-endpoint/"
    return {r.removeprefix(prefix): o.result for r, o in by_resource(run(check_id, snapshot)).items()}


def test_nat_egress_makes_every_service_not_applicable() -> None:
    assert results(MISSING, BASE) == {**dict.fromkeys(ALL_SERVICES, Result.NOT_APPLICABLE), **VERIFIED}
    assert results(DNS, BASE) == dict.fromkeys((*INTERFACE_SUFFIXES, "vpc-dns"), Result.NOT_APPLICABLE)


def test_isolated_with_every_endpoint_passes_per_service() -> None:
    assert results(MISSING, isolated()) == {
        **dict.fromkeys(ALL_SERVICES, Result.PASS),
        "eks-auth": Result.NOT_APPLICABLE,  # BASE uses no Pod Identity
        **VERIFIED,
    }
    assert results(DNS, isolated()) == dict.fromkeys((*INTERFACE_SUFFIXES, "vpc-dns"), Result.PASS)
    outcome = by_resource(run(MISSING, isolated()))[res("ecr.dkr")]
    assert outcome.evidence == {
        "service": f"com.amazonaws.{REGION}.ecr.dkr",
        "vpc_endpoint_ids": ["vpce-ecrdkr"],
        "admitting_endpoint_ids": ["vpce-ecrdkr"],
        "azs_without_endpoint": [],
    }


def test_missing_ecr_api_is_critical_and_only_that_service_fails() -> None:
    outcomes = by_resource(run(MISSING, no_ecr_api()))
    assert {r: o.result for r, o in outcomes.items() if o.result is not Result.PASS} == {
        res("ecr.api"): Result.FAIL,
        res("eks-auth"): Result.NOT_APPLICABLE,
    }
    failed = outcomes[res("ecr.api")]
    assert failed.severity is Severity.CRITICAL
    assert failed.evidence == {
        "service": f"com.amazonaws.{REGION}.ecr.api",
        "endpoint_type": "Interface",
        "isolated_subnets": [PRIVATE_A, PRIVATE_B],
        "consequence": "image pulls from ECR fail (registry API)",
        "required_because": "required for every isolated cluster",
    }


def test_severity_by_service_when_nothing_exists() -> None:
    outcomes = by_resource(run(MISSING, isolated(endpoints=())))
    assert {r.removeprefix(f"{ARN}/vpc-endpoint/"): o.severity for r, o in outcomes.items()} == {
        "ecr.api": Severity.CRITICAL,
        "ecr.dkr": Severity.CRITICAL,
        "s3": Severity.CRITICAL,
        "sts": Severity.HIGH,
        "ec2": Severity.HIGH,
        "logs": Severity.MEDIUM,
        "elasticloadbalancing": Severity.MEDIUM,
        "autoscaling": Severity.LOW,
        "eks": Severity.MEDIUM,
        "eks-auth": None,
        "egress-unverified": None,
    }
    assert all(
        o.result is Result.FAIL
        for r, o in outcomes.items()
        if not r.endswith(("egress-unverified", "eks-auth"))
    )
    # No endpoint at all: nothing for the private-DNS check to judge.
    assert results(DNS, isolated(endpoints=())) == dict.fromkeys(
        (*INTERFACE_SUFFIXES, "vpc-dns"), Result.NOT_APPLICABLE
    )


def test_s3_gateway_on_only_some_route_tables_fails() -> None:
    endpoints = (*(interface_endpoint(s) for s in INTERFACE_SUFFIXES), s3_gateway(RTB_PRIVATE_A))
    outcome = by_resource(run(MISSING, isolated(endpoints=endpoints)))[res("s3")]
    assert outcome.result is Result.FAIL
    assert outcome.severity is Severity.CRITICAL
    assert (
        outcome.title == "S3 gateway endpoint is not associated with every isolated node subnet's route table"
    )
    assert outcome.evidence == {
        "service": f"com.amazonaws.{REGION}.s3",
        "endpoint_type": "Gateway",
        "gateway_endpoint_ids": ["vpce-s3gateway"],
        "route_tables_without_s3": [RTB_PRIVATE_B],
        "subnets_without_s3": [PRIVATE_B],
        "consequence": "image layers (stored in S3) cannot be downloaded",
    }


def test_s3_gateway_must_cover_the_main_table_a_subnet_inherits() -> None:
    # PRIVATE_B loses its explicit association and falls back to the (isolated) main table.
    snapshot = replace_route_table(
        isolated(), RouteTable(id=RTB_PRIVATE_B, main=False, subnet_ids=(), routes=(LOCAL,))
    )
    outcome = by_resource(run(MISSING, snapshot))[res("s3")]
    assert outcome.result is Result.FAIL
    assert outcome.evidence["route_tables_without_s3"] == [RTB_MAIN]
    with_main = with_network(
        snapshot,
        vpc_endpoints=(
            *(interface_endpoint(s) for s in INTERFACE_SUFFIXES),
            s3_gateway(RTB_PRIVATE_A, RTB_MAIN),
        ),
    )
    assert by_resource(run(MISSING, with_main))[res("s3")].result is Result.PASS


def test_s3_interface_endpoint_with_private_dns_satisfies_s3() -> None:
    s3_interface = VpcEndpoint(
        id="vpce-s3iface",
        service_name=f"com.amazonaws.{REGION}.s3",
        type="Interface",
        state="available",
        private_dns_enabled=True,
        subnet_ids=(PRIVATE_A, PRIVATE_B),
        security_group_ids=(ENDPOINT_SG,),
    )
    endpoints = (*(interface_endpoint(s) for s in INTERFACE_SUFFIXES), s3_interface)
    outcome = by_resource(run(MISSING, isolated(endpoints=endpoints)))[res("s3")]
    assert outcome.result is Result.PASS
    assert outcome.evidence == {
        "service": f"com.amazonaws.{REGION}.s3",
        "interface_endpoint_ids": ["vpce-s3iface"],
    }
    # Its security group must admit the nodes' HTTPS like any interface endpoint's.
    closed = endpoint_rules(https(cidrs=("198.51.100.0/24",)), snapshot=isolated(endpoints=endpoints))
    failed = by_resource(run(MISSING, closed))[res("s3")]
    assert (failed.result, failed.severity) == (Result.FAIL, Severity.CRITICAL)
    assert failed.evidence["endpoints"][0]["vpc_endpoint_id"] == "vpce-s3iface"


def test_s3_interface_endpoint_without_private_dns_does_not() -> None:
    s3_interface = VpcEndpoint(
        id="vpce-s3iface",
        service_name=f"com.amazonaws.{REGION}.s3",
        type="Interface",
        state="available",
        private_dns_enabled=False,
    )
    endpoints = (*(interface_endpoint(s) for s in INTERFACE_SUFFIXES), s3_interface)
    outcome = by_resource(run(MISSING, isolated(endpoints=endpoints)))[res("s3")]
    assert outcome.result is Result.FAIL
    assert outcome.title == "Isolated node subnets have no S3 VPC endpoint"
    assert outcome.evidence["interface_endpoints_without_private_dns"] == ["vpce-s3iface"]


def test_deleted_endpoint_does_not_count() -> None:
    snapshot = without_endpoint(isolated(), "ec2")
    assert snapshot.network is not None
    gone = interface_endpoint("ec2").model_copy(update={"state": "deleted"})
    snapshot = with_network(snapshot, vpc_endpoints=(*snapshot.network.vpc_endpoints, gone))
    outcome = by_resource(run(MISSING, snapshot))[res("ec2")]
    assert outcome.result is Result.FAIL
    assert outcome.severity is Severity.HIGH


def test_interface_endpoint_in_one_az_passes_and_names_the_uncovered_az() -> None:
    snapshot = without_endpoint(isolated(), "sts")
    assert snapshot.network is not None
    one_az = interface_endpoint("sts", subnets=(PRIVATE_A,))
    snapshot = with_network(snapshot, vpc_endpoints=(*snapshot.network.vpc_endpoints, one_az))
    outcome = by_resource(run(MISSING, snapshot))[res("sts")]
    assert outcome.result is Result.PASS
    assert outcome.evidence["azs_without_endpoint"] == ["us-east-1b"]


def test_only_one_isolated_subnet_is_enough_to_apply() -> None:
    # PRIVATE_A keeps its NAT; PRIVATE_B is isolated and the VPC has no endpoints.
    snapshot = replace_route_table(
        BASE, RouteTable(id=RTB_PRIVATE_B, main=False, subnet_ids=(PRIVATE_B,), routes=(LOCAL,))
    )
    outcome = by_resource(run(MISSING, snapshot))[res("ecr.api")]
    assert outcome.result is Result.FAIL
    assert outcome.evidence["isolated_subnets"] == [PRIVATE_B]


def test_private_dns_off_fails_with_the_endpoint_id() -> None:
    outcomes = by_resource(run(DNS, sts_without_private_dns()))
    assert {r for r, o in outcomes.items() if o.result is Result.FAIL} == {res("sts")}
    failed = outcomes[res("sts")]
    assert failed.severity is None  # the spec's HIGH
    assert failed.evidence == {
        "service": f"com.amazonaws.{REGION}.sts",
        "vpc_endpoint_ids": ["vpce-sts"],
        "private_dns_enabled": False,
    }
    # The endpoint exists, so it is not "missing".
    assert by_resource(run(MISSING, sts_without_private_dns()))[res("sts")].result is Result.PASS


def test_missing_parts_are_errors() -> None:
    for check_id in (MISSING, DNS):
        for part in ("cluster", "network", "nodegroups"):
            outcomes = run(check_id, without(isolated(), part))
            assert [o.result for o in outcomes] == [Result.ERROR], (check_id, part)
            assert outcomes[0].resource == ARN


# --- eks-auth (EKS Pod Identity) and logs (a log shipper) are required only where the feature is used -


def pod_identity(**changes: object) -> ClusterSnapshot:
    """Isolated, no eks-auth endpoint, with these addons / pod_identity_associations / gaps."""
    return without_endpoint(isolated(), "eks-auth").model_copy(update=changes)


def test_eks_auth_high_with_pod_identity_associations() -> None:
    association = PodIdentityAssociation(namespace="payments", service_account="api", association_id="a-1")
    outcome = by_resource(run(MISSING, pod_identity(pod_identity_associations=(association,))))[
        res("eks-auth")
    ]
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.HIGH)
    assert outcome.evidence == {
        "service": f"com.amazonaws.{REGION}.eks-auth",
        "endpoint_type": "Interface",
        "isolated_subnets": [PRIVATE_A, PRIVATE_B],
        "consequence": "pods using EKS Pod Identity cannot get credentials (AssumeRoleForPodIdentity)",
        "required_because": "1 EKS Pod Identity association(s)",
    }


def test_eks_auth_high_with_the_pod_identity_agent_addon() -> None:
    snapshot = pod_identity(addons=frozenset({"vpc-cni", "eks-pod-identity-agent"}))
    outcome = by_resource(run(MISSING, snapshot))[res("eks-auth")]
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.HIGH)
    assert outcome.evidence["required_because"] == "the eks-pod-identity-agent add-on is installed"


def test_eks_auth_not_needed_without_pod_identity() -> None:
    outcome = by_resource(run(MISSING, pod_identity()))[res("eks-auth")]
    assert (outcome.result, outcome.reason) == (
        Result.NOT_APPLICABLE,
        "not needed: no EKS Pod Identity association and no eks-pod-identity-agent add-on",
    )


def test_eks_auth_unreadable_is_an_error_not_a_finding() -> None:
    snapshot = pod_identity(
        pod_identity_associations=None,
        gaps={"pod_identity_associations": "AccessDenied on eks:ListPodIdentityAssociations"},
    )
    outcome = by_resource(run(MISSING, snapshot))[res("eks-auth")]
    assert (outcome.result, outcome.severity) == (Result.ERROR, None)
    assert outcome.reason == (
        "EKS Pod Identity use could not be read (pod_identity_associations: AccessDenied on "
        "eks:ListPodIdentityAssociations)"
    )


def no_logs_endpoint(**changes: object) -> ClusterSnapshot:
    return without_endpoint(isolated(), "logs").model_copy(update=changes)


def kube(*shippers: Workload) -> KubernetesState:
    return KubernetesState(endpoint="https://example.eks", autoscalers=(), log_shippers=shippers)


FLUENT_BIT = Workload(kind="DaemonSet", namespace="amazon-cloudwatch", name="fluent-bit")


def test_logs_needed_when_a_log_shipper_runs() -> None:
    outcome = by_resource(run(MISSING, no_logs_endpoint(kubernetes=kube(FLUENT_BIT))))[res("logs")]
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.MEDIUM)
    assert (
        outcome.evidence["required_because"] == "log shipper DaemonSet(s) run: amazon-cloudwatch/fluent-bit"
    )
    addon = no_logs_endpoint(kubernetes=kube(), addons=frozenset({"amazon-cloudwatch-observability"}))
    assert by_resource(run(MISSING, addon))[res("logs")].evidence["required_because"] == (
        "the amazon-cloudwatch-observability add-on ships logs to CloudWatch"
    )


def test_logs_not_applicable_without_a_log_shipper() -> None:
    outcome = by_resource(run(MISSING, no_logs_endpoint(kubernetes=kube())))[res("logs")]
    assert (outcome.result, outcome.reason) == (
        Result.NOT_APPLICABLE,
        "not needed: no CloudWatch log shipper (add-on, Fluent Bit or CloudWatch agent DaemonSet)",
    )


def test_logs_assumed_needed_when_daemonsets_are_unread() -> None:
    # BASE reads no Kubernetes state: the shipper may run, so MEDIUM (never more) with the reason.
    outcome = by_resource(run(MISSING, no_logs_endpoint()))[res("logs")]
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.MEDIUM)
    assert outcome.evidence["required_because"] == (
        "log shippers (add-ons, DaemonSets) could not be read: assumed in use"
    )


# --- the VPC's DNS attributes, where endpoints rely on private DNS ----------------------------------


def test_vpc_dns_hostnames_off_fails_where_private_dns_is_relied_on() -> None:
    outcome = by_resource(run(DNS, with_network(isolated(), dns_hostnames=False)))[res("vpc-dns")]
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.HIGH)
    assert outcome.title == "The VPC has enableDnsHostnames off: endpoint private DNS names do not resolve"
    assert outcome.evidence == {
        "vpc_id": VPC,
        "enableDnsSupport": True,
        "enableDnsHostnames": False,
        "private_dns_endpoint_ids": sorted(f"vpce-{s.replace('.', '')}" for s in INTERFACE_SUFFIXES),
    }


def test_vpc_dns_attributes_unread_is_an_error() -> None:
    outcome = by_resource(run(DNS, with_network(isolated(), dns_support=None)))[res("vpc-dns")]
    assert (outcome.result, outcome.reason) == (Result.ERROR, "VPC attributes not read: enableDnsSupport")


def test_vpc_dns_not_applicable_without_private_dns_endpoints() -> None:
    endpoints = tuple(interface_endpoint(s, private_dns=False) for s in INTERFACE_SUFFIXES)
    snapshot = with_network(isolated(endpoints=endpoints), dns_support=False)
    assert by_resource(run(DNS, snapshot))[res("vpc-dns")].result is Result.NOT_APPLICABLE


# --- the endpoints' security groups admit 443 from the nodes (DESIGN §2) ----------------------------

NODE_SG = "sg-0nodes00000000000"
CLUSTER_SG = "sg-0cluster000000000"


def endpoint_rules(*rules: IngressRule, snapshot: ClusterSnapshot | None = None) -> ClusterSnapshot:
    """The isolated cluster with every interface endpoint behind one security group with `rules`."""
    return with_network(
        snapshot or isolated(),
        endpoint_security_groups={ENDPOINT_SG: SecurityGroup(id=ENDPOINT_SG, ingress=rules)},
    )


def https(**sources: tuple[str, ...]) -> IngressRule:
    return IngressRule(protocol="tcp", from_port=443, to_port=443, **sources)


def with_node_security_groups(snapshot: ClusterSnapshot, groups: tuple[str, ...]) -> ClusterSnapshot:
    assert snapshot.nodegroups is not None and snapshot.cluster is not None
    nodegroups = tuple(g.model_copy(update={"security_group_ids": groups}) for g in snapshot.nodegroups)
    cluster = snapshot.cluster.model_copy(update={"cluster_security_group_id": CLUSTER_SG})
    return snapshot.model_copy(update={"nodegroups": nodegroups, "cluster": cluster})


def test_endpoint_security_group_without_443_from_the_nodes_fails_like_a_missing_endpoint() -> None:
    # 443 only from an office range, and SSH from the VPC: neither admits the nodes' HTTPS.
    snapshot = endpoint_rules(
        https(cidrs=("198.51.100.0/24",)),
        IngressRule(protocol="tcp", from_port=22, to_port=22, cidrs=("10.0.0.0/16",)),
    )
    outcomes = by_resource(run(MISSING, snapshot))
    failed = outcomes[res("ecr.api")]
    assert (failed.result, failed.severity) == (Result.FAIL, Severity.CRITICAL)
    assert failed.evidence["endpoints"] == [
        {
            "vpc_endpoint_id": "vpce-ecrapi",
            "security_group_ids": [ENDPOINT_SG],
            "subnets_not_admitted": [PRIVATE_A, PRIVATE_B],
        }
    ]
    assert "do not admit HTTPS" in (failed.title or "")
    assert (outcomes[res("ec2")].result, outcomes[res("ec2")].severity) == (Result.FAIL, Severity.HIGH)
    # The S3 gateway endpoint has no security group: unaffected.
    assert outcomes[res("s3")].result is Result.PASS


def test_a_rule_covering_only_one_node_subnet_fails_for_the_other() -> None:
    outcome = by_resource(run(MISSING, endpoint_rules(https(cidrs=("10.0.16.0/20",)))))[res("ecr.dkr")]
    assert outcome.result is Result.FAIL
    assert outcome.evidence["endpoints"][0]["subnets_not_admitted"] == [PRIVATE_B]


def test_443_from_the_node_cidrs_all_traffic_or_a_wider_range_passes() -> None:
    for rule in (
        https(cidrs=("10.0.16.0/20", "10.0.32.0/20")),
        https(cidrs=("10.0.0.0/8",)),
        IngressRule(protocol="-1", cidrs=("10.0.0.0/16",)),
        IngressRule(protocol="tcp", from_port=0, to_port=65535, cidrs=("0.0.0.0/0",)),
    ):
        assert by_resource(run(MISSING, endpoint_rules(rule)))[res("ecr.api")].result is Result.PASS, rule


def test_443_from_the_nodes_security_group_passes_and_from_another_group_fails() -> None:
    nodes = with_node_security_groups(isolated(), (NODE_SG,))
    ok = by_resource(run(MISSING, endpoint_rules(https(source_groups=(NODE_SG,)), snapshot=nodes)))
    assert ok[res("ecr.api")].result is Result.PASS
    # The nodes carry their launch template's group, not the cluster security group.
    other = by_resource(run(MISSING, endpoint_rules(https(source_groups=(CLUSTER_SG,)), snapshot=nodes)))
    assert other[res("ecr.api")].result is Result.FAIL
    # A managed group without template groups gets the cluster security group from EKS.
    managed = with_node_security_groups(isolated(), ())
    cluster_sg = by_resource(
        run(MISSING, endpoint_rules(https(source_groups=(CLUSTER_SG,)), snapshot=managed))
    )
    assert cluster_sg[res("ecr.api")].result is Result.PASS


def test_what_cannot_be_decided_is_incomplete_never_a_failure() -> None:
    unread = with_network(
        isolated(),
        endpoint_security_groups={},
        endpoint_security_groups_unread="UnauthorizedOperation on ec2:DescribeSecurityGroups",
    )
    outcome = by_resource(run(MISSING, unread))[res("ecr.api")]
    assert outcome.result is Result.ERROR
    assert "UnauthorizedOperation on ec2:DescribeSecurityGroups" in (outcome.reason or "")
    prefix_list = IngressRule(protocol="tcp", from_port=443, to_port=443, prefix_lists=("pl-0a1b2c3d",))
    outcome = by_resource(run(MISSING, endpoint_rules(prefix_list)))[res("ecr.dkr")]
    assert outcome.result is Result.ERROR
    assert "prefix-list" in (outcome.reason or "")
    # An endpoint listed without any security group (never in AWS, which applies the VPC default).
    bare = isolated(
        endpoints=(*isolated().network.vpc_endpoints[1:], interface_endpoint("ecr.api", security_groups=()))
    )  # type: ignore[union-attr]
    assert by_resource(run(MISSING, bare))[res("ecr.api")].result is Result.ERROR


def test_ipv6_ranges_in_an_ipv6_cluster_are_unverified_not_a_failure() -> None:
    ipv6 = isolated()
    assert ipv6.cluster is not None
    ipv6 = ipv6.model_copy(update={"cluster": ipv6.cluster.model_copy(update={"ip_family": "ipv6"})})
    outcome = by_resource(run(MISSING, endpoint_rules(https(cidrs=("2600:1f18:abcd::/56",)), snapshot=ipv6)))
    assert outcome[res("ecr.api")].result is Result.ERROR
    # The same rule in an IPv4 cluster admits no node: a failure.
    ipv4 = by_resource(run(MISSING, endpoint_rules(https(cidrs=("2600:1f18:abcd::/56",)))))
    assert ipv4[res("ecr.api")].result is Result.FAIL


def test_one_admitting_endpoint_of_several_is_enough() -> None:
    closed = "sg-0closed000000000"
    second = interface_endpoint("ecr.api", security_groups=(closed,)).model_copy(update={"id": "vpce-second"})
    snapshot = isolated(endpoints=(*isolated().network.vpc_endpoints, second))  # type: ignore[union-attr]
    snapshot = with_network(
        snapshot,
        endpoint_security_groups={
            **snapshot.network.endpoint_security_groups,
            closed: SecurityGroup(id=closed),
        },  # type: ignore[union-attr]
    )
    outcome = by_resource(run(MISSING, snapshot))[res("ecr.api")]
    assert outcome.result is Result.PASS
    assert outcome.evidence["admitting_endpoint_ids"] == ["vpce-ecrapi"]
