"""The demo fleet in moto for module-scoped fixtures (the autouse env fixture is function-scoped)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
from moto import mock_aws

from eks_auditor_tools.demo.fleet import REGION, Fleet, build_fleet


@contextmanager
def demo_fleet_in_moto() -> Iterator[tuple[boto3.Session, Fleet]]:
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", REGION),
        ):
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        session = boto3.Session(region_name=REGION)
        yield session, build_fleet(session, REGION)
