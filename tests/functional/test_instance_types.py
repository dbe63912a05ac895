"""DescribeInstanceTypes collection (moto and botocore Stubber) and `eks-auditor max-pods` under moto.

moto ships EC2's instance type data (NetworkInfo with network cards, vCPUs, hypervisor); the expected
max-pods figures are the rows of aws/amazon-vpc-cni-k8s misc/eni-max-pods.txt.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from eks_auditor.capacity.max_pods import compute_max_pods
from eks_auditor.collect import instance_types
from eks_auditor.collect.instance_types import clear_cache, describe_instance_types, parse_instance_type
from moto import mock_aws
from moto.ec2.models.instance_types import INSTANCE_TYPES as MOTO_INSTANCE_TYPES

from eks_auditor_tools.cli import max_pods as max_pods_cli
from eks_auditor_tools.cli.main import build_parser

ENI_MAX_PODS_ROWS = {
    "t2.micro": 4,
    "t3.nano": 4,
    "t3.small": 11,
    "t3.medium": 17,
    "m3.medium": 12,
    "m4.large": 20,
    "m5.large": 29,
    "m5.xlarge": 58,
    "c5.xlarge": 58,
    "m5.4xlarge": 234,
    "c5.9xlarge": 234,
    "c5.18xlarge": 737,
    "m5.metal": 737,
    "c6g.8xlarge": 234,
    "p5.48xlarge": 100,
}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def ec2(aws: None) -> Any:
    return boto3.client("ec2", region_name="us-east-1")


def count_calls(client: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    client.meta.events.register("before-parameter-build.ec2.DescribeInstanceTypes", record)
    return calls


def test_formula_reproduces_the_official_table_from_moto_data(ec2: Any) -> None:
    infos = describe_instance_types(ec2, "us-east-1", ENI_MAX_PODS_ROWS)
    assert sorted(infos) == sorted(ENI_MAX_PODS_ROWS)
    assert {name: compute_max_pods(info).raw for name, info in infos.items()} == ENI_MAX_PODS_ROWS


def test_parsed_facts(ec2: Any) -> None:
    infos = describe_instance_types(ec2, "us-east-1", ["m5.large", "m4.large", "m5.metal", "p5.48xlarge"])
    assert infos["m5.large"].model_dump() == {
        "name": "m5.large",
        "vcpus": 2,
        "hypervisor": "nitro",
        "bare_metal": False,
        "max_enis": 3,
        "ipv4_per_eni": 10,
        "ipv6_supported": True,
    }
    assert (infos["m4.large"].hypervisor, infos["m4.large"].nitro) == ("xen", False)
    assert (infos["m5.metal"].hypervisor, infos["m5.metal"].bare_metal, infos["m5.metal"].nitro) == (
        None,
        True,
        True,
    )
    # 64 ENIs across 32 network cards; the CNI uses the default card's 2.
    assert infos["p5.48xlarge"].max_enis == 2


def test_the_cli_examples_results(ec2: Any) -> None:
    infos = describe_instance_types(ec2, "us-east-1", ["m5.large", "t3.medium", "m4.large", "c5.18xlarge"])
    assert compute_max_pods(infos["m5.large"]).max_pods == 29
    assert compute_max_pods(infos["t3.medium"]).max_pods == 17
    assert compute_max_pods(infos["m5.large"], prefix_delegation=True).max_pods == 110
    assert compute_max_pods(infos["m4.large"], prefix_delegation=True).mode == "secondary-ip"
    assert (compute_max_pods(infos["c5.18xlarge"]).raw, compute_max_pods(infos["c5.18xlarge"]).max_pods) == (
        737,
        250,
    )


def test_parse_without_network_cards_uses_the_instance_limit() -> None:
    # The aws-cli describe-instance-types example (t2.micro) has no NetworkCards list.
    raw = {
        "InstanceType": "t2.micro",
        "BareMetal": False,
        "Hypervisor": "xen",
        "VCpuInfo": {"DefaultVCpus": 1, "DefaultCores": 1, "DefaultThreadsPerCore": 1},
        "NetworkInfo": {
            "NetworkPerformance": "Low to Moderate",
            "MaximumNetworkInterfaces": 2,
            "Ipv4AddressesPerInterface": 2,
            "Ipv6AddressesPerInterface": 2,
            "Ipv6Supported": True,
            "EnaSupport": "unsupported",
        },
    }
    info = parse_instance_type(raw)
    assert info is not None
    assert (info.vcpus, info.max_enis, info.ipv4_per_eni, info.nitro) == (1, 2, 2, False)
    assert compute_max_pods(info).raw == 4
    assert parse_instance_type({"InstanceType": "x.none", "NetworkInfo": {}}) is None


def test_one_call_per_100_distinct_types_and_cached_on_the_second_call(ec2: Any) -> None:
    names = sorted(MOTO_INSTANCE_TYPES)[:250]
    calls = count_calls(ec2)
    first = describe_instance_types(ec2, "us-east-1", names + names[:10])  # duplicates are one type
    assert len(first) == 250
    assert len(calls) == math.ceil(250 / 100) == 3
    assert [len(c["InstanceTypes"]) for c in calls] == [100, 100, 50]
    assert instance_types.api_calls() == 3

    again = describe_instance_types(ec2, "us-east-1", reversed(names))
    assert again == first
    assert len(calls) == 3  # the cache answers, as for the next cluster or the next warm invocation


def test_cache_is_per_region_and_asks_only_for_new_types(ec2: Any) -> None:
    calls = count_calls(ec2)
    describe_instance_types(ec2, "us-east-1", ["m5.large", "t3.medium"])
    describe_instance_types(ec2, "us-east-1", ["m5.large", "c5.xlarge"])
    with mock_aws():
        west = boto3.client("ec2", region_name="eu-west-1")
        west_calls = count_calls(west)
        describe_instance_types(west, "eu-west-1", ["m5.large"])
    assert [sorted(c["InstanceTypes"]) for c in calls] == [["m5.large", "t3.medium"], ["c5.xlarge"]]
    assert [c["InstanceTypes"] for c in west_calls] == [["m5.large"]]


def test_unknown_types_are_dropped_and_remembered(ec2: Any) -> None:
    calls = count_calls(ec2)
    infos = describe_instance_types(ec2, "us-east-1", ["m5.large", "x9.huge", "t3.medium"])
    assert sorted(infos) == ["m5.large", "t3.medium"]
    # The request naming x9.huge fails as a whole; it is repeated without it.
    assert [sorted(c["InstanceTypes"]) for c in calls] == [
        ["m5.large", "t3.medium", "x9.huge"],
        ["m5.large", "t3.medium"],
    ]
    assert describe_instance_types(ec2, "us-east-1", ["x9.huge"]) == {}
    assert len(calls) == 2


def _stubbed() -> tuple[Any, Stubber]:
    client = boto3.client("ec2", region_name="us-east-1")
    return client, Stubber(client)


def _entry(name: str, enis: int, ips: int, vcpus: int = 2) -> dict[str, Any]:
    return {
        "InstanceType": name,
        "Hypervisor": "nitro",
        "BareMetal": False,
        "VCpuInfo": {"DefaultVCpus": vcpus},
        "NetworkInfo": {
            "MaximumNetworkInterfaces": enis,
            "DefaultNetworkCardIndex": 0,
            "NetworkCards": [{"NetworkCardIndex": 0, "MaximumNetworkInterfaces": enis}],
            "Ipv4AddressesPerInterface": ips,
            "Ipv6Supported": True,
        },
    }


def test_next_token_pages_are_followed() -> None:
    client, stubber = _stubbed()
    stubber.add_response(
        "describe_instance_types",
        {"InstanceTypes": [_entry("m5.large", 3, 10)], "NextToken": "page-2"},
        {"InstanceTypes": ["m5.large", "t3.medium"]},
    )
    stubber.add_response(
        "describe_instance_types",
        {"InstanceTypes": [_entry("t3.medium", 3, 6)]},
        {"InstanceTypes": ["m5.large", "t3.medium"], "NextToken": "page-2"},
    )
    with stubber:
        infos = describe_instance_types(client, "us-east-1", ["t3.medium", "m5.large"])
    stubber.assert_no_pending_responses()
    assert {n: compute_max_pods(i).max_pods for n, i in infos.items()} == {"m5.large": 29, "t3.medium": 17}


def test_real_aws_invalid_instance_type_message_is_understood() -> None:
    client, stubber = _stubbed()
    stubber.add_client_error(
        "describe_instance_types",
        service_error_code="InvalidInstanceType",
        service_message="The following supplied instance types do not exist: [i8ge.xlarge, x9.huge]",
        http_status_code=400,
        expected_params={"InstanceTypes": ["i8ge.xlarge", "m5.large", "x9.huge"]},
    )
    stubber.add_response(
        "describe_instance_types",
        {"InstanceTypes": [_entry("m5.large", 3, 10)]},
        {"InstanceTypes": ["m5.large"]},
    )
    with stubber:
        infos = describe_instance_types(client, "us-east-1", ["x9.huge", "m5.large", "i8ge.xlarge"])
    assert list(infos) == ["m5.large"]


def test_access_denied_propagates_and_caches_nothing() -> None:
    client, stubber = _stubbed()
    stubber.add_client_error(
        "describe_instance_types", service_error_code="UnauthorizedOperation", http_status_code=403
    )
    stubber.add_response(
        "describe_instance_types",
        {"InstanceTypes": [_entry("m5.large", 3, 10)]},
        {"InstanceTypes": ["m5.large"]},
    )
    with stubber:
        with pytest.raises(ClientError):
            describe_instance_types(client, "us-east-1", ["m5.large"])
        assert list(describe_instance_types(client, "us-east-1", ["m5.large"])) == ["m5.large"]


def test_unparseable_invalid_instance_type_error_propagates() -> None:
    client, stubber = _stubbed()
    stubber.add_client_error(
        "describe_instance_types", service_error_code="InvalidInstanceType", service_message="bad request"
    )
    with stubber, pytest.raises(ClientError):
        describe_instance_types(client, "us-east-1", ["m5.large"])


# --- eks-auditor max-pods -------------------------------------------------------------------------------


def run_cli(*argv: str) -> tuple[int, str, str]:
    # The real parser: --region and --output are global options (accepted before or after max-pods).
    args = build_parser().parse_args(["max-pods", *argv])
    out, err = io.StringIO(), io.StringIO()
    with mock_aws():
        code = max_pods_cli.run(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_prints_29_and_17() -> None:
    code, out, err = run_cli("m5.large", "t3.medium")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "type       vCPUs  ENIs  IPv4/ENI  Nitro  mode          max pods  raw (uncapped)",
        "m5.large   2      3     10        yes    secondary-ip  29        29",
        "t3.medium  2      3     6         yes    secondary-ip  17        17",
    ]


def test_cli_prefix_delegation_prints_110_and_raw_434() -> None:
    code, out, _ = run_cli("m5.large", "--prefix-delegation")
    assert code == 0
    assert out.splitlines()[1] == "m5.large  2      3     10        yes    prefix-delegation  110       434"


def test_cli_json_custom_networking_and_xen_note() -> None:
    code, out, err = run_cli("m4.large", "--prefix-delegation", "--custom-networking", "--output", "json")
    assert code == 0
    [row] = json.loads(out)
    assert {k: row[k] for k in ("instance_type", "mode", "pod_enis", "raw", "max_pods", "nitro")} == {
        "instance_type": "m4.large",
        "mode": "secondary-ip",
        "pod_enis": 1,
        "raw": 11,
        "max_pods": 11,
        "nitro": False,
    }
    assert err == (
        "note: prefix delegation needs a Nitro instance type; m4.large runs on xen, so the secondary-IP "
        "figure applies\n"
    )


def test_cli_unknown_type_exits_1_after_printing_the_known_ones() -> None:
    code, out, err = run_cli("x9.huge", "c5.18xlarge", "--region", "eu-west-1")
    assert code == 1
    assert out.splitlines()[1] == "c5.18xlarge  72     15    50        yes    secondary-ip  250       737"
    assert err == "eks-auditor max-pods: unknown instance type(s) in eu-west-1: x9.huge\n"
