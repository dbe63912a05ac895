"""`eks-auditor max-pods TYPE...`: VPC CNI max pods per instance type, from DescribeInstanceTypes."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from eks_auditor.capacity.max_pods import MaxPods, compute_max_pods

from eks_auditor_tools.cli import aws

_COLUMNS = ("type", "vCPUs", "ENIs", "IPv4/ENI", "Nitro", "mode", "max pods", "raw (uncapped)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "max-pods",
        help="max pods per instance type under the VPC CNI (from ec2:DescribeInstanceTypes)",
        description=(
            "Max pods per node under the Amazon VPC CNI, by the EKS AMI max-pods calculator's rules: "
            "ENIs x (IPv4 per ENI - 1) + 2, x16 per slot with prefix delegation (Nitro only), one ENI fewer "
            "with custom networking, capped at 110 (30 vCPUs or fewer) or 250."
        ),
    )
    parser.add_argument("types", nargs="+", metavar="TYPE", help="instance types, e.g. m5.large t3.medium")
    parser.add_argument("--prefix-delegation", action="store_true", help="ENABLE_PREFIX_DELEGATION=true")
    parser.add_argument(
        "--custom-networking", action="store_true", help="AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the figures; exit 1 when a type is unknown in the region, 2 when the API call fails."""
    from botocore.exceptions import BotoCoreError, ClientError
    from eks_auditor.collect.instance_types import describe_instance_types

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        region = aws.resolve_region(args)
    except aws.CliError as error:
        print(f"eks-auditor max-pods: {error}", file=err)
        return error.code
    requested = list(dict.fromkeys(args.types))
    try:
        infos = describe_instance_types(aws.session(args, region).client("ec2"), region, requested)
    except (ClientError, BotoCoreError) as error:
        described = aws.describe(error, args)
        print(f"eks-auditor max-pods: {described or error}", file=err)
        return 2
    results = [
        compute_max_pods(
            infos[name], prefix_delegation=args.prefix_delegation, custom_networking=args.custom_networking
        )
        for name in requested
        if name in infos
    ]
    unknown = [name for name in requested if name not in infos]
    if args.output == "json":
        json.dump([_as_json(r) for r in results], out, indent=2)
        out.write("\n")
    elif args.output == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_COLUMNS)
        writer.writerows(_cells(r) for r in results)
    else:
        _print_table(results, out)
    for result in results:
        for note in result.notes:
            print(f"note: {note}", file=err)
    if unknown:
        print(f"eks-auditor max-pods: unknown instance type(s) in {region}: {', '.join(unknown)}", file=err)
        return 1
    return 0


def _as_json(result: MaxPods) -> dict[str, Any]:
    data = result.model_dump()
    data["limited_by_ceiling"] = result.limited_by_ceiling
    return data


def _cells(r: MaxPods) -> tuple[str, ...]:
    return (
        r.instance_type,
        str(r.vcpus),
        str(r.pod_enis) if r.pod_enis == r.max_enis else f"{r.pod_enis}/{r.max_enis}",
        str(r.ipv4_per_eni),
        "yes" if r.nitro else "no",
        r.mode,
        str(r.max_pods),
        str(r.raw),
    )


def _print_table(results: Sequence[MaxPods], out: TextIO) -> None:
    rows = [_cells(r) for r in results]
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(_COLUMNS)]
    for row in (_COLUMNS, *rows):
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
        )
