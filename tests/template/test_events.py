"""The sample events are real-shaped: EventBridge envelopes the handlers' parsers accept, CloudTrail
records as CloudTrail writes them, and the scheduler payload exactly what the template's Input renders."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from template_helpers import EVENTS, load_event, sam_functions

ACCOUNT = "123456789012"
REGION = "us-east-1"
SAMPLES = sorted(p.name for p in EVENTS.glob("*.json"))
CLOUDTRAIL = [s for s in SAMPLES if load_event(s)["detail-type"] == "AWS API Call via CloudTrail"]
SPOT = ["spot-interruption-warning.json", "spot-rebalance-recommendation.json"]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RESOURCE_ID = re.compile(r"^(vpc|subnet|rtb|vpce|sg|eni|i)-[0-9a-f]{17}$")


def test_the_samples_the_brief_names_exist() -> None:
    required = {
        "eks-update-cluster-config-public-cidrs.json",
        "eks-create-cluster.json",
        "eks-delete-cluster.json",
        "eks-create-nodegroup.json",
        "eks-associate-access-policy.json",
        "ec2-delete-vpc-endpoints.json",
        "ec2-create-vpc-endpoint.json",
        "ec2-delete-route.json",
        "ec2-create-subnet.json",
        "eks-update-cluster-config-error.json",
        "spot-interruption-warning.json",
        "spot-rebalance-recommendation.json",
        "scheduled.json",
    }
    assert required <= set(SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES)
def test_envelope_is_what_eventbridge_delivers(sample: str) -> None:
    raw = load_event(sample)
    assert set(raw) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    model = EventBridgeModel.model_validate(raw)
    assert model.version == "0"
    assert model.account == ACCOUNT
    assert model.region == REGION
    assert model.time.tzinfo is not None
    assert datetime(2024, 1, 1, tzinfo=UTC) < model.time < datetime(2030, 1, 1, tzinfo=UTC)
    assert raw["time"].endswith("Z")
    if sample != "scheduled.json":
        assert UUID.match(model.id), model.id


@pytest.mark.parametrize("sample", CLOUDTRAIL)
def test_cloudtrail_detail_is_a_cloudtrail_record(sample: str) -> None:
    event = load_event(sample)
    detail = event["detail"]
    service = event["source"].removeprefix("aws.")
    assert detail["eventSource"] == f"{service}.amazonaws.com"
    assert detail["eventType"] == "AwsApiCall"
    assert detail["recipientAccountId"] == event["account"]
    assert detail["awsRegion"] == event["region"]
    assert detail["eventTime"] == event["time"]
    assert UUID.match(detail["eventID"]) and UUID.match(detail["requestID"])
    assert event["resources"] == []  # CloudTrail events carry their resources in the record
    if "errorCode" in detail:
        assert detail["responseElements"] is None


def test_the_error_sample_is_a_failed_call_of_the_same_kind() -> None:
    ok = load_event("eks-update-cluster-config-public-cidrs.json")["detail"]
    failed = load_event("eks-update-cluster-config-error.json")["detail"]
    assert failed["eventName"] == ok["eventName"] == "UpdateClusterConfig"
    assert failed["errorCode"] == "AccessDeniedException"
    assert "errorCode" not in ok


def test_public_cidrs_sample_opens_the_endpoint_to_the_internet() -> None:
    request = load_event("eks-update-cluster-config-public-cidrs.json")["detail"]["requestParameters"]
    assert request["name"] == "demo-public"
    assert request["resourcesVpcConfig"] == {
        "endpointPublicAccess": True,
        "endpointPrivateAccess": False,
        "publicAccessCidrs": ["0.0.0.0/0"],
    }


def test_eks_calls_name_the_cluster_where_the_api_puts_it() -> None:
    # REST calls record URI parameters by their wire name: the cluster is "name" in every call.
    names = {
        s: load_event(s)["detail"]["requestParameters"]["name"] for s in CLOUDTRAIL if s.startswith("eks-")
    }
    assert names == {
        "eks-associate-access-policy.json": "demo-public",
        "eks-create-cluster.json": "demo-private",
        "eks-create-nodegroup.json": "demo-spot",
        "eks-delete-cluster.json": "demo-retired",
        "eks-update-cluster-config-error.json": "demo-public",
        "eks-update-cluster-config-public-cidrs.json": "demo-public",
    }
    # principalArn is a URI path parameter too, and CloudTrail keeps it URL-encoded.
    detail = load_event("eks-associate-access-policy.json")["detail"]
    assert (
        detail["requestParameters"]["principalArn"] == f"arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2Fci-deployer"
    )
    assert detail["responseElements"]["principalArn"] == f"arn:aws:iam::{ACCOUNT}:role/ci-deployer"


def test_nodegroup_sample_lists_subnets_one_per_item() -> None:
    request = load_event("eks-create-nodegroup.json")["detail"]["requestParameters"]
    assert request["capacityType"] == "SPOT"
    assert request["instanceTypes"] == ["m5.large"]
    assert all(RESOURCE_ID.match(subnet) for subnet in request["subnets"])


def test_ec2_samples_use_the_wrapped_and_flat_parameter_shapes() -> None:
    delete = load_event("ec2-delete-vpc-endpoints.json")["detail"]["requestParameters"]
    assert delete == {
        "DeleteVpcEndpointsRequest": {
            "VpcEndpointId": [
                {"tag": 1, "content": "vpce-0a11b22c33d44e55f"},
                {"tag": 2, "content": "vpce-0f66e77d88c99b00a"},
            ]
        }
    }
    create = load_event("ec2-create-vpc-endpoint.json")["detail"]
    assert (
        create["requestParameters"]["CreateVpcEndpointRequest"]["ServiceName"]
        == "com.amazonaws.us-east-1.ecr.dkr"
    )
    assert (
        create["responseElements"]["CreateVpcEndpointResponse"]["vpcEndpoint"]["vpcId"]
        == "vpc-0d1e2f3a4b5c6d7e8"
    )
    # Older EC2 calls record flat, camelCase parameters.
    assert load_event("ec2-delete-route.json")["detail"]["requestParameters"] == {
        "routeTableId": "rtb-0c3d4e5f60718293a",
        "destinationCidrBlock": "0.0.0.0/0",
    }
    subnet = load_event("ec2-create-subnet.json")["detail"]
    assert subnet["requestParameters"]["vpcId"] == "vpc-0d1e2f3a4b5c6d7e8"
    assert subnet["responseElements"]["subnet"]["subnetId"] == "subnet-0c3d4e5f60718293a"


def test_ids_in_samples_look_like_real_ec2_ids() -> None:
    text = "\n".join((EVENTS / s).read_text(encoding="utf-8") for s in SAMPLES)
    # Anything shaped prefix-<letters and digits> (not words like "vpc-endpoint" in a user agent).
    ids = set(re.findall(r"\b(?:vpc|subnet|rtb|vpce|sg|eni|i)-(?=[0-9a-z]*[0-9])[0-9a-z]+\b", text))
    assert ids, "no EC2 ids found"
    assert {i for i in ids if not RESOURCE_ID.match(i)} == set()


@pytest.mark.parametrize("sample", SPOT)
def test_spot_samples_have_proper_instance_arns(sample: str) -> None:
    event = load_event(sample)
    instance = event["detail"]["instance-id"]
    assert event["resources"] == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"]
    assert RESOURCE_ID.match(instance)
    if event["detail-type"] == "EC2 Spot Instance Interruption Warning":
        assert event["detail"]["instance-action"] in {"hibernate", "stop", "terminate"}


def test_scheduled_sample_is_the_template_input_rendered() -> None:
    properties = sam_functions()["ScheduleFunction"]["Properties"]["Events"]["ScanSchedule"]["Properties"]
    rendered = (
        properties["Input"]["Fn::Sub"]
        .replace("${AWS::AccountId}", ACCOUNT)
        .replace("${AWS::Region}", REGION)
        .replace("<aws.scheduler.execution-id>", "d32c5kddcf5bb8c3")
        .replace("<aws.scheduler.scheduled-time>", "2025-06-03T12:00:00Z")
        .replace(
            "<aws.scheduler.schedule-arn>",
            f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/ScheduleFunctionScanSchedule",
        )
        .replace("<aws.scheduler.attempt-number>", "1")
    )
    assert json.loads(rendered) == load_event("scheduled.json")
