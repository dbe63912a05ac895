"""`make bench` latency scenario: `eks-auditor scan` against moto behind a proxy adding 40 ms a call.

Three processes: moto (ThreadedMotoServer, the fleet built inside it), the delaying proxy, and the scan
(the eks-auditor process whose user CPU is reported). Fleets of 15, 60 and 240 clusters over three
regions share VPCs and node groups (the demo fleet per region plus clones). For each fleet: the scan
straight to moto and through the proxy at the default concurrency, plus `--max-concurrency 1` through
the proxy for the 60-cluster fleet; the findings must be identical in every run.

Bound for a run through the proxy: max(critical path, calls / effective concurrency x delay, the same
scan straight to moto). The critical path is the longest chain of dependent calls for one cluster
(ListClusters -> DescribeCluster -> ListNodegroups -> DescribeNodegroup -> DescribeInstanceTypes).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
# The organization scenario (issue 13): 20 accounts x 2 regions x 3 clusters, `scan --organization`.
ORG_REGIONS = ("us-east-1", "eu-west-1")
ORG_SIZE = (20, 2, 3)
ORG_ROLE = "eks-auditor-audit"
DELAY_SECONDS = 0.040
CRITICAL_PATH_CALLS = 5
BASE_CLUSTERS_PER_REGION = 5
# Clusters in flight for these runs: the defaults (eks_auditor.config); 3 regions x 8 per region > 16.
FLEETS = (15, 60, 240)
PIP_REQ = ("--disable-pip-version-check", "-r")
UNCHECKED = ("--invalidation-mode", "unchecked-hash")


# ------------------------------------------------------------------ moto process


def serve_moto(clusters: int) -> None:
    """moto over HTTP on 127.0.0.1 with the fleet built inside; prints READY <port>, serves until EOF."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    import boto3

    from eks_auditor_tools.demo.fleet import build_fleet, clone_clusters

    session = boto3.Session(region_name=REGIONS[0])
    copies = clusters // (len(REGIONS) * BASE_CLUSTERS_PER_REGION) - 1
    for region in REGIONS:
        fleet = build_fleet(session, region)
        if copies > 0:
            clone_clusters(session, fleet, copies)
    print(f"READY {port}", flush=True)
    sys.stdin.read()
    server.stop()


def serve_org_moto(accounts: int, regions: int, clusters: int) -> None:
    """moto over HTTP with an organization inside: the management account plus `accounts - 1` members
    (organizations.create_account), each with `clusters` EKS clusters in each of the first `regions`
    ORG_REGIONS, built through an assumed-role session into the member (moto keeps per-account state).
    Prints READY <port>, serves until EOF."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    import boto3
    from moto.eks.models import eks_backends

    session = boto3.Session(region_name=ORG_REGIONS[0])
    organizations = session.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    management = session.client("sts").get_caller_identity()["Account"]
    members = [
        organizations.create_account(AccountName=f"team-{n:02d}", Email=f"team-{n}@example.com")[
            "CreateAccountStatus"
        ]["AccountId"]
        for n in range(accounts - 1)
    ]
    sts = session.client("sts")
    for account in [management, *members]:
        if account == management:
            member = session
        else:
            arn = f"arn:aws:iam::{account}:role/{ORG_ROLE}"
            creds = sts.assume_role(RoleArn=arn, RoleSessionName="bench-build")["Credentials"]
            member = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
        for region in ORG_REGIONS[:regions]:
            ec2 = member.client("ec2", region_name=region)
            eks = member.client("eks", region_name=region)
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            subnets = [
                ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")[
                    "Subnet"
                ]["SubnetId"]
                for i, az in enumerate("ab")
            ]
            for n in range(clusters):
                eks.create_cluster(
                    name=f"app-{n}",
                    roleArn=f"arn:aws:iam::{account}:role/eks",
                    resourcesVpcConfig={"subnetIds": subnets, "endpointPublicAccess": n % 2 == 0},
                )
                # EKS reports the cluster's VPC; moto echoes the request (see eks_auditor_tools.fleet).
                stored = eks_backends[account][region].clusters[f"app-{n}"]
                stored.resources_vpc_config = {**stored.resources_vpc_config, "vpcId": vpc}
    print(f"READY {port}", flush=True)
    sys.stdin.read()
    server.stop()


# ------------------------------------------------------------------ proxy process


def serve_proxy(upstream_port: int, delay: float) -> None:
    """Forward every request to moto after `delay` seconds; print READY <port>, serve until stdin closes."""
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            time.sleep(delay)
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = http.client.HTTPConnection("127.0.0.1", upstream_port)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = local.connection = http.client.HTTPConnection("127.0.0.1", upstream_port)
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
            payload = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


# ------------------------------------------------------------------ scan process


def run_scan(endpoint: str, concurrency: int) -> None:
    """The eks-auditor scan of every region against `endpoint`; prints one JSON line of measurements."""
    import contextlib
    import io

    from eks_auditor_tools.bench import _Calls
    from eks_auditor_tools.cli.main import main

    os.environ["AWS_ENDPOINT_URL"] = endpoint
    calls = _Calls()
    out = io.StringIO()
    regions = [arg for region in REGIONS for arg in ("--region", region)]
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with calls.installed(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["scan", *regions, "--max-concurrency", str(concurrency), "--output", "json"])
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    findings = json.loads(out.getvalue() or "[]")
    print(
        json.dumps(
            {
                "exit_code": code,
                "wall_seconds": wall,
                "user_cpu_seconds": after.ru_utime - before.ru_utime,
                "calls": sum(calls.counts.values()),
                "clusters": len({(f["region"], f["cluster"]) for f in findings}),
                "findings": len(findings),
                "findings_sha256": hashlib.sha256(json.dumps(findings, sort_keys=True).encode()).hexdigest(),
            }
        )
    )


def run_org_scan(endpoint: str, concurrency: int, regions: int) -> None:
    """`eks-auditor scan --organization` of the organization behind `endpoint`; one JSON line."""
    import contextlib
    import io

    from eks_auditor_tools.bench import _Calls
    from eks_auditor_tools.cli.main import main

    os.environ["AWS_ENDPOINT_URL"] = endpoint
    calls = _Calls()
    out = io.StringIO()
    region_args = [arg for region in ORG_REGIONS[:regions] for arg in ("--region", region)]
    arguments = ["scan", "--organization", "--role-name", ORG_ROLE, *region_args]
    started = time.perf_counter()
    with calls.installed(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main([*arguments, "--max-concurrency", str(concurrency), "--output", "json"])
    wall = time.perf_counter() - started
    findings = json.loads(out.getvalue() or "[]")
    print(
        json.dumps(
            {
                "exit_code": code,
                "wall_seconds": wall,
                "calls": sum(calls.counts.values()),
                "assume_role_calls": calls.counts["sts:AssumeRole"],
                "list_accounts_calls": calls.counts["organizations:ListAccounts"],
                "accounts": len({f["account"] for f in findings}),
                "clusters": len({(f["account"], f["region"], f["cluster"]) for f in findings}),
                "findings": len(findings),
                "findings_sha256": hashlib.sha256(json.dumps(findings, sort_keys=True).encode()).hexdigest(),
            }
        )
    )


# ------------------------------------------------------------------ orchestration


@contextmanager
def _process(*args: str) -> Iterator[int]:
    """A helper process of this module; yields the port it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "eks_auditor_tools.bench_latency", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"helper {args[0]} did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        with suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGIONS[0],
            "AWS_REGION": REGIONS[0],
            # No real credentials or config files are read, and no IMDS lookups.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def _scan(port: int, concurrency: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "eks_auditor_tools.bench_latency",
            "scan",
            f"http://127.0.0.1:{port}",
            str(concurrency),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
        timeout=1800,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _org_scan(port: int, concurrency: int, regions: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "eks_auditor_tools.bench_latency",
            "org-scan",
            f"http://127.0.0.1:{port}",
            str(concurrency),
            str(regions),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
        timeout=3600,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure_organization(size: tuple[int, int, int] = ORG_SIZE) -> dict[str, Any]:
    """`scan --organization` over accounts x regions x clusters: straight to moto, through the 40 ms proxy
    at the default concurrency, and through the proxy at --max-concurrency 1 (same findings required).

    Bound: max(calls / effective concurrency x 40 ms, the same scan straight to moto), the effective
    concurrency being min(overall limit, per-account-region limit x account-regions)."""
    from eks_auditor.config import MAX_CONCURRENCY, MAX_CONCURRENCY_PER_ACCOUNT_REGION

    accounts, regions, clusters = size
    effective = min(MAX_CONCURRENCY, MAX_CONCURRENCY_PER_ACCOUNT_REGION * accounts * regions)
    built = time.perf_counter()
    with (
        _process("org-moto", str(accounts), str(regions), str(clusters)) as moto_port,
        _process("proxy", str(moto_port), str(DELAY_SECONDS)) as proxy_port,
    ):
        build_seconds = time.perf_counter() - built
        _org_scan(moto_port, MAX_CONCURRENCY, regions)  # warm-up, discarded (moto builds state on first use)
        direct = _org_scan(moto_port, MAX_CONCURRENCY, regions)
        proxied = _org_scan(proxy_port, MAX_CONCURRENCY, regions)
        sequential = _org_scan(proxy_port, 1, regions)
    runs = (direct, proxied, sequential)
    calls = proxied["calls"]
    bound = max(calls / effective * DELAY_SECONDS, direct["wall_seconds"])
    return {
        "accounts": accounts,
        "regions": regions,
        "clusters_per_account_region": clusters,
        "delay_ms_per_call": DELAY_SECONDS * 1000,
        "effective_concurrency": effective,
        "build_seconds": round(build_seconds, 1),
        "clusters_audited": proxied["clusters"],
        "accounts_audited": proxied["accounts"],
        "findings": proxied["findings"],
        "calls": calls,
        "calls_per_cluster": round(calls / max(1, proxied["clusters"]), 2),
        "assume_role_calls": proxied["assume_role_calls"],
        "list_accounts_calls": proxied["list_accounts_calls"],
        "direct_wall_seconds": round(direct["wall_seconds"], 3),
        "proxied_wall_seconds": round(proxied["wall_seconds"], 3),
        "sequential_wall_seconds": round(sequential["wall_seconds"], 3),
        "speedup_over_sequential": round(sequential["wall_seconds"] / proxied["wall_seconds"], 2),
        "bound_seconds": round(bound, 3),
        "proxied_over_bound": round(proxied["wall_seconds"] / bound, 2),
        "identical_findings": len({r["findings_sha256"] for r in runs}) == 1
        and all(r["exit_code"] == runs[0]["exit_code"] for r in runs),
    }


def organization_targets(report: dict[str, Any]) -> dict[str, bool]:
    accounts, regions, clusters = report["accounts"], report["regions"], report["clusters_per_account_region"]
    return {
        "org_every_cluster_audited": report["clusters_audited"] == accounts * regions * clusters,
        # The caller's own account needs none: one AssumeRole per member account per scan.
        "org_one_assume_role_per_member": report["assume_role_calls"] == accounts - 1,
        "org_speedup_ge_5": report["speedup_over_sequential"] >= 5,
        "org_within_2x_of_bound": report["proxied_over_bound"] <= 2,
        "org_identical_findings": report["identical_findings"],
    }


def measure_latency(fleets: tuple[int, ...] = FLEETS) -> dict[str, Any]:
    from eks_auditor.config import MAX_CONCURRENCY, MAX_CONCURRENCY_PER_ACCOUNT_REGION

    effective = min(MAX_CONCURRENCY, MAX_CONCURRENCY_PER_ACCOUNT_REGION * len(REGIONS))
    report: dict[str, Any] = {
        "delay_ms_per_call": DELAY_SECONDS * 1000,
        "regions": len(REGIONS),
        "max_concurrency": MAX_CONCURRENCY,
        "max_concurrency_per_account_region": MAX_CONCURRENCY_PER_ACCOUNT_REGION,
        "effective_concurrency": effective,
        "fleets": {},
    }
    for size in fleets:
        with (
            _process("moto", str(size)) as moto_port,
            _process("proxy", str(moto_port), str(DELAY_SECONDS)) as proxy_port,
        ):
            # moto builds some state on first use (default VPCs, backends): a discarded run first, so the
            # direct figure (a term of the bound) is not inflated by warm-up.
            _scan(moto_port, MAX_CONCURRENCY)
            direct = _scan(moto_port, MAX_CONCURRENCY)
            proxied = _scan(proxy_port, MAX_CONCURRENCY)
            sequential = _scan(proxy_port, 1) if size == 60 else None
        runs = [r for r in (direct, proxied, sequential) if r is not None]
        calls = proxied["calls"]
        critical = CRITICAL_PATH_CALLS * DELAY_SECONDS
        bound = max(critical, calls / effective * DELAY_SECONDS, direct["wall_seconds"])
        entry: dict[str, Any] = {
            "clusters": proxied["clusters"],
            "findings": proxied["findings"],
            "calls": calls,
            "calls_per_cluster": round(calls / max(1, proxied["clusters"]), 2),
            "direct_wall_seconds": round(direct["wall_seconds"], 3),
            "proxied_wall_seconds": round(proxied["wall_seconds"], 3),
            "critical_path_seconds": round(critical, 3),
            "bound_seconds": round(bound, 3),
            "proxied_over_bound": round(proxied["wall_seconds"] / bound, 2),
            "user_cpu_ms_per_cluster": round(
                proxied["user_cpu_seconds"] * 1000 / max(1, proxied["clusters"]), 2
            ),
            "identical_findings": len({r["findings_sha256"] for r in runs}) == 1
            and all(r["exit_code"] == runs[0]["exit_code"] for r in runs),
        }
        if sequential is not None:
            entry["sequential_wall_seconds"] = round(sequential["wall_seconds"], 3)
            entry["speedup_over_sequential"] = round(sequential["wall_seconds"] / proxied["wall_seconds"], 2)
        report["fleets"][str(size)] = entry
    return report


def latency_targets(report: dict[str, Any]) -> dict[str, bool]:
    fleets = report["fleets"]
    targets: dict[str, bool] = {
        "identical_findings_at_every_concurrency": all(f["identical_findings"] for f in fleets.values())
    }
    if "60" in fleets:
        targets["60_clusters_speedup_ge_8"] = fleets["60"].get("speedup_over_sequential", 0) >= 8
        targets["60_clusters_within_2_5x_of_bound"] = fleets["60"]["proxied_over_bound"] <= 2.5
    if "240" in fleets:
        targets["240_clusters_user_cpu_le_15_ms_per_cluster"] = fleets["240"]["user_cpu_ms_per_cluster"] <= 15
    return targets


# ------------------------------------------------------------------ layer-only import timing


def measure_layer_imports(repeat: int = 5) -> dict[str, Any]:
    """Handler import vs `import boto3` in an x86_64 venv holding only the layer's requirements and its
    sources compiled to unchecked-hash bytecode (the built layer is arm64 and cannot be imported here).

    The venv is cached under the user's cache directory; building it needs the requirements' wheels
    (from pip's cache or an index): when that fails, the scenario is skipped with the reason.
    """
    import shutil
    import statistics

    from eks_auditor_tools.demo.paths import repo_root

    root = repo_root()
    requirements = root / "layers" / "core" / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "eks-auditor-bench"
    venv = cache / f"layer-venv-{digest}"
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        shutil.rmtree(venv, ignore_errors=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *PIP_REQ, str(requirements)],
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            return {"skipped": f"cannot build the layer-only venv offline: {str(detail).strip()[-300:]}"}
        (venv / ".installed").touch()
    with tempfile.TemporaryDirectory() as scratch:
        layer = Path(scratch) / "python"
        shutil.copytree(root / "layers" / "core" / "eks_auditor", layer / "eks_auditor")
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for target in (str(layer), site):
            subprocess.run(
                [str(python), "-m", "compileall", "-q", "-j", "0", *UNCHECKED, target],
                check=True,
                capture_output=True,
            )
        env = {
            **_env(),
            "PYTHONPATH": str(layer),
            "FINDINGS_TABLE": "t",
            "IDEMPOTENCY_TABLE": "i",
            "TOPIC_ARN": f"arn:aws:sns:{REGIONS[0]}:123456789012:t",
            "POWERTOOLS_SERVICE_NAME": "eks-auditor",
            # Tracer on, as deployed (active tracing); no daemon is contacted at import.
            "AWS_XRAY_SDK_ENABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

        def timed(code: str) -> float:
            out = subprocess.run(
                [str(python), "-c", code], env=env, capture_output=True, text=True, check=True
            )
            return float(out.stdout.strip().splitlines()[-1])

        boto3_times = [
            timed("import time; t=time.perf_counter(); import boto3; print(time.perf_counter()-t)")
            for _ in range(repeat)
        ]
        handlers: dict[str, Any] = {}
        for function in ("event_audit", "cluster_worker"):
            path = root / "functions" / function / "app.py"
            code = (
                "import time, importlib.util; t=time.perf_counter(); "
                f"s=importlib.util.spec_from_file_location('app', {str(path)!r}); "
                "m=importlib.util.module_from_spec(s); s.loader.exec_module(m); print(time.perf_counter()-t)"
            )
            times = [timed(code) for _ in range(repeat)]
            handlers[function] = {
                "median_seconds": round(statistics.median(times), 4),
                "ratio_to_boto3": round(statistics.median(times) / statistics.median(boto3_times), 3),
            }
    return {
        "venv": str(venv),
        "import_boto3_median_seconds": round(statistics.median(boto3_times), 4),
        "handlers": handlers,
    }


def main(argv: list[str]) -> int:
    command = argv[0]
    if command == "moto":
        serve_moto(int(argv[1]))
    elif command == "proxy":
        serve_proxy(int(argv[1]), float(argv[2]))
    elif command == "scan":
        run_scan(argv[1], int(argv[2]))
    elif command == "org-moto":
        serve_org_moto(int(argv[1]), int(argv[2]), int(argv[3]))
    elif command == "org-scan":
        run_org_scan(argv[1], int(argv[2]), int(argv[3]))
    elif command == "org-report":
        size = tuple(int(a) for a in argv[1:4]) if len(argv) >= 4 else ORG_SIZE
        report = measure_organization((size[0], size[1], size[2]))
        report["targets"] = organization_targets(report)
        print(json.dumps(report, indent=2))
    elif command == "report":
        sizes = tuple(int(a) for a in argv[1:]) or FLEETS
        report = measure_latency(sizes)
        report["targets"] = latency_targets(report)
        print(json.dumps(report, indent=2))
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
