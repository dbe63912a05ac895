"""autoscaler_dynamic_instance_list: one healthy snapshot, one change per case, exact outcomes."""

from __future__ import annotations

from typing import Any

import pytest
from eks_auditor.checks.autoscaler import (
    SPEC,
    discovery_specs,
    image_minor,
    static_list_setting,
    static_node_asgs,
)
from eks_auditor.model.check import Result, Severity
from eks_auditor.model.kubernetes import Container, KubernetesState, Workload
from eks_auditor.model.snapshot import ClusterSnapshot, NodeGroup
from snapshots import (
    BASE,
    ISOLATED_A,
    NAME,
    PRIVATE_A,
    PRIVATE_B,
    by_resource,
    interface_endpoint,
    isolated,
    only,
    replace_route_table,
    run,
    with_cluster,
    with_nodegroups,
    without,
    without_endpoint,
)

CHECK = "autoscaler_dynamic_instance_list"

IMAGE = "registry.k8s.io/autoscaling/cluster-autoscaler:v1.33.0"
DISCOVERY = (
    f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{NAME}"
)
# The upstream autodiscover example: the flags live in `command`.
COMMAND = (
    "./cluster-autoscaler",
    "--v=4",
    "--cloud-provider=aws",
    "--skip-nodes-with-local-storage=false",
    "--expander=least-waste",
    DISCOVERY,
)
DEPLOYMENT = "deployment/kube-system/cluster-autoscaler"
DISCOVERY_RESOURCE = f"{DEPLOYMENT}/discovery/general"
VERSION_RESOURCE = f"{DEPLOYMENT}/version"


def autoscaler(
    *,
    command: tuple[str, ...] = COMMAND,
    args: tuple[str, ...] = (),
    image: str = IMAGE,
    replicas: int | None = 1,
    name: str = "cluster-autoscaler",
    namespace: str = "kube-system",
) -> Workload:
    return Workload(
        kind="Deployment",
        namespace=namespace,
        name=name,
        labels={"app": "cluster-autoscaler"},
        containers=(Container(name="cluster-autoscaler", image=image, command=command, args=args),),
        replicas=replicas,
    )


def with_autoscalers(snapshot: ClusterSnapshot, *workloads: Workload) -> ClusterSnapshot:
    state = KubernetesState(endpoint="https://example.eks", autoscalers=workloads)
    return snapshot.model_copy(update={"kubernetes": state})


def static(snapshot: ClusterSnapshot) -> Any:
    return by_resource(run(CHECK, snapshot))[DEPLOYMENT]


PRIVATE = with_autoscalers(isolated(), autoscaler())
NO_EC2 = without_endpoint(PRIVATE, "ec2")

COVERAGE = [
    (CHECK, Result.FAIL, lambda: NO_EC2),
    (CHECK, Result.PASS, lambda: with_autoscalers(BASE, autoscaler())),
    (CHECK, Result.NOT_APPLICABLE, lambda: with_autoscalers(NO_EC2)),
    (
        CHECK,
        Result.ERROR,
        lambda: NO_EC2.model_copy(update={"kubernetes": KubernetesState(endpoint="https://example.eks")}),
    ),
]


# --- the static instance list ---------------------------------------------------------------------


def test_nodes_with_nat_egress_pass_without_the_flag() -> None:
    outcomes = by_resource(run(CHECK, with_autoscalers(BASE, autoscaler())))
    assert {r: o.result for r, o in outcomes.items()} == {
        DEPLOYMENT: Result.PASS,
        DISCOVERY_RESOURCE: Result.PASS,
        VERSION_RESOURCE: Result.PASS,
    }
    assert outcomes[DEPLOYMENT].evidence["static_instance_list"] is False
    assert outcomes[DEPLOYMENT].evidence["isolated_node_subnets"] == []


def test_isolated_without_flag_and_without_ec2_endpoint_is_medium_for_a_falling_back_version() -> None:
    outcome = static(NO_EC2)
    assert outcome.result is Result.FAIL
    assert outcome.severity is Severity.MEDIUM
    assert outcome.evidence["flag"] == {"present": False}
    assert outcome.evidence["isolated_node_subnets"] == [PRIVATE_A, PRIVATE_B]
    assert outcome.evidence["ec2_interface_endpoints"] == []


def test_isolated_without_flag_with_ec2_endpoint_is_low() -> None:
    outcome = static(PRIVATE)
    assert outcome.result is Result.FAIL
    assert outcome.severity is Severity.LOW
    assert outcome.evidence["ec2_interface_endpoints"] == ["vpce-ec2"]


def test_ec2_endpoint_without_private_dns_does_not_help() -> None:
    snap = NO_EC2.model_copy(deep=True)
    assert snap.network is not None
    endpoints = (*snap.network.vpc_endpoints, interface_endpoint("ec2", private_dns=False))
    snap = snap.model_copy(update={"network": snap.network.model_copy(update={"vpc_endpoints": endpoints})})
    outcome = static(snap)
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.MEDIUM)
    assert outcome.evidence["ec2_endpoint_private_dns"] == {"vpce-ec2": False}


def test_one_isolated_node_subnet_is_enough_to_fail() -> None:
    snap = with_autoscalers(replace_route_table(BASE, ISOLATED_A), autoscaler())
    outcome = static(snap)
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.MEDIUM)
    assert outcome.evidence["isolated_node_subnets"] == [PRIVATE_A]


@pytest.mark.parametrize(
    ("command", "args", "expected", "written", "where"),
    [
        ((*COMMAND, "--aws-use-static-instance-list=true"), (), Result.PASS, "=true", "command"),
        (
            ("./cluster-autoscaler",),
            (DISCOVERY, "--aws-use-static-instance-list=true"),
            Result.PASS,
            "=true",
            "args",
        ),
        ((*COMMAND, "--aws-use-static-instance-list"), (), Result.PASS, "", "command"),
        ((*COMMAND, "--aws-use-static-instance-list=True"), (), Result.PASS, "=True", "command"),
        ((*COMMAND, "--aws-use-static-instance-list=1"), (), Result.PASS, "=1", "command"),
        ((*COMMAND, "-aws-use-static-instance-list=true"), (), Result.PASS, "=true", "command"),
        ((*COMMAND, "--aws-use-static-instance-list=false"), (), Result.FAIL, "=false", "command"),
        (COMMAND, ("--aws-use-static-instance-list=false",), Result.FAIL, "=false", "args"),
        # The last occurrence wins: args come after command in the process's argv.
        (
            (*COMMAND, "--aws-use-static-instance-list=true"),
            ("--aws-use-static-instance-list=false",),
            Result.FAIL,
            "=false",
            "args",
        ),
        (
            (*COMMAND, "--aws-use-static-instance-list=false"),
            ("--aws-use-static-instance-list",),
            Result.PASS,
            "",
            "args",
        ),
    ],
)
def test_flag_forms_in_command_and_args(
    command: tuple[str, ...], args: tuple[str, ...], expected: Result, written: str, where: str
) -> None:
    outcome = static(
        with_autoscalers(without_endpoint(isolated(), "ec2"), autoscaler(command=command, args=args))
    )
    assert outcome.result is expected
    assert outcome.evidence["flag"] == {
        "present": True,
        "written": f"--aws-use-static-instance-list{written}",
        "in": where,
    }
    if expected is Result.FAIL:
        assert outcome.severity is Severity.MEDIUM


def test_flag_and_value_as_two_words_counts_as_true_with_a_note() -> None:
    snap = with_autoscalers(NO_EC2, autoscaler(args=("--aws-use-static-instance-list", "false")))
    outcome = static(snap)
    assert outcome.result is Result.PASS
    assert outcome.evidence["flag"]["note"].startswith("written as two words")


def test_flag_with_a_non_boolean_value_fails_with_a_note() -> None:
    snap = with_autoscalers(NO_EC2, autoscaler(args=("--aws-use-static-instance-list=yes",)))
    outcome = static(snap)
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.MEDIUM)
    assert "not a boolean" in outcome.evidence["flag"]["note"]


def test_a_similar_flag_name_is_not_the_flag() -> None:
    snap = with_autoscalers(NO_EC2, autoscaler(args=("--aws-use-static-instance-list-extra=true",)))
    assert static(snap).evidence["flag"] == {"present": False}


def test_deployment_scaled_to_zero_is_not_applicable() -> None:
    outcome = static(with_autoscalers(NO_EC2, autoscaler(replicas=0)))
    assert outcome.result is Result.NOT_APPLICABLE
    assert outcome.reason == "the Deployment is scaled to 0 replicas"


def test_every_autoscaler_deployment_is_judged() -> None:
    helm = autoscaler(name="cluster-autoscaler-aws-cluster-autoscaler", namespace="autoscaling")
    fixed = autoscaler(args=("--aws-use-static-instance-list=true",))
    outcomes = by_resource(run(CHECK, with_autoscalers(NO_EC2, fixed, helm)))
    assert outcomes[DEPLOYMENT].result is Result.PASS
    assert outcomes["deployment/autoscaling/cluster-autoscaler-aws-cluster-autoscaler"].result is Result.FAIL


def test_no_autoscaler_is_not_applicable() -> None:
    outcome = only(CHECK, with_autoscalers(NO_EC2))
    assert outcome.result is Result.NOT_APPLICABLE
    assert outcome.resource == BASE.arn


def test_unreadable_deployments_are_an_error_with_the_gap() -> None:
    snap = NO_EC2.model_copy(
        update={
            "kubernetes": KubernetesState(endpoint="https://example.eks", autoscalers=None),
            "gaps": {"kubernetes.autoscalers": "403 Forbidden: deployments.apps is forbidden"},
        }
    )
    outcome = only(CHECK, snap)
    assert outcome.result is Result.ERROR
    assert outcome.reason == "cannot list Deployments: 403 Forbidden: deployments.apps is forbidden"


def test_missing_kubernetes_state_is_an_error() -> None:
    # The engine's gate decides it (the check declares the part), with the collector's reason.
    snap = without(NO_EC2, "kubernetes").model_copy(update={"gaps": {"kubernetes": "connection refused"}})
    outcome = only(SPEC.id, snap)
    assert (outcome.result, outcome.reason) == (
        Result.ERROR,
        "could not collect kubernetes: connection refused",
    )


def test_container_that_cannot_be_identified_is_an_error() -> None:
    workload = Workload(
        kind="Deployment",
        namespace="kube-system",
        name="cluster-autoscaler",
        containers=(
            Container(name="proxy", image="envoy:v1"),
            Container(name="main", image="internal/scaler:3"),
        ),
    )
    outcome = only(CHECK, with_autoscalers(NO_EC2, workload))
    assert (outcome.resource, outcome.result) == (DEPLOYMENT, Result.ERROR)


# --- auto-discovery tags --------------------------------------------------------------------------


def self_managed(name: str, tags: dict[str, str]) -> NodeGroup:
    return NodeGroup(
        name=name,
        kind="self-managed",
        subnet_ids=(PRIVATE_A, PRIVATE_B),
        asg_names=(f"{name}-asg",),
        max_size=4,
        tags=tags,
    )


MANAGED = BASE.nodegroups[0] if BASE.nodegroups else None


def discovery(snapshot: ClusterSnapshot) -> dict[str, Any]:
    return {r: o for r, o in by_resource(run(CHECK, snapshot)).items() if "/discovery" in r}


def test_managed_node_group_carries_the_default_discovery_tags() -> None:
    outcome = discovery(with_autoscalers(BASE, autoscaler()))[DISCOVERY_RESOURCE]
    assert outcome.result is Result.PASS
    assert outcome.evidence["missing_tags"] == []


def test_self_managed_group_without_tags_is_not_discovered_high_when_it_is_the_only_one() -> None:
    snap = with_autoscalers(with_nodegroups(BASE, self_managed("workers", {"Name": "workers"})), autoscaler())
    outcome = discovery(snap)[f"{DEPLOYMENT}/discovery/workers"]
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.HIGH)
    assert outcome.evidence["discovers_no_node_group"] is True
    assert outcome.evidence["missing_tags"] == [
        "k8s.io/cluster-autoscaler/enabled",
        f"k8s.io/cluster-autoscaler/{NAME}",
    ]
    assert outcome.evidence["tags_basis"] == "self-managed node group: the ASG's own tags"


def test_one_undiscovered_group_beside_a_discovered_one_is_medium() -> None:
    assert MANAGED is not None
    snap = with_autoscalers(with_nodegroups(BASE, MANAGED, self_managed("workers", {})), autoscaler())
    outcomes = discovery(snap)
    assert outcomes[DISCOVERY_RESOURCE].result is Result.PASS
    workers = outcomes[f"{DEPLOYMENT}/discovery/workers"]
    assert (workers.result, workers.severity) == (Result.FAIL, Severity.MEDIUM)


def test_tag_values_must_match_when_the_flag_names_them() -> None:
    flag = "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled=true"
    tags = {"k8s.io/cluster-autoscaler/enabled": "false"}
    snap = with_autoscalers(
        with_nodegroups(BASE, self_managed("workers", tags)), autoscaler(command=("./ca", flag))
    )
    assert discovery(snap)[f"{DEPLOYMENT}/discovery/workers"].result is Result.FAIL
    tags = {"k8s.io/cluster-autoscaler/enabled": "true"}
    snap = with_autoscalers(
        with_nodegroups(BASE, self_managed("workers", tags)), autoscaler(command=("./ca", flag))
    )
    assert discovery(snap)[f"{DEPLOYMENT}/discovery/workers"].result is Result.PASS


def test_custom_tag_on_a_managed_node_group_does_not_reach_its_asg() -> None:
    assert MANAGED is not None
    group = MANAGED.model_copy(update={"tags": {"team/scaling": "on"}})
    flag = "--node-group-auto-discovery=asg:tag=team/scaling"
    snap = with_autoscalers(with_nodegroups(BASE, group), autoscaler(command=("./ca", flag)))
    outcome = discovery(snap)[DISCOVERY_RESOURCE]
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.HIGH)
    assert outcome.evidence["missing_tags"] == ["team/scaling"]
    assert "not copied" in outcome.evidence["tags_basis"]


def test_any_of_several_discovery_flags_is_enough() -> None:
    flags = (
        "./ca",
        "--node-group-auto-discovery=asg:tag=team/scaling",
        "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled",
    )
    snap = with_autoscalers(BASE, autoscaler(command=flags))
    assert discovery(snap)[DISCOVERY_RESOURCE].result is Result.PASS


def test_asg_listed_with_nodes_flag_counts_as_managed_by_the_autoscaler() -> None:
    args = ("--nodes=1:10:workers-asg", "--node-group-auto-discovery=asg:tag=team/scaling")
    snap = with_autoscalers(
        with_nodegroups(BASE, self_managed("workers", {})), autoscaler(command=("./ca",), args=args)
    )
    assert discovery(snap)[f"{DEPLOYMENT}/discovery/workers"].result is Result.PASS


def test_without_tag_discovery_the_discovery_outcome_is_not_applicable() -> None:
    snap = with_autoscalers(BASE, autoscaler(command=("./ca", "--nodes=1:10:some-asg")))
    outcome = discovery(snap)[f"{DEPLOYMENT}/discovery"]
    assert outcome.result is Result.NOT_APPLICABLE


# --- version --------------------------------------------------------------------------------------


def version(snapshot: ClusterSnapshot) -> Any:
    return by_resource(run(CHECK, snapshot))[VERSION_RESOURCE]


def test_minor_version_mismatch_is_medium() -> None:
    outcome = version(
        with_autoscalers(BASE, autoscaler(image="registry.k8s.io/autoscaling/cluster-autoscaler:v1.31.0"))
    )
    assert (outcome.result, outcome.severity) == (Result.FAIL, Severity.MEDIUM)
    assert outcome.evidence["autoscaler_version"] == "1.31"
    assert outcome.evidence["cluster_version"] == "1.33"


def test_image_without_a_version_tag_is_not_applicable() -> None:
    image = "registry.k8s.io/autoscaling/cluster-autoscaler@sha256:" + "a" * 64
    assert version(with_autoscalers(BASE, autoscaler(image=image))).result is Result.NOT_APPLICABLE


def test_unknown_cluster_version_is_not_applicable() -> None:
    snap = with_autoscalers(with_cluster(BASE, parsed_version=None, version=None), autoscaler())
    assert version(snap).result is Result.NOT_APPLICABLE


# --- parsers --------------------------------------------------------------------------------------


def test_discovery_specs_parse_keys_and_values() -> None:
    container = Container(
        name="ca",
        image=IMAGE,
        command=("./ca", "--node-group-auto-discovery=asg:tag=a,b=owned"),
        args=("--node-group-auto-discovery=mig:namePrefix=x",),
    )
    assert discovery_specs(container) == [{"a": None, "b": "owned"}]


def test_static_node_asgs_take_the_name_after_min_and_max() -> None:
    container = Container(name="ca", image=IMAGE, args=("--nodes=1:10:asg-one", "--nodes=0:3:asg-two"))
    assert static_node_asgs(container) == {"asg-one", "asg-two"}


def test_static_list_setting_absent() -> None:
    enabled, setting = static_list_setting(Container(name="ca", image=IMAGE, command=COMMAND))
    assert (enabled, setting.present) == (False, False)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("registry.k8s.io/autoscaling/cluster-autoscaler:v1.32.1", (1, 32)),
        ("registry.k8s.io/autoscaling/cluster-autoscaler:1.30.0", (1, 30)),
        ("my-registry:5000/cluster-autoscaler:v1.29.3@sha256:abc", (1, 29)),
        ("my-registry:5000/cluster-autoscaler", None),
        ("registry.k8s.io/autoscaling/cluster-autoscaler:latest", None),
    ],
)
def test_image_minor(image: str, expected: tuple[int, int] | None) -> None:
    assert image_minor(image) == expected


# Upstream commit ccc3ce0c (kubernetes/autoscaler): which releases exit when the instance-type fetch fails.
@pytest.mark.parametrize(
    ("tag", "severity", "behaviour"),
    [
        ("v1.15.5", Severity.MEDIUM, "falls back"),
        ("v1.15.6", Severity.HIGH, "exits"),
        ("v1.21.2", Severity.HIGH, "exits"),
        ("v1.21.3", Severity.MEDIUM, "falls back"),
        ("v1.22.0", Severity.HIGH, "exits"),
        ("v1.22.2", Severity.HIGH, "exits"),
        ("v1.22.3", Severity.MEDIUM, "falls back"),
        ("v1.23.0", Severity.HIGH, "exits"),
        ("v1.23.1", Severity.MEDIUM, "falls back"),
        ("v1.24.0", Severity.HIGH, "exits"),
        ("v1.24.17", Severity.HIGH, "exits"),
        ("v1.25.0", Severity.MEDIUM, "falls back"),
        ("v1.32.1", Severity.MEDIUM, "falls back"),
        ("latest", Severity.HIGH, "unknown"),
    ],
)
def test_severity_follows_what_the_version_does_on_a_failed_fetch(
    tag: str, severity: Severity, behaviour: str
) -> None:
    image = f"registry.k8s.io/autoscaling/cluster-autoscaler:{tag}"
    outcome = static(without_endpoint(with_autoscalers(isolated(), autoscaler(image=image)), "ec2"))
    assert (outcome.result, outcome.severity, outcome.evidence["on_failed_fetch"]) == (
        Result.FAIL,
        severity,
        behaviour,
    )
