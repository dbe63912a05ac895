"""`make bench`: API calls, writes, messages and import time, printed as JSON.

Everything runs against the embedded demo account (moto), so the figures are call counts and
ratios, not network latencies. Targets (issue #2): scan calls / minimal-call model <= 1.1, handler
import time / `import boto3` time <= 1.5, an unchanged re-scan sends 0 SNS messages and makes at
most one DynamoDB write per cluster.
"""

from __future__ import annotations

import io
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.client import BaseClient

from eks_auditor_tools.cli.progress import Progress

_WRITES = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:TransactWriteItems",
    "dynamodb:BatchWriteItem",
}
# The calls the collectors make to read AWS (not the table, topic or queues).
_READ_SERVICES = {"eks", "ec2", "autoscaling", "iam"}


def _record_kind(api_params: Any) -> str:
    """What a table write is for: a cluster's records, or an account-region's (its pipeline audit under
    the pseudo-cluster "-", its scan heartbeat), which every scan writes once per account-region."""
    key = api_params.get("Key") or api_params.get("Item") or {}
    pk = str((key.get("pk") or {}).get("S", ""))
    if pk.startswith("HEARTBEAT#") or pk.endswith("#-"):
        return "account_region"
    return "cluster"


class _Calls:
    """Counts every botocore API call in the process, by "service:Operation" (table writes also by what
    they are for)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[_Calls]:
        original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private botocore hook
        calls = self

        def counting(client: BaseClient, operation_name: str, api_params: Any) -> Any:
            name = f"{client.meta.service_model.endpoint_prefix}:{operation_name}"
            with calls._lock:
                calls.counts[name] += 1
                if name in _WRITES and isinstance(api_params, dict):
                    calls.counts[f"writes:{_record_kind(api_params)}"] += 1
            return original(client, operation_name, api_params)

        setattr(BaseClient, "_make_api_call", counting)  # noqa: B010
        try:
            yield self
        finally:
            setattr(BaseClient, "_make_api_call", original)  # noqa: B010

    def reset(self) -> Counter[str]:
        with self._lock:
            snapshot = Counter(self.counts)
            self.counts.clear()
        return snapshot


def _reads(counts: Counter[str]) -> dict[str, int]:
    return {k: v for k, v in sorted(counts.items()) if k.split(":")[0] in _READ_SERVICES}


def _writes(counts: Counter[str]) -> int:
    return sum(v for k, v in counts.items() if k in _WRITES)


def _published(counts: Counter[str]) -> int:
    return counts.get("sns:Publish", 0)


def measure_scans() -> dict[str, Any]:
    from eks_auditor_tools.demo import run as demo_run
    from eks_auditor_tools.demo.lambdas import LogSink, invoke

    result: dict[str, Any] = {}
    calls = _Calls()
    with demo_run.embedded_account() as (session, fleet, account), calls.installed():
        demo = demo_run.Demo(session, fleet, account, io.StringIO(), LogSink())
        eks = account.client("eks")
        clusters = eks.list_clusters()["clusters"]
        vpcs = {eks.describe_cluster(name=c)["cluster"]["resourcesVpcConfig"]["vpcId"] for c in clusters}
        nodegroups = sum(len(eks.list_nodegroups(clusterName=c)["nodegroups"]) for c in clusters)
        types = {
            t
            for c in clusters
            for ng in eks.list_nodegroups(clusterName=c)["nodegroups"]
            for t in eks.describe_nodegroup(clusterName=c, nodegroupName=ng)["nodegroup"].get(
                "instanceTypes", []
            )
        }
        regions = 1
        calls.reset()

        # A full scan: the schedule's fan-out plus the worker, as deployed.
        invoke(
            "schedule",
            demo.sample("scheduled.json"),
            account=account.account,
            region=account.region,
            logs=demo.logs,
        )
        demo.drain("AuditQueue")
        first = calls.reset()
        reads = _reads(first)
        minimal_foundation = len(clusters) + 4 * len(vpcs) + regions
        foundation_ops = {"eks:ListClusters", "eks:DescribeCluster"} | {
            f"ec2:{op}"
            for op in (
                "DescribeSubnets",
                "DescribeRouteTables",
                "DescribeNatGateways",
                "DescribeVpcEndpoints",
            )
        }
        foundation_calls = sum(v for k, v in reads.items() if k in foundation_ops)
        # Node groups, instance types, OIDC providers and version support add their own minimum:
        # ListNodegroups per cluster, DescribeNodegroup per node group, one DescribeAutoScalingGroups
        # per cluster (self-managed groups), ceil(types/100) DescribeInstanceTypes per region, one
        # ListOpenIDConnectProviders and one DescribeClusterVersions per scan.
        minimal_full = (
            minimal_foundation
            + len(clusters)
            + nodegroups
            + len(clusters)
            + math.ceil(len(types) / 100) * regions
            + 1
            + regions
        )
        result["full_scan"] = {
            "clusters": len(clusters),
            "vpcs": len(vpcs),
            "nodegroups": nodegroups,
            "distinct_instance_types": len(types),
            "aws_read_calls": reads,
            "foundation_calls": foundation_calls,
            "foundation_minimal_model": minimal_foundation,
            "foundation_ratio": round(foundation_calls / minimal_foundation, 3),
            "all_read_calls": sum(reads.values()),
            "full_minimal_model": minimal_full,
            "full_ratio": round(sum(reads.values()) / minimal_full, 3),
            "describe_instance_types_calls": reads.get("ec2:DescribeInstanceTypes", 0),
            "describe_instance_types_target": math.ceil(len(types) / 100) * regions,
            "dynamodb_writes": _writes(first),
            "sns_messages": _published(first),
        }

        invoke(
            "schedule",
            demo.sample("scheduled.json"),
            account=account.account,
            region=account.region,
            logs=demo.logs,
        )
        demo.drain("AuditQueue")
        second = calls.reset()
        result["unchanged_rescan"] = {
            "dynamodb_writes": _writes(second),
            # A cluster's unchanged re-audit writes its AUDIT record once; each account-region adds its
            # pipeline audit ("-") and its scan heartbeat, whatever its number of clusters.
            "dynamodb_writes_per_cluster": round(second["writes:cluster"] / len(clusters), 3),
            "account_region_writes": second["writes:account_region"],
            "account_regions": regions,
            "sns_messages": _published(second),
            "dynamodb_calls": {k: v for k, v in sorted(second.items()) if k.startswith("dynamodb:")},
        }
        demo.account.slack_messages()
        demo.account.slack_messages(account.security_queue)

        targeted: dict[str, Any] = {}
        samples = {
            "UpdateClusterConfig": (
                "eks-update-cluster-config-public-cidrs.json",
                {"demo-public": "prod-web"},
            ),
            "CreateNodegroup": ("eks-create-nodegroup.json", {"demo-spot": "batch"}),
            "DeleteVpcEndpoints": (
                "ec2-delete-vpc-endpoints.json",
                {
                    "vpce-0a11b22c33d44e55f": fleet.endpoints["sts"],
                    "vpce-0f66e77d88c99b00a": fleet.endpoints["sts"],
                },
            ),
            "DeleteRoute": (
                "ec2-delete-route.json",
                {"rtb-0c3d4e5f60718293a": fleet.route_tables["isolated-b"]},
            ),
            "CreateSubnet": ("ec2-create-subnet.json", {"vpc-0d1e2f3a4b5c6d7e8": fleet.vpcs["shared"]}),
        }
        for name, (sample, replacements) in samples.items():
            event = demo.sample(sample, replacements)
            demo.route(event)
            calls.reset()
            started = time.perf_counter()
            demo.drain("EventsQueue")
            elapsed = time.perf_counter() - started
            counts = calls.reset()
            targeted[name] = {
                "aws_read_calls": sum(_reads(counts).values()),
                "calls": _reads(counts),
                "dynamodb_calls": sum(v for k, v in counts.items() if k.startswith("dynamodb:")),
                "in_process_seconds": round(elapsed, 3),
            }
        result["targeted_reaudit"] = targeted

        result["spot"] = _measure_spot(demo, fleet, calls)
    return result


def _measure_spot(demo: Any, fleet: Any, calls: _Calls) -> dict[str, Any]:
    from eks_auditor_tools.demo.lambdas import invoke, sqs_event

    instance = fleet.instances["spot-0"]
    event = demo.sample("spot-interruption-warning.json", {"i-0123456789abcdef0": instance})
    event["id"] = "bench-spot-single"
    message = {"MessageId": "bench-1", "ReceiptHandle": "r", "Body": json.dumps(event)}
    calls.reset()
    started = time.perf_counter()
    invoke(
        "spot_events",
        sqs_event([message], demo.account.queue_arn("SpotQueue")),
        account="123456789012",
        region="us-east-1",
        logs=demo.logs,
    )
    single_seconds = time.perf_counter() - started
    single = calls.reset()

    batch = []
    instances = list(fleet.instances.values())
    for index in range(10):
        item = demo.sample(
            "spot-interruption-warning.json", {"i-0123456789abcdef0": instances[index % len(instances)]}
        )
        item["id"] = f"bench-spot-batch-{index}"
        batch.append({"MessageId": f"b{index}", "ReceiptHandle": "r", "Body": json.dumps(item)})
    started = time.perf_counter()
    invoke(
        "spot_events",
        sqs_event(batch, demo.account.queue_arn("SpotQueue")),
        account="123456789012",
        region="us-east-1",
        logs=demo.logs,
    )
    batch_seconds = time.perf_counter() - started
    counted = calls.reset()
    return {
        "single_event": {
            "calls": dict(sorted(single.items())),
            "sns_messages": _published(single),
            "in_process_seconds_to_publish": round(single_seconds, 3),
        },
        "batch_of_10": {
            "describe_instances_calls": counted.get("ec2:DescribeInstances", 0),
            "describe_instances_target": 1,
            "calls": dict(sorted(counted.items())),
            "in_process_seconds": round(batch_seconds, 3),
        },
    }


# The CloudTrail calls of the load: EKS calls that each name one cluster (the sample's shape).
_LOAD_CALLS = (
    "UpdateClusterConfig",
    "CreateNodegroup",
    "UpdateNodegroupConfig",
    "AssociateAccessPolicy",
    "CreateAccessEntry",
    "UpdateClusterVersion",
    "CreateAddon",
)


def _load_stream(count: int, clusters: list[str], seed: int) -> list[dict[str, Any]]:
    """`count` CloudTrail events over `clusters`, in bursts (a deploy touches one cluster several times)."""
    import random

    from eks_auditor.triggers import EKS_EVENT_CHECKS

    from eks_auditor_tools.demo.paths import repo_root

    template = json.loads(
        (repo_root() / "events" / "eks-update-cluster-config-public-cidrs.json").read_text()
    )
    calls = [c for c in _LOAD_CALLS if c in EKS_EVENT_CHECKS] or sorted(EKS_EVENT_CHECKS)
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    while len(events) < count:
        cluster = rng.choice(clusters)
        for _ in range(min(rng.randint(1, 6), count - len(events))):
            event = json.loads(json.dumps(template))
            event["id"] = f"load-{len(events):05d}"
            event["detail"]["eventName"] = rng.choice(calls)
            event["detail"]["requestParameters"] = {"name": cluster}
            events.append(event)
    return events


def measure_event_load(events: int = 5000, clusters: int = 20, batch_size: int = 10, seed: int = 14) -> dict:
    """`events` CloudTrail events over `clusters` clusters through the event_audit handler, in SQS batches
    of `batch_size`: AWS calls per event, audits per event, and how much coalescing saved (an audit per
    event and cluster without it). `reaudits_in_batch` counts audits of a cluster already audited in the
    same batch (33.8% of audits before coalescing; 0 is the target)."""
    from moto.eks.models import eks_backends

    from eks_auditor_tools.demo import run as demo_run
    from eks_auditor_tools.demo.fleet import ACCOUNT, CLUSTER_ROLE
    from eks_auditor_tools.demo.lambdas import LogSink, invoke, load_handler, sqs_event

    calls = _Calls()
    with demo_run.embedded_account() as (_session, fleet, account), calls.installed():
        eks = account.client("eks")
        names = sorted(eks.list_clusters()["clusters"])
        model = eks.describe_cluster(name=names[0])["cluster"]
        backend = eks_backends[ACCOUNT][account.region]
        served = backend.clusters[names[0]]
        for index in range(clusters - len(names)):
            name = f"load-{index:02d}"
            fleet.create_cluster(
                name,
                model["resourcesVpcConfig"]["subnetIds"],
                role_arn=CLUSTER_ROLE,
                cluster_security_group=False,
            )
            # The extra clusters answer on a served demo API (never an unserved, network address); it
            # rejects their tokens (another cluster's name), so their Kubernetes checks are incomplete.
            backend.clusters[name].endpoint = served.endpoint
            backend.clusters[name].certificate_authority = served.certificate_authority
            setattr(backend.clusters[name], "access_config", {"authenticationMode": "CONFIG_MAP"})  # noqa: B010
            names.append(name)
        stream = _load_stream(events, names[:clusters], seed)

        logs = LogSink()
        with logs.capture():  # Powertools binds its log stream to stdout at import
            handler = load_handler("event_audit")
        audited: list[tuple[int, str]] = []
        auditor = handler.runtime.auditor
        original = auditor.audit

        def counted(region: str, cluster: str, **kwargs: Any) -> Any:
            audited.append((batch_number, cluster))
            return original(region, cluster, **kwargs)

        auditor.audit = counted
        requested = failed = 0
        calls.reset()
        started = time.perf_counter()
        try:
            for batch_number, start in enumerate(range(0, len(stream), batch_size)):
                chunk = stream[start : start + batch_size]
                messages = [
                    {"MessageId": e["id"], "ReceiptHandle": "r", "Body": json.dumps(e)} for e in chunk
                ]
                response = invoke(
                    "event_audit",
                    sqs_event(messages, account.queue_arn("EventsQueue")),
                    account=account.account,
                    region=account.region,
                    logs=logs,
                )
                failed += len(response["batchItemFailures"])
                requested += len(
                    {(batch_number, e["detail"]["requestParameters"]["name"], e["id"]) for e in chunk}
                )
        finally:
            auditor.audit = original
        elapsed = time.perf_counter() - started
        counts = calls.reset()
        failed_by_code = Counter(str(r.get("error_code")) for r in logs.error_records() if "message_id" in r)
    audits = len(audited)
    distinct = len(set(audited))
    return {
        "events": len(stream),
        "clusters": clusters,
        "batch_size": batch_size,
        "batches": math.ceil(len(stream) / batch_size),
        "failed_records": failed,
        "failed_records_by_code": dict(failed_by_code.most_common()),
        "aws_calls": sum(counts.values()),
        "aws_calls_per_event": round(sum(counts.values()) / len(stream), 3),
        "aws_read_calls_per_event": round(sum(_reads(counts).values()) / len(stream), 3),
        "dynamodb_calls_per_event": round(
            sum(v for k, v in counts.items() if k.startswith("dynamodb:")) / len(stream), 3
        ),
        "audits": audits,
        "audits_per_event": round(audits / len(stream), 4),
        # Without coalescing every event audits its cluster: requested / performed.
        "coalescing_ratio": round(requested / audits, 3) if audits else None,
        "reaudits_in_batch": audits - distinct,
        "reaudit_share": round((audits - distinct) / audits, 4) if audits else 0.0,
        "in_process_seconds": round(elapsed, 1),
    }


def measure_imports(repeat: int = 5) -> dict[str, Any]:
    """Cold import of each handler module vs `import boto3`, each in a fresh interpreter, medians."""
    from eks_auditor_tools.demo.paths import repo_root

    root = repo_root()
    env = {
        **os.environ,
        "FINDINGS_TABLE": "t",
        "IDEMPOTENCY_TABLE": "i",
        "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    boto3_code = "import time; t=time.perf_counter(); import boto3; print(time.perf_counter()-t)"

    def timed(code: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return float(out.stdout.strip().splitlines()[-1])

    boto3_times = [timed(boto3_code) for _ in range(repeat)]
    handlers: dict[str, Any] = {}
    for function in ("event_audit", "cluster_worker", "schedule", "spot_events", "query_api"):
        path = root / "functions" / function / "app.py"
        if not path.exists():
            continue
        code = (
            "import time, importlib.util; t=time.perf_counter(); "
            f"s=importlib.util.spec_from_file_location('app', {str(path)!r}); "
            "m=importlib.util.module_from_spec(s); "
            "s.loader.exec_module(m); print(time.perf_counter()-t)"
        )
        times = [timed(code) for _ in range(repeat)]
        handlers[function] = {
            "median_seconds": round(statistics.median(times), 4),
            "ratio_to_boto3": round(statistics.median(times) / statistics.median(boto3_times), 3),
        }
    return {"import_boto3_median_seconds": round(statistics.median(boto3_times), 4), "handlers": handlers}


# Issue 14's load: 5,000 CloudTrail events over 20 clusters (`make bench`); smaller with --load-events.
LOAD_EVENTS = 5000
LOAD_CLUSTERS = 20


def arguments(argv: list[str] | None = None) -> Any:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m eks_auditor_tools.bench", description=__doc__)
    parser.add_argument(
        "--load-events",
        type=int,
        default=int(os.environ.get("EKS_AUDITOR_BENCH_LOAD_EVENTS", LOAD_EVENTS)),
        help=f"CloudTrail events of the event_audit load scenario (default {LOAD_EVENTS})",
    )
    parser.add_argument(
        "--load-clusters",
        type=int,
        default=LOAD_CLUSTERS,
        help=f"clusters the load's events touch (default {LOAD_CLUSTERS})",
    )
    parser.add_argument(
        "--only",
        choices=["event_load"],
        help="run one scenario only and print its figures (no targets)",
    )
    options = parser.parse_args(argv)
    if options.load_events < 1 or options.load_clusters < 1:
        parser.error("--load-events and --load-clusters must be at least 1")
    return options


def run_scenarios(
    scenarios: Mapping[str, Callable[[], dict[str, Any]]], progress: Progress
) -> dict[str, Any]:
    """Each scenario's figures, in order. Several minutes in all: on a terminal, stderr says which
    scenario runs and for how long the bench has run (stdout stays the JSON)."""
    started = time.perf_counter()
    report: dict[str, Any] = {}
    for number, (name, measure) in enumerate(scenarios.items(), start=1):
        elapsed = time.perf_counter() - started
        progress.status(f"{name} ({number} of {len(scenarios)}; {elapsed:.0f}s so far)")
        report[name] = measure()
    progress.clear()
    return report


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    # Handlers flush EMF metrics even when an invocation recorded none; that is not news here.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    started = time.perf_counter()
    if options.only == "event_load":
        load = measure_event_load(events=options.load_events, clusters=options.load_clusters)
        print(json.dumps({"event_load": load, "seconds": round(time.perf_counter() - started, 1)}, indent=2))
        return 0
    from eks_auditor_tools.bench_latency import (
        latency_targets,
        measure_latency,
        measure_layer_imports,
        measure_organization,
        organization_targets,
    )

    scenarios: dict[str, Callable[[], dict[str, Any]]] = {
        "scans": measure_scans,
        "imports": measure_imports,
        "layer_imports": measure_layer_imports,
        "latency": measure_latency,
        "organization": measure_organization,
        "event_load": lambda: measure_event_load(events=options.load_events, clusters=options.load_clusters),
    }
    report = run_scenarios(scenarios, Progress("bench"))
    scans = report["scans"]
    rescan = scans["unchanged_rescan"]
    report["targets"] = {
        "foundation_ratio_le_1_1": scans["full_scan"]["foundation_ratio"] <= 1.1,
        "import_ratio_le_1_5": all(
            h["ratio_to_boto3"] <= 1.5 for h in report["imports"]["handlers"].values()
        ),
        "unchanged_rescan_zero_sns": rescan["sns_messages"] == 0,
        "unchanged_rescan_le_one_write_per_cluster": rescan["dynamodb_writes_per_cluster"] <= 1,
        "unchanged_rescan_le_two_writes_per_account_region": rescan["account_region_writes"]
        <= 2 * rescan["account_regions"],
        "describe_instance_types_ceil_types_over_100": scans["full_scan"]["describe_instance_types_calls"]
        <= scans["full_scan"]["describe_instance_types_target"],
        "spot_one_describe_instances_per_batch": scans["spot"]["batch_of_10"]["describe_instances_calls"]
        == 1,
        "event_load_no_reaudit_in_batch": report["event_load"]["reaudits_in_batch"] == 0,
        "event_load_no_failed_record": report["event_load"]["failed_records"] == 0,
        **latency_targets(report["latency"]),
        **organization_targets(report["organization"]),
    }
    layer = report["layer_imports"]
    if "handlers" in layer:
        # Issue 12: handler import <= 1.5x `import boto3` in the layer-only venv (compiled sources).
        report["targets"]["layer_import_ratio_le_1_5"] = all(
            h["ratio_to_boto3"] <= 1.5 for h in layer["handlers"].values()
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
