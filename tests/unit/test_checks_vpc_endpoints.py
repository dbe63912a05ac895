"""vpc_endpoint_missing and vpc_endpoint_private_dns_disabled over an isolated variant of the base."""

from __future__ import annotations

from eks_auditor.model.check import Result, Severity
from eks_auditor.model.network import RouteTable, VpcEndpoint
from eks_auditor.model.snapshot import ClusterSnapshot
from snapshots import (
    ARN,
    BASE,
    INTERFACE_SUFFIXES,
    LOCAL,
    PRIVATE_A,
    PRIVATE_B,
    REGION,
    RTB_MAIN,
    RTB_PRIVATE_A,
    RTB_PRIVATE_B,
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
    (MISSING, Result.PASS, isolated),
    (MISSING, Result.NOT_APPLICABLE, lambda: BASE),
    (MISSING, Result.ERROR, lambda: without(isolated(), "network")),
    (DNS, Result.FAIL, sts_without_private_dns),
    (DNS, Result.PASS, isolated),
    (DNS, Result.NOT_APPLICABLE, lambda: BASE),
]


def results(check_id: str, snapshot: ClusterSnapshot) -> dict[str, Result]:
    prefix = f"{ARN}/vpc-endpoint/"
    return {r.removeprefix(prefix): o.result for r, o in by_resource(run(check_id, snapshot)).items()}


def test_nat_egress_makes_every_service_not_applicable() -> None:
    assert results(MISSING, BASE) == {**dict.fromkeys(ALL_SERVICES, Result.NOT_APPLICABLE), **VERIFIED}
    assert results(DNS, BASE) == dict.fromkeys(INTERFACE_SUFFIXES, Result.NOT_APPLICABLE)


def test_isolated_with_every_endpoint_passes_per_service() -> None:
    assert results(MISSING, isolated()) == {**dict.fromkeys(ALL_SERVICES, Result.PASS), **VERIFIED}
    assert results(DNS, isolated()) == dict.fromkeys(INTERFACE_SUFFIXES, Result.PASS)
    outcome = by_resource(run(MISSING, isolated()))[res("ecr.dkr")]
    assert outcome.evidence == {
        "service": f"com.amazonaws.{REGION}.ecr.dkr",
        "vpc_endpoint_ids": ["vpce-ecrdkr"],
        "azs_without_endpoint": [],
    }


def test_missing_ecr_api_is_critical_and_only_that_service_fails() -> None:
    outcomes = by_resource(run(MISSING, no_ecr_api()))
    assert {r: o.result for r, o in outcomes.items() if o.result is not Result.PASS} == {
        res("ecr.api"): Result.FAIL
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
        "egress-unverified": None,
    }
    assert all(o.result is Result.FAIL for r, o in outcomes.items() if not r.endswith("egress-unverified"))
    # No endpoint at all: nothing for the private-DNS check to judge.
    assert results(DNS, isolated(endpoints=())) == dict.fromkeys(INTERFACE_SUFFIXES, Result.NOT_APPLICABLE)


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
    )
    endpoints = (*(interface_endpoint(s) for s in INTERFACE_SUFFIXES), s3_interface)
    outcome = by_resource(run(MISSING, isolated(endpoints=endpoints)))[res("s3")]
    assert outcome.result is Result.PASS
    assert outcome.evidence == {
        "service": f"com.amazonaws.{REGION}.s3",
        "interface_endpoint_ids": ["vpce-s3iface"],
    }


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
