"""A client keeps a connection for every call an account-region can have in flight.

A real HTTP server on 127.0.0.1 (keep-alive, a canned ListClusters answer) serves concurrent calls of one
client. botocore's default pool of 10 connections discards the rest after each call, so the next call
opens a new connection (with AWS, a new TLS handshake): urllib3 says "Connection pool is full".
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config
from eks_auditor.collect.clients import MAX_POOL_CONNECTIONS, AwsClients
from eks_auditor.config import MAX_CONCURRENCY_PER_ACCOUNT_REGION, PARTS_IN_FLIGHT, VPC_READS_IN_FLIGHT

# The most calls one account-region's client can have in flight: 8 audits, each reading 4 parts at once,
# one of which may be a VPC's 7 reads. Every call waits until this many are in flight together.
IN_FLIGHT = MAX_CONCURRENCY_PER_ACCOUNT_REGION * (PARTS_IN_FLIGHT - 1 + VPC_READS_IN_FLIGHT)


@pytest.fixture
def endpoint() -> Iterator[str]:
    together = threading.Barrier(IN_FLIGHT, timeout=10)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def do_GET(self) -> None:
            together.wait()
            body = json.dumps({"clusters": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def discarded_connections(client: object, caplog: pytest.LogCaptureFixture) -> int:
    with (
        caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"),
        ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool,
    ):
        list(pool.map(lambda _: client.list_clusters(), range(IN_FLIGHT)))  # type: ignore[attr-defined]
    return sum("Connection pool is full" in record.getMessage() for record in caplog.records)


def session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")


def test_the_clients_pool_holds_every_call_an_account_region_has_in_flight(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert MAX_POOL_CONNECTIONS >= IN_FLIGHT  # the formula in clients.py, stated again independently
    clients = AwsClients(session(), config=Config(retries={"max_attempts": 0}))
    eks = clients.session.client("eks", endpoint_url=endpoint, config=clients.config)
    assert discarded_connections(eks, caplog) == 0


def test_botocores_default_pool_would_discard_connections(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The same calls with botocore's default pool (10): the failure the configured pool prevents.
    eks = session().client("eks", endpoint_url=endpoint, config=Config(retries={"max_attempts": 0}))
    assert discarded_connections(eks, caplog) > 0
