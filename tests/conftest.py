"""Shared test setup: fake AWS credentials (tests never reach AWS) and helper-module import paths."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
for sub in ("unit", "functional", "template"):
    sys.path.insert(0, str(TESTS / sub))


@pytest.fixture(autouse=True)
def _fake_aws_environment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if request.node.get_closest_marker("live"):
        # The opt-in live tests use the caller's real credentials and region.
        yield
        return
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "EksAuditorTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "eks-auditor")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    yield


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(autouse=True, scope="session")
def _serialized_moto() -> Iterator[None]:
    # Audits run in threads; moto's in-process backends are not thread-safe (a real service is).
    from eks_auditor_tools.demo.run import serialized_moto

    with serialized_moto():
        yield
