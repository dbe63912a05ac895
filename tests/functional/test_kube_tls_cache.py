"""One SSL context per cluster CA, from the CA alone, cached by its bytes; one STS client per region."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import boto3
import pytest
from eks_auditor.collect.clients import AwsClients
from eks_auditor.kube import client as kube_client
from eks_auditor.kube.client import ssl_context
from eks_auditor.kube.errors import KubeTlsError

from eks_auditor_tools.demo.kube_server import make_tls


def test_a_context_per_ca_from_that_ca_alone_cached_by_its_bytes(tmp_path: Path) -> None:
    first = make_tls(tmp_path / "a", ca_name="ca-a")
    second = make_tls(tmp_path / "b", ca_name="ca-b")
    with mock.patch.object(
        kube_client.ssl.SSLContext, "load_default_certs", side_effect=AssertionError("system store loaded")
    ):
        context = ssl_context(ca_data=first.ca_base64)
        # The same CA, base64 (DescribeCluster) or PEM, or a file holding it: the same context.
        assert ssl_context(ca_data=first.ca_base64) is context
        assert ssl_context(ca_data=first.ca_pem) is context
        assert ssl_context(ca_file=str(first.ca_file)) is context
        other = ssl_context(ca_data=second.ca_base64)
    assert other is not context
    assert context.cert_store_stats()["x509_ca"] == 1
    assert context.verify_mode is kube_client.ssl.CERT_REQUIRED and context.check_hostname


def test_a_bad_ca_is_a_tls_error_and_not_cached() -> None:
    for _ in range(2):
        with pytest.raises(KubeTlsError, match="not a valid PEM"):
            ssl_context(ca_data=b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_one_sts_client_per_region_on_the_regional_endpoint() -> None:
    clients = AwsClients(boto3.Session(region_name="us-east-1"))
    east = clients.sts("us-east-1")
    assert clients.sts("us-east-1") is east
    assert clients.sts("eu-west-1") is not east
    assert east.meta.endpoint_url == "https://sts.us-east-1.amazonaws.com"
