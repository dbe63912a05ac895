"""cluster_subnet_ip_low over the base snapshot's cluster subnets."""

from __future__ import annotations

import pytest
from eks_auditor.model.check import Result, Severity
from eks_auditor.model.snapshot import ClusterSnapshot
from snapshots import ARN, BASE, PRIVATE_A, PRIVATE_B, by_resource, run, with_cluster, with_subnet, without

CHECK = "cluster_subnet_ip_low"


def res(subnet: str) -> str:
    return f"{ARN}/cluster-subnet/{subnet}"


def low(free: int) -> ClusterSnapshot:
    return with_subnet(BASE, PRIVATE_A, available_ips=free)


COVERAGE = [
    (CHECK, Result.FAIL, lambda: low(5)),
    (CHECK, Result.PASS, lambda: BASE),
    (CHECK, Result.ERROR, lambda: without(BASE, "network")),
]


@pytest.mark.parametrize(
    ("free", "result", "severity"),
    [
        (0, Result.FAIL, Severity.HIGH),
        (5, Result.FAIL, Severity.HIGH),
        (6, Result.FAIL, Severity.MEDIUM),
        (15, Result.FAIL, Severity.MEDIUM),
        (16, Result.PASS, None),
    ],
)
def test_thresholds(free: int, result: Result, severity: Severity | None) -> None:
    outcomes = by_resource(run(CHECK, low(free)))
    assert (outcomes[res(PRIVATE_A)].result, outcomes[res(PRIVATE_A)].severity) == (result, severity)
    assert outcomes[res(PRIVATE_B)].result is Result.PASS


def test_evidence_names_the_subnet_and_its_free_ips() -> None:
    outcome = by_resource(run(CHECK, low(3)))[res(PRIVATE_A)]
    assert outcome.evidence == {
        "subnet_id": PRIVATE_A,
        "availability_zone": "us-east-1a",
        "available_ips": 3,
        "minimum": 6,
        "recommended": 16,
    }


def test_subnet_missing_from_the_vpc_is_an_error() -> None:
    snapshot = with_cluster(BASE, subnet_ids=(PRIVATE_A, "subnet-0gone00000000000"))
    outcomes = by_resource(run(CHECK, snapshot))
    assert outcomes[res("subnet-0gone00000000000")].result is Result.ERROR
