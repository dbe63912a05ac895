"""A full audit at DEBUG (botocore included) logs no session token, secret key, signature or EKS token.

The audit runs through the Lambda runtime (which installs the redaction) with temporary credentials,
against moto and the real HTTPS Kubernetes fixture server (which verifies the EKS bearer token).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from eks_auditor import redaction
from eks_auditor.runtime import KubeOverride, lambda_runtime
from moto import mock_aws
from table import create_table

from eks_auditor_tools.demo.fleet import ACCOUNT, REGION, build_fleet
from eks_auditor_tools.demo.kube_server import EKS_HOST, make_tls, running_server
from eks_auditor_tools.demo.kubernetes import cluster_states

ACCESS_KEY = "ASIAY34FZKBOKMUTVV7A"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEHoaCXVzLWVhc3QtMSJHMEUCIQDtestsessiontokenvalue0123456789abcdef"


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Every logger at DEBUG into one stream, as LOG_LEVEL=DEBUG does in Lambda."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    # Handlers on each logger, not only the root: in a worker where Powertools configured loggers
    # earlier, botocore's and ours may not propagate.
    names = ("", "botocore", "eks_auditor")
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in names]
    for target, _ in saved:
        target.addHandler(handler)
        target.setLevel(logging.DEBUG)
    # moto's own DEBUG lines (its expression parser) are not ours and slow the test down tenfold.
    moto_logger = logging.getLogger("moto")
    moto_level = moto_logger.level
    moto_logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        for target, level in saved:
            target.removeHandler(handler)
            target.setLevel(level)
        moto_logger.setLevel(moto_level)


def test_debug_logs_of_a_full_audit_hold_no_credentials(
    debug_log: io.StringIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signatures: list[str] = []

    def record_signature(request: Any, **_: Any) -> None:
        found = re.search(r"Signature=([0-9a-f]+)", request.headers.get("Authorization", b"").decode())
        if found:
            signatures.append(found.group(1))

    with mock_aws():
        build_fleet(boto3.Session(region_name=REGION), REGION)
        from moto.eks.models import eks_backends

        # The fixture server's certificate names the EKS host name (as in test_cli_scan_kube).
        eks_backends[ACCOUNT][REGION].clusters["payments"].endpoint = f"https://{EKS_HOST}"
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        monkeypatch.setenv("FINDINGS_TABLE", create_table(dynamodb))
        state = cluster_states(REGION)["payments"]
        state.access_key, state.secret_key = ACCESS_KEY, SECRET_KEY
        with running_server(make_tls(tmp_path), state) as server:
            session = boto3.Session(
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                aws_session_token=SESSION_TOKEN,
                region_name=REGION,
            )
            session._session.register("before-send", record_signature)  # type: ignore[attr-defined]
            runtime = lambda_runtime(redaction_probe := _Counts())
            runtime.session = session
            runtime.kube_overrides = {"payments": KubeOverride(server.url, server.tls.ca_file)}
            result = runtime.auditor.audit(REGION, "payments", source="scan-redaction", account=ACCOUNT)
            kube_requests = len(server.state.requests)

    log = debug_log.getvalue()
    assert result.changes, "the audit wrote findings"
    assert kube_requests > 0, "the Kubernetes API was read with the EKS token"
    assert redaction_probe.counts.get("ClustersAudited") == 1
    # The log has content: botocore's request logging and the signing steps ran at DEBUG.
    assert "DescribeCluster" in log
    assert "X-Amz-Security-Token" in log or "x-amz-security-token" in log
    assert "Signature" in log
    assert len(signatures) > 10
    assert SESSION_TOKEN not in log
    assert SESSION_TOKEN[:24] not in log
    assert SECRET_KEY not in log
    assert ACCESS_KEY not in log
    leaked = [signature for signature in signatures if signature in log]
    assert leaked == []
    assert re.search(r"k8s-aws-v1\.(?!\*\*\*)", log) is None
    assert logging.getLogger().filters.count(redaction.FILTER) == 1


class _Counts:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + value
