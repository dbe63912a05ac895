"""endpoint_public_unrestricted, endpoint_private_access_disabled, endpoint_nodes_blocked_by_cidrs."""

from __future__ import annotations

from eks_auditor.model.check import Result, Severity
from eks_auditor.model.network import RouteTable
from eks_auditor.model.snapshot import ClusterSnapshot
from snapshots import (
    ARN,
    BASE,
    IGW,
    LOCAL,
    NAT_A,
    NAT_A_IP,
    NAT_B,
    NAT_B_IP,
    NAT_CIDR,
    OFFICE_CIDR,
    PRIVATE_A,
    PRIVATE_B,
    PUBLIC_A,
    RTB_MAIN,
    RTB_PRIVATE_A,
    RTB_PRIVATE_B,
    default_route,
    only,
    replace_route_table,
    with_endpoint,
    with_nat,
    with_nodegroup,
    without,
)

UNRESTRICTED = "endpoint_public_unrestricted"
PUBLIC_ON = "endpoint_public_access_enabled"
PRIVATE_OFF = "endpoint_private_access_disabled"
BLOCKED = "endpoint_nodes_blocked_by_cidrs"


def open_to_world() -> ClusterSnapshot:
    return with_endpoint(BASE, public=True, private=True, cidrs=("0.0.0.0/0",))


def private_only() -> ClusterSnapshot:
    return with_endpoint(BASE, public=False, private=True, cidrs=())


def public_only() -> ClusterSnapshot:
    """Private access off, CIDRs still hold both NAT IPs: nodes reach the public endpoint."""
    return with_endpoint(BASE, public=True, private=False)


def public_only_nat_outside() -> ClusterSnapshot:
    return with_endpoint(BASE, public=True, private=False, cidrs=(OFFICE_CIDR,))


COVERAGE = [
    (UNRESTRICTED, Result.FAIL, open_to_world),
    (UNRESTRICTED, Result.PASS, lambda: BASE),
    (UNRESTRICTED, Result.ERROR, lambda: without(BASE, "cluster")),
    (PUBLIC_ON, Result.FAIL, lambda: BASE),
    (PUBLIC_ON, Result.PASS, private_only),
    (PUBLIC_ON, Result.ERROR, lambda: without(BASE, "cluster")),
    (PRIVATE_OFF, Result.FAIL, public_only),
    (PRIVATE_OFF, Result.PASS, lambda: BASE),
    (BLOCKED, Result.FAIL, public_only_nat_outside),
    (BLOCKED, Result.PASS, public_only),
    (BLOCKED, Result.NOT_APPLICABLE, lambda: BASE),
    (BLOCKED, Result.ERROR, lambda: without(public_only(), "network")),
]


# --- endpoint_public_unrestricted ------------------------------------------------------------------


def test_restricted_public_endpoint_passes() -> None:
    outcome = only(UNRESTRICTED, BASE)
    assert outcome.result is Result.PASS
    assert outcome.resource == ARN
    assert outcome.evidence == {"public_access": True, "public_access_cidrs": [OFFICE_CIDR, NAT_CIDR]}


def test_ipv4_any_fails_with_the_open_cidr() -> None:
    outcome = only(UNRESTRICTED, open_to_world())
    assert outcome.result is Result.FAIL
    assert outcome.resource == ARN
    assert outcome.severity is None  # the spec's HIGH applies
    assert outcome.evidence == {
        "public_access": True,
        "public_access_cidrs": ["0.0.0.0/0"],
        "open_cidrs": ["0.0.0.0/0"],
    }


def test_ipv6_any_fails() -> None:
    snapshot = with_endpoint(BASE, public=True, private=True, cidrs=(OFFICE_CIDR, "::/0"))
    outcome = only(UNRESTRICTED, snapshot)
    assert outcome.result is Result.FAIL
    assert outcome.evidence["open_cidrs"] == ["::/0"]


def test_non_canonical_zero_prefix_still_counts_as_open() -> None:
    outcome = only(UNRESTRICTED, with_endpoint(BASE, public=True, private=True, cidrs=("10.0.0.0/0",)))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["open_cidrs"] == ["10.0.0.0/0"]


def test_empty_cidr_list_means_the_eks_default_which_is_open() -> None:
    outcome = only(UNRESTRICTED, with_endpoint(BASE, public=True, private=True, cidrs=()))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["public_access_cidrs"] == ["0.0.0.0/0"]


def test_private_only_endpoint_passes_even_with_world_cidr_leftover() -> None:
    outcome = only(UNRESTRICTED, with_endpoint(BASE, public=False, private=True, cidrs=("0.0.0.0/0",)))
    assert outcome.result is Result.PASS
    assert outcome.evidence == {"public_access": False}


def test_missing_cluster_is_error_not_pass() -> None:
    outcome = only(UNRESTRICTED, without(BASE, "cluster"))
    assert outcome.result is Result.ERROR
    assert outcome.reason


# --- endpoint_private_access_disabled --------------------------------------------------------------


def test_public_on_private_off_fails() -> None:
    outcome = only(PRIVATE_OFF, public_only())
    assert outcome.result is Result.FAIL
    assert outcome.evidence == {
        "public_access": True,
        "private_access": False,
        "public_access_cidrs": [OFFICE_CIDR, NAT_CIDR],
    }


def test_private_on_passes() -> None:
    assert only(PRIVATE_OFF, BASE).result is Result.PASS
    assert only(PRIVATE_OFF, with_endpoint(BASE, public=False, private=True)).result is Result.PASS


# --- endpoint_nodes_blocked_by_cidrs ---------------------------------------------------------------


def test_not_applicable_when_private_access_is_on() -> None:
    outcome = only(BLOCKED, BASE)
    assert outcome.result is Result.NOT_APPLICABLE
    assert outcome.reason


def test_nat_ips_inside_cidrs_pass() -> None:
    outcome = only(BLOCKED, public_only())
    assert outcome.result is Result.PASS
    assert outcome.evidence["reachable_subnets"] == [PRIVATE_A, PRIVATE_B]
    assert outcome.evidence["blocked_subnets"] == []


def test_nat_ips_outside_cidrs_are_critical() -> None:
    outcome = only(BLOCKED, public_only_nat_outside())
    assert outcome.result is Result.FAIL
    assert outcome.severity is None  # the spec's CRITICAL
    assert outcome.evidence == {
        "public_access_cidrs": [OFFICE_CIDR],
        "private_access": False,
        "blocked_subnets": [
            {
                "subnet_id": PRIVATE_A,
                "route_table_id": RTB_PRIVATE_A,
                "egress": f"nat:{NAT_A}",
                "reason": "NAT gateway Elastic IPs outside publicAccessCidrs",
                "nat_gateway_id": NAT_A,
                "nat_public_ips": [NAT_A_IP],
                "excluded_ips": [NAT_A_IP],
            },
            {
                "subnet_id": PRIVATE_B,
                "route_table_id": RTB_PRIVATE_B,
                "egress": f"nat:{NAT_B}",
                "reason": "NAT gateway Elastic IPs outside publicAccessCidrs",
                "nat_gateway_id": NAT_B,
                "nat_public_ips": [NAT_B_IP],
                "excluded_ips": [NAT_B_IP],
            },
        ],
        "unverified_subnets": [],
        "reachable_subnets": [],
    }


def test_one_nat_ip_inside_and_one_outside_blocks_only_that_subnet() -> None:
    snapshot = with_endpoint(BASE, public=True, private=False, cidrs=(f"{NAT_A_IP}/32",))
    outcome = only(BLOCKED, snapshot)
    assert outcome.result is Result.FAIL
    assert [b["subnet_id"] for b in outcome.evidence["blocked_subnets"]] == [PRIVATE_B]
    assert outcome.evidence["reachable_subnets"] == [PRIVATE_A]


def test_secondary_elastic_ip_outside_cidrs_blocks() -> None:
    snapshot = with_nat(public_only(), NAT_A, public_ips=(NAT_A_IP, "192.0.2.77"))
    outcome = only(BLOCKED, snapshot)
    assert outcome.result is Result.FAIL
    assert outcome.evidence["blocked_subnets"][0]["excluded_ips"] == ["192.0.2.77"]


def test_ipv6_world_cidr_does_not_admit_ipv4_nat_ips() -> None:
    outcome = only(BLOCKED, with_endpoint(BASE, public=True, private=False, cidrs=("::/0",)))
    assert outcome.result is Result.FAIL
    assert len(outcome.evidence["blocked_subnets"]) == 2


def test_isolated_node_subnets_with_private_access_off_are_critical() -> None:
    snapshot = replace_route_table(
        public_only(), RouteTable(id=RTB_PRIVATE_A, main=False, subnet_ids=(PRIVATE_A,), routes=(LOCAL,))
    )
    outcome = only(BLOCKED, snapshot)
    assert outcome.result is Result.FAIL
    assert outcome.evidence["blocked_subnets"] == [
        {
            "subnet_id": PRIVATE_A,
            "route_table_id": RTB_PRIVATE_A,
            "reason": "no route out (no 0.0.0.0/0 route)",
        }
    ]
    assert outcome.evidence["reachable_subnets"] == [PRIVATE_B]


def test_blackhole_default_route_counts_as_no_route() -> None:
    table = RouteTable(
        id=RTB_PRIVATE_A,
        main=False,
        subnet_ids=(PRIVATE_A,),
        routes=(LOCAL, default_route("nat", "nat-0deleted000000000", active=False)),
    )
    outcome = only(BLOCKED, replace_route_table(public_only(), table))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["blocked_subnets"] == [
        {
            "subnet_id": PRIVATE_A,
            "route_table_id": RTB_PRIVATE_A,
            "reason": "no route out (default route is a blackhole)",
        }
    ]


def test_subnet_without_explicit_association_inherits_the_isolated_main_table() -> None:
    # Drop PRIVATE_A's explicit association: it now uses the main table, which has only the local route.
    table = RouteTable(
        id=RTB_PRIVATE_A, main=False, subnet_ids=(), routes=(LOCAL, default_route("nat", NAT_A))
    )
    outcome = only(BLOCKED, replace_route_table(public_only(), table))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["blocked_subnets"] == [
        {"subnet_id": PRIVATE_A, "route_table_id": RTB_MAIN, "reason": "no route out (no 0.0.0.0/0 route)"}
    ]


def test_failed_nat_gateway_counts_as_no_route() -> None:
    outcome = only(BLOCKED, with_nat(public_only(), NAT_B, state="failed"))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["blocked_subnets"][0]["reason"] == "no route out (NAT gateway failed)"


def test_igw_subnet_with_restricted_cidrs_is_unverified_error_not_critical() -> None:
    snapshot = with_nodegroup(public_only(), subnet_ids=(PUBLIC_A,))
    outcome = only(BLOCKED, snapshot)
    assert outcome.result is Result.ERROR
    assert PUBLIC_A in (outcome.reason or "")
    assert outcome.evidence["unverified_subnets"] == [
        {
            "subnet_id": PUBLIC_A,
            "route_table_id": "rtb-0public000000000",
            "egress": f"igw:{IGW}",
            "reason": "nodes egress with their own public IPs (if any), unknown to the VPC configuration",
            "map_public_ip_on_launch": True,
        }
    ]


def test_igw_subnet_with_public_ips_and_world_cidr_passes() -> None:
    snapshot = with_nodegroup(
        with_endpoint(BASE, public=True, private=False, cidrs=("0.0.0.0/0",)), subnet_ids=(PUBLIC_A,)
    )
    outcome = only(BLOCKED, snapshot)
    assert outcome.result is Result.PASS
    assert outcome.evidence["reachable_subnets"] == [PUBLIC_A]


def test_blocked_subnet_wins_over_unverified_one() -> None:
    snapshot = with_nodegroup(public_only_nat_outside(), subnet_ids=(PUBLIC_A, PRIVATE_A))
    outcome = only(BLOCKED, snapshot)
    assert outcome.result is Result.FAIL
    assert [b["subnet_id"] for b in outcome.evidence["blocked_subnets"]] == [PRIVATE_A]
    assert [u["subnet_id"] for u in outcome.evidence["unverified_subnets"]] == [PUBLIC_A]


def test_transit_gateway_egress_is_unverified() -> None:
    table = RouteTable(
        id=RTB_PRIVATE_A,
        main=False,
        subnet_ids=(PRIVATE_A,),
        routes=(LOCAL, default_route("tgw", "tgw-0123")),
    )
    outcome = only(BLOCKED, replace_route_table(public_only(), table))
    assert outcome.result is Result.ERROR
    assert outcome.evidence["unverified_subnets"][0]["reason"] == (
        "egress not verified: transit gateway route tables not read"
    )


def test_missing_parts_are_errors() -> None:
    for part in ("cluster", "network", "nodegroups"):
        outcome = only(BLOCKED, without(public_only(), part))
        assert outcome.result is Result.ERROR, part
        assert part in (outcome.reason or "")


def test_specs_severities() -> None:
    from eks_auditor.checks.endpoint import NODES_BLOCKED, PRIVATE_ACCESS_DISABLED, PUBLIC_UNRESTRICTED

    assert PUBLIC_UNRESTRICTED.severity is Severity.HIGH
    assert PRIVATE_ACCESS_DISABLED.severity is Severity.MEDIUM
    assert NODES_BLOCKED.severity is Severity.CRITICAL


def test_any_public_endpoint_is_recorded_low_with_its_cidrs() -> None:
    outcome = only(PUBLIC_ON, BASE)
    assert (outcome.result, outcome.resource, outcome.severity) == (Result.FAIL, ARN, None)
    assert outcome.evidence == {
        "public_access": True,
        "private_access": True,
        "public_access_cidrs": list(BASE.cluster.endpoint_access.public_cidrs),  # type: ignore[union-attr]
    }


def test_a_private_only_endpoint_passes() -> None:
    outcome = only(PUBLIC_ON, private_only())
    assert (outcome.result, outcome.evidence) == (
        Result.PASS,
        {"public_access": False, "private_access": True},
    )
