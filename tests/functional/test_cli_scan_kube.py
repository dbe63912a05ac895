"""`eks-auditor scan` reaching a cluster's Kubernetes API through a tunnel (issue #4's door).

The cluster's DescribeCluster endpoint is the real-looking EKS hostname nobody can resolve here; the
API is only reachable through --kube-endpoint, verified with --kube-ca, served by the real HTTPS
fixture server (which checks the EKS bearer token's presigned STS signature).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from eks_auditor_tools.cli.main import main
from eks_auditor_tools.demo.fleet import ACCOUNT, REGION, build_fleet
from eks_auditor_tools.demo.kube_server import EKS_HOST, RunningServer, make_tls, running_server
from eks_auditor_tools.demo.kubernetes import cluster_states


@pytest.fixture
def tunnelled_payments(tmp_path: Path) -> Iterator[RunningServer]:
    with mock_aws():
        build_fleet(boto3.Session(region_name=REGION), REGION)
        from moto.eks.models import eks_backends

        cluster = eks_backends[ACCOUNT][REGION].clusters["payments"]
        cluster.endpoint = f"https://{EKS_HOST}"
        setattr(cluster, "access_config", {"authenticationMode": "CONFIG_MAP"})  # noqa: B010
        state = cluster_states(REGION)["payments"]
        state.access_key = os.environ["AWS_ACCESS_KEY_ID"]
        state.secret_key = os.environ["AWS_SECRET_ACCESS_KEY"]
        with running_server(make_tls(tmp_path), state) as server:
            yield server


def _scan(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    main(["scan", "--region", REGION, "--cluster", "payments", "--output", "json", *args])
    findings: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return findings


def test_scan_through_a_tunnel_finds_the_autoscaler_and_admin_risks(
    tunnelled_payments: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = tunnelled_payments
    findings = _scan(
        ["--kube-endpoint", f"payments={server.url}", "--kube-ca", f"payments={server.tls.ca_file}"], capsys
    )
    by_check = {(f["check_id"], f["severity"]) for f in findings}
    # The upstream manifest's v1.32.1 falls back to the static list when the fetch fails: MEDIUM.
    assert ("autoscaler_dynamic_instance_list", "MEDIUM") in by_check
    assert ("cluster_admin_broad", "HIGH") in by_check
    # Only moto's missing add-on / Pod Identity APIs (404) leave a check incomplete, never a Kubernetes read.
    incomplete = [f for f in findings if f["check_id"] == "audit_incomplete"]
    assert [f["evidence"]["check_id"] for f in incomplete] == ["vpc_endpoint_missing"]  # type: ignore[index]
    assert "404 on eks:ListAddons" in str(incomplete[0]["evidence"])
    # Every request carried a valid token (the server answers 401 otherwise) and reached the reads.
    paths = {path for path, _ in server.state.requests}
    assert "/apis/apps/v1/deployments" in paths


def test_without_the_tunnel_the_kubernetes_checks_are_incomplete_not_passed(
    tunnelled_payments: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    findings = _scan([], capsys)
    incomplete = {f["evidence"]["check_id"] for f in findings if f["check_id"] == "audit_incomplete"}  # type: ignore[index]
    assert {"autoscaler_dynamic_instance_list", "cluster_admin_broad"} <= incomplete
    assert not [
        f for f in findings if f["check_id"] in ("autoscaler_dynamic_instance_list", "cluster_admin_broad")
    ]
