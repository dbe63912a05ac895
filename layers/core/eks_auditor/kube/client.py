"""A small read-only HTTPS client for the Kubernetes API: GET and paginated list, typed errors.

Standard library only (the `kubernetes` package pins python-dateutil in a way that conflicts with
botocore). TLS is verified against the cluster CA from DescribeCluster or a CA file.
"""

from __future__ import annotations

import base64
import binascii
import functools
import http.client
import json
import socket
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from eks_auditor.kube.errors import (
    KubeApiError,
    KubeAuthError,
    KubeError,
    KubeNotFound,
    KubeTlsError,
    KubeUnreachable,
)

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
PAGE_SIZE = 500
# Guards against a server that keeps handing out continue tokens.
MAX_PAGES = 200

GRANT_READ = (
    "Grant the auditor's IAM role read access: an EKS access entry with AmazonEKSViewPolicy at cluster "
    "scope, or an aws-auth mapping to a group bound to the `view` ClusterRole"
)
TOKEN_REJECTED = (
    "The cluster did not accept the auditor's IAM identity: create an EKS access entry for the auditor's "
    "role (authentication mode API or API_AND_CONFIG_MAP) or map it in aws-auth; a token for another "
    "cluster name, or a clock more than a few minutes off, is rejected too"
)


def ssl_context(*, ca_data: str | bytes | None = None, ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context trusting the cluster CA (base64 PEM as DescribeCluster returns it, or a file).

    With a CA, the context trusts that CA alone: the system trust store is never loaded (loading it
    cost more CPU than the rest of an audit). Contexts are cached by the CA's bytes (a file is read
    each time, so a changed file is honoured) and shared: an SSLContext is safe to share across
    threads once configured. With neither, the system trust store is used (an EKS endpoint never
    verifies that way).
    """
    if ca_file:
        pem = Path(ca_file).read_bytes().decode("ascii", "replace")
    elif ca_data:
        pem = _decode_ca(ca_data)
    else:
        return _system_context()
    return _ca_context(pem)


@functools.lru_cache(maxsize=1)
def _system_context() -> ssl.SSLContext:
    return ssl.create_default_context()


@functools.lru_cache(maxsize=256)
def _ca_context(pem: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=pem)
    except ssl.SSLError as error:
        raise KubeTlsError(
            f"the cluster certificate authority is not a valid PEM certificate: {error}"
        ) from None
    return context


def _decode_ca(ca_data: str | bytes) -> str:
    raw = ca_data.encode("ascii") if isinstance(ca_data, str) else ca_data
    if b"-----BEGIN" in raw:
        return raw.decode("ascii")
    try:
        return base64.b64decode(raw, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise KubeTlsError("the cluster certificate authority is neither PEM nor base64 PEM") from None


class KubeClient:
    """GET and list against one API server. `token` is a string or a callable returning a fresh one."""

    def __init__(
        self,
        endpoint: str,
        *,
        token: str | Callable[[], str],
        context: ssl.SSLContext,
        tls_server_name: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        page_size: int = PAGE_SIZE,
    ) -> None:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        if parts.scheme != "https" or not parts.hostname:
            raise KubeApiError(f"the Kubernetes endpoint must be an https URL, got {endpoint!r}")
        self.endpoint = endpoint
        self._host = parts.hostname
        self._port = parts.port or 443
        self._prefix = parts.path.rstrip("/")
        self._token = token
        self._context = context
        self._server_name = tls_server_name or self._host
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._page_size = page_size

    def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """One object (or one list page) as JSON."""
        query = f"?{urlencode(dict(params))}" if params else ""
        return self._request(f"{self._prefix}{path}{query}", path)

    def list(self, path: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a collection, following `metadata.continue` with `limit`."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            query = {**(params or {}), "limit": str(self._page_size)}
            if token:
                query["continue"] = token
            page = self.get(path, query)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
        raise KubeApiError(f"more than {MAX_PAGES} pages of {self._page_size}", path=path)

    def _request(self, target: str, path: str) -> dict[str, Any]:
        token = self._token() if callable(self._token) else self._token
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": "eks-auditor",
            "Host": self._host if self._port == 443 else f"{self._host}:{self._port}",
        }
        connection = _Connection(
            self._host, self._port, self._context, self._server_name, timeout=self._connect_timeout
        )
        try:
            try:
                connection.connect()
                if connection.sock is not None:
                    connection.sock.settimeout(self._read_timeout)
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except ssl.SSLCertVerificationError as error:
                raise KubeTlsError(
                    f"TLS verification of {self._host}:{self._port} failed ({error.verify_message})",
                    path=path,
                    remedy="Use the cluster's CA (DescribeCluster certificateAuthority) or pass the "
                    "right CA file; through a tunnel, verify against the cluster endpoint's host name",
                ) from None
            except ssl.SSLError as error:
                raise KubeTlsError(
                    f"TLS handshake with {self._host}:{self._port} failed: {error}", path=path
                ) from None
            except TimeoutError:
                raise _unreachable(f"timed out talking to {self._host}:{self._port}", path) from None
            except socket.gaierror as error:
                raise _unreachable(f"cannot resolve {self._host}: {error.strerror}", path) from None
            except ConnectionRefusedError:
                raise _unreachable(f"connection to {self._host}:{self._port} refused", path) from None
            except (OSError, http.client.HTTPException) as error:
                raise _unreachable(f"connection to {self._host}:{self._port} failed: {error}", path) from None
        finally:
            connection.close()
        return _decode(response.status, body, path)


class _Connection(http.client.HTTPSConnection):
    """HTTPSConnection that verifies the certificate against a chosen name (SNI and host check)."""

    def __init__(
        self, host: str, port: int, context: ssl.SSLContext, server_name: str, *, timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._server_name = server_name
        self._tls_context = context

    def connect(self) -> None:
        # Plain TCP first (connect timeout), then TLS with our own server name, so a tunnel to
        # 127.0.0.1 can still verify the API server's certificate for the cluster's host name.
        http.client.HTTPConnection.connect(self)
        assert self.sock is not None
        self.sock = self._tls_context.wrap_socket(self.sock, server_hostname=self._server_name)


def _unreachable(reason: str, path: str) -> KubeUnreachable:
    return KubeUnreachable(reason, path=path)


def _status_message(body: bytes) -> str:
    try:
        status = json.loads(body)
    except (ValueError, RecursionError):
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(status, dict):
        return str(status.get("message") or status.get("reason") or "")
    return ""


def _is_not_found_status(body: bytes) -> bool:
    """The API server's own 404: a `Status` object with reason NotFound."""
    try:
        status = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(status, dict) and status.get("kind") == "Status" and status.get("reason") == "NotFound"


def _decode(status: int, body: bytes, path: str) -> dict[str, Any]:
    if status == 200:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise KubeApiError(
                "the API server answered 200 with a body that is not JSON", status=200, path=path
            ) from None
        if not isinstance(document, dict):
            raise KubeApiError(
                "the API server answered 200 with JSON that is not an object", status=200, path=path
            )
        return document
    message = _status_message(body)
    error: KubeError
    if status == 401:
        error = KubeAuthError(
            f"401 Unauthorized: {message or 'token rejected'}", status=401, path=path, remedy=TOKEN_REJECTED
        )
    elif status == 403:
        error = KubeAuthError(
            f"403 Forbidden: {message or 'RBAC denies the read'}", status=403, path=path, remedy=GRANT_READ
        )
    elif status == 404 and _is_not_found_status(body):
        error = KubeNotFound(f"404 Not Found: {message or 'no such object'}", path=path)
    elif status == 404:
        # A proxy, load balancer or wrong base path answers 404 too: that says nothing about the object.
        error = KubeApiError(
            f"HTTP 404 without a Kubernetes Status body (a proxy or a wrong endpoint answered?): {message}",
            status=404,
            path=path,
        )
    else:
        error = KubeApiError(f"HTTP {status}: {message}", status=status, path=path)
    raise error
