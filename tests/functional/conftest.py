"""Shared moto set-up for the functional tests: one account per test (`aws`), the findings table in it
(`dynamodb`, `store`), an SNS topic with SQS subscribers (`topic`), and per module the demo fleet
(`demo_fleet`) or an empty account to build a fleet in (`module_aws`).

Function-scoped fixtures run after the autouse fake-credentials fixture of tests/conftest.py; the
module-scoped ones set the same environment themselves (accounts.moto_account): that fixture has not run yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from accounts import Topic, moto_account
from eks_auditor.store import FindingStore
from moto import mock_aws
from table import REGION, TABLE, create_table

from eks_auditor_tools.demo.fleet import Fleet, build_fleet


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws: None) -> Any:
    """A DynamoDB client with the findings table created."""
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    return client


@pytest.fixture
def client(dynamodb: Any) -> Any:
    """The store tests' name for the findings table's client."""
    return dynamodb


@pytest.fixture
def store(dynamodb: Any) -> FindingStore:
    return FindingStore(TABLE, client=dynamodb)


@pytest.fixture
def topic(aws: None) -> Topic:
    """The alerts topic, no subscribers yet (`topic.subscribe(...)` adds an SQS queue)."""
    return Topic.create("eks-auditor-findings")


@pytest.fixture(scope="module")
def module_aws() -> Iterator[boto3.Session]:
    """One moto account for the module (its tests only read, or clean up what they change)."""
    with moto_account() as session:
        yield session


@pytest.fixture(scope="module")
def demo_fleet(module_aws: boto3.Session) -> tuple[boto3.Session, Fleet]:
    """The demo's fleet (eks_auditor_tools.demo.fleet), built once per module."""
    return module_aws, build_fleet(module_aws, REGION)
