"""AwsClients.prepare_in_background: a scan's clients are created on a thread of their own."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eks_auditor.collect.clients import AwsClients


class RecordingSession:
    """Stands in for a boto3 Session: records which clients were made, on which thread."""

    region_name = "us-east-1"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.made: list[tuple[str, str, str]] = []

    def client(self, service: str, region_name: str, **_: Any) -> object:
        if self.fail:
            raise ValueError(f"cannot make {service}")
        self.made.append((service, region_name, threading.current_thread().name))
        return object()


def test_clients_are_made_on_their_own_thread_first_needed_first() -> None:
    session = RecordingSession()
    clients = AwsClients(session)  # type: ignore[arg-type]
    clients.prepare_in_background(("eks", "ec2"), ("us-east-1", "eu-west-1")).join(timeout=10)
    assert [(service, region) for service, region, _ in session.made] == [
        ("eks", "us-east-1"),
        ("eks", "eu-west-1"),
        ("ec2", "us-east-1"),
        ("ec2", "eu-west-1"),
    ]
    assert {thread for _, _, thread in session.made} == {"clients"}
    # Later asks get the client made in the background, not a new one.
    first = clients.client("ec2", "eu-west-1")
    assert clients.client("ec2", "eu-west-1") is first
    assert len(session.made) == 4


def test_a_failure_in_the_background_is_met_again_where_the_client_is_used() -> None:
    clients = AwsClients(RecordingSession(fail=True))  # type: ignore[arg-type]
    warm = clients.prepare_in_background(("eks",), ("us-east-1",))
    warm.join(timeout=10)
    assert not warm.is_alive()
    with pytest.raises(ValueError, match="cannot make eks"):
        clients.client("eks", "us-east-1")
