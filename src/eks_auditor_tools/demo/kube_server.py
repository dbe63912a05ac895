"""A real HTTPS Kubernetes API fixture server on 127.0.0.1 (a test fixture, not a mock of our code).

- TLS: a server certificate issued at fixture time by a throwaway test CA (`cryptography`), so the
  client's verification against "the cluster CA" is the real ssl module path.
- Authentication as EKS does it: the bearer token must be `k8s-aws-v1.` + base64url of a presigned STS
  GetCallerIdentity URL whose signed headers include `x-k8s-aws-id` naming this cluster; the SigV4
  signature is checked against the test credentials (else 401, with a Kubernetes Status body).
- Per test: objects served by GET, collections served by list with `limit`/`continue` pagination,
  paths that answer 403, a delay before answering (timeouts), a forced status.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

FIXTURES = Path(__file__).resolve().parent / "kube_fixtures"
TOKEN_PREFIX = "k8s-aws-v1."
# The hostname DescribeCluster would return for the test cluster; the server certificate carries it
# beside 127.0.0.1, as a tunnel forwarding to a real EKS endpoint would see.
EKS_HOST = "0123456789ABCDEF0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com"


def fixture(name: str) -> Any:
    """A JSON fixture from kube_fixtures/ (Kubernetes objects trimmed from the upstream manifests)."""
    return json.loads((FIXTURES / name).read_text())


# --- TLS material ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    ca_pem: bytes
    ca_file: Path
    cert_file: Path
    key_file: Path

    @property
    def ca_base64(self) -> str:
        """The CA as DescribeCluster returns it (certificateAuthority.data: base64 of the PEM)."""
        return base64.b64encode(self.ca_pem).decode("ascii")


def make_tls(
    directory: Path, *, names: tuple[str, ...] = ("localhost", EKS_HOST), ca_name: str = "test-ca"
) -> TlsFiles:
    """A fresh CA and a server certificate for 127.0.0.1 plus `names`, written under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_subject)
        .issuer_name(ca_subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    sans += [x509.DNSName(name) for name in names]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    files = TlsFiles(
        ca_pem=ca_pem,
        ca_file=directory / "ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server-key.pem",
    )
    files.ca_file.write_bytes(ca_pem)
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


# --- EKS token verification -----------------------------------------------------------------------


def verify_token(
    header: str | None, *, cluster_name: str, region: str, access_key: str, secret_key: str
) -> str | None:
    """None when the Authorization header carries a valid EKS token for `cluster_name`, else why not."""
    if not header or not header.startswith("Bearer "):
        return "no bearer token"
    token = header[len("Bearer ") :]
    if not token.startswith(TOKEN_PREFIX):
        return "token lacks the k8s-aws-v1. prefix"
    encoded = token[len(TOKEN_PREFIX) :]
    if "=" in encoded:
        return "token carries base64 padding"
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except ValueError:
        return "token is not base64url"
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.netloc != f"sts.{region}.amazonaws.com":
        return f"token does not point at the regional STS endpoint: {parts.netloc}"
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if query.get("Action") != "GetCallerIdentity" or query.get("Version") != "2011-06-15":
        return "token is not a GetCallerIdentity request"
    signed = query.get("X-Amz-SignedHeaders", "").split(";")
    if "x-k8s-aws-id" not in signed:
        return "x-k8s-aws-id is not a signed header"
    if query.get("X-Amz-Expires") != "60":
        return "token URL is not presigned for 60 seconds"
    signature = query.pop("X-Amz-Signature", "")
    credential = query.get("X-Amz-Credential", "")
    key_id, _, scope = credential.partition("/")
    if key_id != access_key:
        return "token signed by unknown credentials"
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )
    # The API server does not know the header value: it is the cluster it expects to be named.
    header_values = {"host": parts.netloc, "x-k8s-aws-id": cluster_name}
    if any(name not in header_values for name in signed):
        return f"unexpected signed headers {signed}"
    canonical_headers = "".join(f"{name}:{header_values[name]}\n" for name in signed)
    canonical_request = "\n".join(
        [
            "GET",
            parts.path or "/",
            canonical_query,
            canonical_headers,
            ";".join(signed),
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            query.get("X-Amz-Date", ""),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_key}".encode()
    for piece in scope.split("/"):
        key = hmac.new(key, piece.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "signature does not match (token for another cluster name?)"
    return None


# --- the server -----------------------------------------------------------------------------------


@dataclass
class KubeState:
    """What the server serves; tests mutate it between requests."""

    cluster_name: str = "prod"
    region: str = "us-east-1"
    access_key: str = "testing"
    secret_key: str = "testing"
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> object (GET)
    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # path -> items (list)
    forbidden: set[str] = field(default_factory=set)  # paths answering 403
    statuses: dict[str, int] = field(default_factory=dict)  # path -> forced status
    raw: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)  # path -> (status, type, body)
    delay: float = 0.0  # seconds before answering
    page_size: int | None = None  # server-side cap on `limit`, to exercise pagination
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _forbidden_message(path: str) -> str:
    # Shaped like the API server's RBAC denial.
    resource = path.rstrip("/").split("/")[-1]
    user = "arn:aws:sts::111122223333:assumed-role/eks-auditor/audit"
    return f'{resource} is forbidden: User "{user}" cannot get resource "{resource}"'


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        return

    def do_GET(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        state.requests.append((parts.path, query))
        if state.delay:
            time.sleep(state.delay)
        problem = verify_token(
            self.headers.get("Authorization"),
            cluster_name=state.cluster_name,
            region=state.region,
            access_key=state.access_key,
            secret_key=state.secret_key,
        )
        if problem:
            self._send(401, _status(401, "Unauthorized", f"Unauthorized ({problem})"))
            return
        if parts.path in state.forbidden:
            self._send(403, _status(403, "Forbidden", _forbidden_message(parts.path)))
            return
        if parts.path in state.raw:
            code, content_type, data = state.raw[parts.path]
            self._send_bytes(code, content_type, data)
            return
        if parts.path in state.statuses:
            code = state.statuses[parts.path]
            self._send(code, _status(code, "InternalError", f"forced status {code}"))
            return
        if parts.path in state.objects:
            self._send(200, state.objects[parts.path])
            return
        if parts.path in state.collections:
            self._send(200, self._page(state, parts.path, query))
            return
        self._send(
            404, _status(404, "NotFound", f"the server could not find the requested resource ({parts.path})")
        )

    @staticmethod
    def _page(state: KubeState, path: str, query: Mapping[str, str]) -> dict[str, Any]:
        items = state.collections[path]
        limit = int(query.get("limit", "0")) or len(items) or 1
        if state.page_size:
            limit = min(limit, state.page_size)
        start = int(query.get("continue") or 0)
        page = items[start : start + limit]
        metadata: dict[str, Any] = {"resourceVersion": "1000"}
        if start + limit < len(items):
            metadata["continue"] = str(start + limit)
        return {"kind": "List", "apiVersion": "v1", "metadata": metadata, "items": page}

    def _send(self, code: int, body: Mapping[str, Any]) -> None:
        self._send_bytes(code, "application/json", json.dumps(body).encode())

    def _send_bytes(self, code: int, content_type: str, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # The client may have given up already (timeout tests).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: KubeState


@dataclass
class RunningServer:
    state: KubeState
    port: int
    tls: TlsFiles

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@contextmanager
def running_server(tls: TlsFiles, state: KubeState | None = None) -> Iterator[RunningServer]:
    """Serve `state` over HTTPS on 127.0.0.1 (a free port) until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state or KubeState()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield RunningServer(state=server.state, port=server.server_address[1], tls=tls)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
