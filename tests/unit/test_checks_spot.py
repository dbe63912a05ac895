"""spot_single_instance_type over a healthy snapshot with one node group changed per case."""

from __future__ import annotations

from datetime import UTC, datetime

from eks_auditor.audit import evaluate
from eks_auditor.checks.spot import (
    CHECKS,
    SPOT_INTERRUPTION_BURST,
    SPOT_INTERRUPTION_NOTICE,
    SPOT_SINGLE_INSTANCE_TYPE,
    check_spot_single_instance_type,
)
from eks_auditor.model.check import CheckKind, Outcome, Result
from eks_auditor.model.part import Part
from eks_auditor.model.snapshot import ClusterSnapshot, NodeGroup

ARN = "arn:aws:eks:us-east-1:123456789012:cluster/prod"
NG_ARN = "arn:aws:eks:us-east-1:123456789012:nodegroup/prod/{}/4ec5a1b2-0b7e-2f3a-9e6c-1f0c8e0d2a11"

ON_DEMAND = NodeGroup(
    name="ng-system", arn=NG_ARN.format("ng-system"), capacity_type="ON_DEMAND", instance_types=("m5.large",)
)
SPOT_DIVERSE = NodeGroup(
    name="ng-spot",
    arn=NG_ARN.format("ng-spot"),
    capacity_type="SPOT",
    instance_types=("m5.large", "m5a.large", "m6i.large"),
)


def snapshot(*groups: NodeGroup) -> ClusterSnapshot:
    return ClusterSnapshot(
        account="123456789012",
        region="us-east-1",
        name="prod",
        arn=ARN,
        collected_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        nodegroups=groups,
    )


def test_registered_with_nodegroups_requirement() -> None:
    assert [(c.spec, c.spec.kind) for c in CHECKS] == [
        (SPOT_INTERRUPTION_NOTICE, CheckKind.EVENT),
        (SPOT_INTERRUPTION_BURST, CheckKind.EVENT),
        (SPOT_SINGLE_INSTANCE_TYPE, CheckKind.SNAPSHOT),
    ]
    assert SPOT_SINGLE_INSTANCE_TYPE.requires == (Part.NODEGROUPS,)
    assert SPOT_INTERRUPTION_BURST.requires == (Part.SPOT_INSTANCES,)


def test_diverse_spot_group_passes_and_on_demand_is_not_applicable() -> None:
    assert check_spot_single_instance_type(snapshot(ON_DEMAND, SPOT_DIVERSE)) == [
        Outcome(
            check_id="spot_single_instance_type",
            resource=NG_ARN.format("ng-system"),
            result=Result.NOT_APPLICABLE,
            reason="capacity type ON_DEMAND, not SPOT",
        ),
        Outcome(
            check_id="spot_single_instance_type",
            resource=NG_ARN.format("ng-spot"),
            result=Result.PASS,
            evidence={
                "nodegroup": "ng-spot",
                "kind": "managed",
                "capacity_type": "SPOT",
                "instance_types": ["m5.large", "m5a.large", "m6i.large"],
            },
        ),
    ]


def test_managed_spot_group_with_one_type_fails() -> None:
    group = SPOT_DIVERSE.model_copy(update={"instance_types": ("m5.large",)})
    assert check_spot_single_instance_type(snapshot(ON_DEMAND, group))[1:] == [
        Outcome(
            check_id="spot_single_instance_type",
            resource=NG_ARN.format("ng-spot"),
            result=Result.FAIL,
            title="Spot node group ng-spot relies on one instance type (m5.large)",
            evidence={
                "nodegroup": "ng-spot",
                "kind": "managed",
                "capacity_type": "SPOT",
                "instance_types": ["m5.large"],
            },
        )
    ]


def test_self_managed_spot_asg_with_one_type_fails_with_a_resource_from_the_cluster_arn() -> None:
    group = NodeGroup(
        name="prod-spot-workers",
        kind="self-managed",
        capacity_type="SPOT",
        instance_types=("c5.xlarge", "c5.xlarge"),
        asg_names=("prod-spot-workers",),
    )
    assert check_spot_single_instance_type(snapshot(group)) == [
        Outcome(
            check_id="spot_single_instance_type",
            resource=f"{ARN}/nodegroup/prod-spot-workers",
            result=Result.FAIL,
            title="Spot node group prod-spot-workers relies on one instance type (c5.xlarge)",
            evidence={
                "nodegroup": "prod-spot-workers",
                "kind": "self-managed",
                "capacity_type": "SPOT",
                "instance_types": ["c5.xlarge"],
            },
        )
    ]


def test_spot_group_with_unknown_instance_types_is_an_error_not_a_pass() -> None:
    group = SPOT_DIVERSE.model_copy(update={"instance_types": ()})
    assert check_spot_single_instance_type(snapshot(group)) == [
        Outcome(
            check_id="spot_single_instance_type",
            resource=NG_ARN.format("ng-spot"),
            result=Result.ERROR,
            reason="instance types of spot node group ng-spot are unknown",
        )
    ]


def test_cluster_without_node_groups_is_not_applicable() -> None:
    assert check_spot_single_instance_type(snapshot()) == [
        Outcome(
            check_id="spot_single_instance_type",
            resource=ARN,
            result=Result.NOT_APPLICABLE,
            reason="the cluster has no node groups",
        )
    ]


def test_node_groups_not_collected_is_an_error() -> None:
    missing = snapshot().model_copy(
        update={"nodegroups": None, "gaps": {"nodegroups": "AccessDenied on eks:ListNodegroups"}}
    )
    assert evaluate(missing, [CHECKS[2]]) == [
        Outcome(
            check_id="spot_single_instance_type",
            resource=ARN,
            result=Result.ERROR,
            reason="could not collect nodegroups: AccessDenied on eks:ListNodegroups",
        )
    ]


# The check catalog's coverage rows (tests/unit/test_check_catalog.py).
COVERAGE = [
    (
        "spot_single_instance_type",
        Result.FAIL,
        lambda: snapshot(ON_DEMAND, SPOT_DIVERSE.model_copy(update={"instance_types": ("m5.large",)})),
    ),
    ("spot_single_instance_type", Result.PASS, lambda: snapshot(ON_DEMAND, SPOT_DIVERSE)),
    ("spot_single_instance_type", Result.NOT_APPLICABLE, lambda: snapshot(ON_DEMAND)),
    (
        "spot_single_instance_type",
        Result.ERROR,
        lambda: snapshot(SPOT_DIVERSE.model_copy(update={"instance_types": ()})),
    ),
]
