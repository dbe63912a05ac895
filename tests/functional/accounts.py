"""moto accounts for the functional tests: fake credentials around mock_aws for fixtures wider than one
test, and an SNS topic with SQS queues subscribed, the way alert consumers (Slack via Chatbot, a security
team's queue) receive the auditor's messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from table import REGION


@contextmanager
def moto_account(region: str = REGION) -> Iterator[boto3.Session]:
    """moto with fake credentials in the environment (tests/conftest.py's autouse fixture is per test)."""
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", region),
        ):
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        yield boto3.Session(region_name=region)


@dataclass
class Topic:
    arn: str
    sns: Any
    sqs: Any

    @classmethod
    def create(cls, name: str, region: str = REGION) -> Topic:
        sns = boto3.client("sns", region_name=region)
        return cls(sns.create_topic(Name=name)["TopicArn"], sns, boto3.client("sqs", region_name=region))

    def subscribe(self, name: str, filter_policy: dict[str, Any] | None = None) -> str:
        """A new queue subscribed with the filter policy (None: everything); returns its URL."""
        url: str = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy is not None else {}
        self.sns.subscribe(TopicArn=self.arn, Protocol="sqs", Endpoint=arn, Attributes=policy)
        return url


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every SNS envelope waiting in the queue, deleted as read."""
    envelopes: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            envelopes.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return envelopes
