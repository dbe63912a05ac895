"""template.yaml: linters, handlers, failure paths, storage, notifications, API, outputs."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from template_helpers import (
    REPO,
    TEMPLATE,
    raw_template,
    referenced,
    resolve,
    resources_of_type,
    sam_functions,
    transformed,
)

BIN = Path(sys.executable).parent
FUNCTIONS = {
    "EventAuditFunction": "functions/event_audit/",
    "ScheduleFunction": "functions/schedule/",
    "ClusterWorkerFunction": "functions/cluster_worker/",
    "SpotEventFunction": "functions/spot_events/",
    "QueryApiFunction": "functions/query_api/",
}
MAIN_QUEUES = {"EventsQueue": "EventsDLQ", "AuditQueue": "AuditDLQ", "SpotQueue": "SpotDLQ"}
DEAD_LETTER_QUEUES = ("EventsDLQ", "AuditDLQ", "SpotDLQ", "TargetsDLQ")


def _pipeline_data() -> dict[str, Any]:
    import importlib.resources
    import json

    return json.loads(importlib.resources.files("eks_auditor").joinpath("data/pipeline.json").read_text())


PIPELINE_DATA = _pipeline_data()


def _pairs(resources: Any) -> str:
    """ "LogicalId=${LogicalId},..." for every rule or queue of the data file, in template order."""
    ids = [item["logical_id"] for item in resources] if isinstance(resources, list) else list(resources)
    order = list(raw_template()["Resources"])
    return ",".join(f"{i}=${{{i}}}" for i in sorted(ids, key=order.index))


def resources(resource_type: str) -> dict[str, dict[str, Any]]:
    return resources_of_type(raw_template(), resource_type)


def props(logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = raw_template()["Resources"][logical_id]["Properties"]
    return properties


def tool_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(tmp_path),  # SAM CLI writes its metadata under ~/.aws-sam
            "SAM_CLI_TELEMETRY": "0",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    return env


# --- linters ----------------------------------------------------------------------------------------


def test_cfn_lint_reports_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "cfn-lint"), "--format", "parseable", str(TEMPLATE)],
        capture_output=True,
        text=True,
        env=tool_env(tmp_path),
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_sam_validate_lint_passes_without_credentials(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "sam"), "validate", "--lint", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        env=tool_env(tmp_path),
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


# --- functions and handlers -------------------------------------------------------------------------


def test_functions_and_their_code_locations() -> None:
    assert {name: f["Properties"]["CodeUri"] for name, f in sam_functions().items()} == FUNCTIONS


def test_globals_runtime_architecture_tracing_layer() -> None:
    function = raw_template()["Globals"]["Function"]
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]
    assert function["Tracing"] == "Active"
    assert function["Handler"] == "app.handler"
    assert function["Layers"] == [{"Ref": "CoreLayer"}]
    for name, spec in sam_functions().items():
        assert "Handler" not in spec["Properties"], name  # one handler convention, from Globals


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_handler_resolves_to_a_handler_function(function: str) -> None:
    handler = sam_functions()[function]["Properties"].get(
        "Handler", raw_template()["Globals"]["Function"]["Handler"]
    )
    module, _, name = handler.rpartition(".")
    path = REPO / FUNCTIONS[function] / f"{module.replace('.', '/')}.py"
    assert path.is_file(), f"{function}: {path.relative_to(REPO)} does not exist"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and len(node.args.args) + len(node.args.posonlyargs) == 2
    }
    assert name in defined, f"{path.relative_to(REPO)} has no top-level def {name}(event, context)"


def test_environment_from_globals() -> None:
    variables = raw_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables == {
        "FINDINGS_TABLE": {"Ref": "FindingsTable"},
        "IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
        "TOPIC_ARN": {"Ref": "FindingsTopic"},
        "AUDIT_REGIONS": {"Fn::Join": [",", {"Ref": "AuditRegions"}]},
        "POWERTOOLS_SERVICE_NAME": "eks-auditor",
        "POWERTOOLS_METRICS_NAMESPACE": "EksAuditor",
        "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
        "SPOT_NOTICE_TTL_DAYS": {"Ref": "SpotNoticeTtlDays"},
        "SPOT_BURST_THRESHOLD": {"Ref": "SpotBurstThreshold"},
        "SPOT_BURST_WINDOW_MINUTES": {"Ref": "SpotBurstWindowMinutes"},
        "INCOMPLETE_ALERT_SCANS": {"Ref": "IncompleteAlertScans"},
        "INCOMPLETE_ALERT_HOURS": {"Ref": "IncompleteAlertHours"},
        "SECURITY_HUB_ENABLED": {"Ref": "EnableSecurityHub"},
        "STACK_NAME": {"Ref": "AWS::StackName"},
        # Every rule and queue eks_auditor/data/pipeline.json expects, with its deployed name or URL.
        "PIPELINE_RULES": {"Fn::Sub": _pairs(PIPELINE_DATA["rules"])},
        "PIPELINE_QUEUES": {"Fn::Sub": _pairs(PIPELINE_DATA["queues"])},
        "FIRST_RUN_BASELINE": {"Ref": "FirstRunBaseline"},
        "DAILY_DIGEST": {"Ref": "DailyDigest"},
        "KNOWN_EGRESS_TRANSIT_GATEWAYS": {"Fn::Join": [",", {"Ref": "KnownEgressTransitGateways"}]},
        "MEMBER_ROLE_NAME": {"Fn::If": ["OrganizationMode", {"Ref": "MemberRoleName"}, ""]},
        "ACCOUNT_ALLOW_LIST": {"Fn::Join": [",", {"Ref": "AccountAllowList"}]},
        "ACCOUNT_DENY_LIST": {"Fn::Join": [",", {"Ref": "AccountDenyList"}]},
        "CENTRAL_ACCOUNT_ID": {"Ref": "AWS::AccountId"},
        "ORGANIZATION_EVENT_BUS_ARN": {
            "Fn::If": ["OrganizationMode", {"Fn::GetAtt": ["OrganizationEventBus", "Arn"]}, ""]
        },
    }
    own = {
        name: spec["Properties"].get("Environment", {}).get("Variables", {})
        for name, spec in sam_functions().items()
    }
    assert {name: v for name, v in own.items() if v} == {
        "ScheduleFunction": {"AUDIT_QUEUE_URL": {"Ref": "AuditQueue"}},
        # Organization mode: a worker lists an account-region and sends its cluster messages.
        "ClusterWorkerFunction": {"AUDIT_QUEUE_URL": {"Ref": "AuditQueue"}},
    }


def test_environment_is_what_settings_read() -> None:
    from eks_auditor.config import Settings

    cfn = resolve(transformed())
    variables = cfn["Resources"]["ScheduleFunction"]["Properties"]["Environment"]["Variables"]
    rendered = {k: v if isinstance(v, str) else "x" for k, v in variables.items()}
    rendered.update(
        {
            "SPOT_NOTICE_TTL_DAYS": "7",
            "SPOT_BURST_THRESHOLD": "3",
            "SPOT_BURST_WINDOW_MINUTES": "15",
            "INCOMPLETE_ALERT_SCANS": "3",
            "INCOMPLETE_ALERT_HOURS": "12",
        }
    )
    settings = Settings.from_env({**rendered, "AWS_REGION": "eu-west-1"})
    assert variables["AUDIT_REGIONS"] == ""  # the default: the deploying region
    assert settings.audit_regions == ("eu-west-1",)
    assert settings.security_hub_enabled is False
    assert variables["SECURITY_HUB_ENABLED"] == "false"
    assert settings.known_egress_tgws == frozenset()
    assert (settings.incomplete_alert_scans, settings.incomplete_alert_after) == (3, timedelta(hours=12))


def test_parameters_and_defaults() -> None:
    parameters = raw_template()["Parameters"]
    assert {name: (p["Type"], p.get("Default")) for name, p in parameters.items()} == {
        "ScanSchedule": ("String", "rate(6 hours)"),
        "AuditRegions": ("CommaDelimitedList", None),
        "EnableSecurityHub": ("String", "false"),
        "KubeSubnetIds": ("CommaDelimitedList", ""),
        "KubeSecurityGroupIds": ("CommaDelimitedList", ""),
        "SpotNoticeTtlDays": ("Number", 7),
        "SpotBurstThreshold": ("Number", 3),
        "SpotBurstWindowMinutes": ("Number", 15),
        "IncompleteAlertScans": ("Number", 3),
        "IncompleteAlertHours": ("Number", 12),
        "KnownEgressTransitGateways": ("CommaDelimitedList", ""),
        "OrganizationId": ("String", ""),
        "MemberRoleName": ("String", "eks-auditor-audit"),
        "AccountAllowList": ("CommaDelimitedList", ""),
        "AccountDenyList": ("CommaDelimitedList", ""),
        "LogLevel": ("String", "INFO"),
        "LogRetentionDays": ("Number", 30),
        "FirstRunBaseline": ("String", "true"),
        "DailyDigest": ("String", "true"),
        "DailyDigestSchedule": ("String", "cron(0 8 * * ? *)"),
        "AlertEmail": ("String", ""),
        "ChatbotSubscription": ("String", "false"),
        "SecurityQueueArn": ("String", ""),
    }
    assert parameters["EnableSecurityHub"]["AllowedValues"] == ["false", "true"]


# --- failure paths ----------------------------------------------------------------------------------


def test_every_sqs_event_source_reports_batch_item_failures() -> None:
    sources = {
        (name, event_id): event["Properties"]
        for name, spec in sam_functions().items()
        for event_id, event in spec["Properties"].get("Events", {}).items()
        if event["Type"] == "SQS"
    }
    assert {(name, referenced(p["Queue"])) for (name, _), p in sources.items()} == {
        ("EventAuditFunction", "EventsQueue"),
        ("ClusterWorkerFunction", "AuditQueue"),
        ("SpotEventFunction", "SpotQueue"),
    }
    for key, properties in sources.items():
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"], key
    events = sam_functions()["EventAuditFunction"]["Properties"]["Events"]["CloudTrailChanges"]["Properties"]
    assert (events["BatchSize"], events["MaximumBatchingWindowInSeconds"]) == (10, 1)
    # The deployed event source mappings carry it too.
    mappings = resources_of_type(transformed(), "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 3
    for mapping in mappings.values():
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_eventbridge_target_retries_and_dead_letters() -> None:
    rules = resources("AWS::Events::Rule")
    assert len(rules) == 7  # six on the default bus, one forwarding the organization bus to it
    for name, rule in rules.items():
        for target in rule["Properties"]["Targets"]:
            assert set(target["RetryPolicy"]) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}, name
            assert referenced(target["DeadLetterConfig"]["Arn"]) == "TargetsDLQ", name
    schedules = resources_of_type(transformed(), "AWS::Scheduler::Schedule")
    assert sorted(schedules) == ["ScheduleFunctionDailyDigestSchedule", "ScheduleFunctionScanSchedule"]
    for schedule in schedules.values():
        target = schedule["Properties"]["Target"]
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
        assert referenced(target["DeadLetterConfig"]["Arn"]) == "TargetsDLQ"
    assert schedules["ScheduleFunctionScanSchedule"]["Properties"]["ScheduleExpression"] == {
        "Ref": "ScanSchedule"
    }


def test_async_schedule_failures_land_in_a_queue() -> None:
    config = transformed()["Resources"]["ScheduleFunctionEventInvokeConfig"]["Properties"]
    assert referenced(config["DestinationConfig"]["OnFailure"]["Destination"]) == "TargetsDLQ"
    assert config["MaximumRetryAttempts"] == 1


def test_queues_are_encrypted_and_redrive_to_their_dead_letter_queue() -> None:
    queues = resources("AWS::SQS::Queue")
    assert set(queues) == set(MAIN_QUEUES) | set(DEAD_LETTER_QUEUES)
    for name, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
    consumers = {
        referenced(e["Properties"]["Queue"]): spec["Properties"]["Timeout"]
        for spec in sam_functions().values()
        for e in spec["Properties"].get("Events", {}).values()
        if e["Type"] == "SQS"
    }
    for queue, dlq in MAIN_QUEUES.items():
        properties = props(queue)
        assert properties["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
            "maxReceiveCount": 3,
        }
        # Lambda's SQS guide: visibility timeout at least six times the function timeout.
        assert properties["VisibilityTimeout"] >= 6 * consumers[queue], queue
    for dlq in DEAD_LETTER_QUEUES:
        assert props(dlq)["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert "RedrivePolicy" not in props(dlq)


def test_queue_policies_let_only_the_right_rules_send() -> None:
    """One Allow per rule (aws:SourceArn); a Deny for every other sender, same-account IAM principals too."""

    def senders(policy_id: str) -> tuple[str | None, list[str | None], dict[str, list[str | None]]]:
        properties = props(policy_id)
        (queue,) = properties["Queues"]
        allowed, denied = [], {}
        for statement in properties["PolicyDocument"]["Statement"]:
            assert statement["Action"] == "sqs:SendMessage"
            assert referenced(statement["Resource"]) == referenced(queue)
            if statement["Effect"] == "Allow":
                assert statement["Principal"] == {"Service": "events.amazonaws.com"}
                allowed.append(referenced(statement["Condition"]["ArnEquals"]["aws:SourceArn"]))
            else:
                assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
                (operator,) = statement["Condition"]
                assert operator == "ArnNotEquals"
                denied = {
                    key: [referenced(v) for v in (values if isinstance(values, list) else [values])]
                    for key, values in statement["Condition"][operator].items()
                }
        return referenced(queue), allowed, denied

    cloudtrail = [
        "EksApiCallsRule",
        "Ec2ApiCallsRule",
        "IamOidcRule",
        "AutoScalingApiCallsRule",
        "NetworkFirewallApiCallsRule",
    ]
    assert senders("EventsQueuePolicy") == ("EventsQueue", cloudtrail, {"aws:SourceArn": cloudtrail})
    assert senders("SpotQueuePolicy") == ("SpotQueue", ["SpotRule"], {"aws:SourceArn": ["SpotRule"]})
    # The schedule, and in organization mode the workers' second stage (an account-region's clusters).
    assert senders("AuditQueuePolicy") == (
        "AuditQueue",
        [],
        {"aws:PrincipalArn": ["ScheduleRole", "ClusterWorkerRole"]},
    )
    # Dead letters also come through IAM roles (Scheduler's, the schedule's on-failure destination).
    assert senders("TargetsDLQPolicy") == (
        "TargetsDLQ",
        [*cloudtrail, "SpotRule", "OrganizationForwardRule"],
        {},
    )


def test_kube_vpc_eni_permissions_are_scoped_to_the_kube_subnets() -> None:
    statements = {s["Sid"]: s for s in props("KubeVpcAccessPolicy")["PolicyDocument"]["Statement"]}
    # Describe* has no resource-level permissions; everything else is scoped.
    assert statements["DescribeForVpcAttach"]["Resource"] == "*"
    assert all(a.startswith("ec2:Describe") for a in statements["DescribeForVpcAttach"]["Action"])
    create = json.dumps(statements["CreateFunctionEnisInKubeSubnets"]["Resource"])
    assert '"Ref": "KubeSubnetIds"' in create and '"Ref": "KubeSecurityGroupIds"' in create
    assert "network-interface/*" in create
    manage = statements["ManageFunctionEnisInKubeSubnets"]
    assert "network-interface/*" in json.dumps(manage["Resource"])
    assert '"Ref": "KubeSubnetIds"' in json.dumps(manage["Condition"]["ArnLike"]["ec2:Subnet"])
    scoped = set(statements) - {"DescribeForVpcAttach"}
    assert all(statements[sid]["Resource"] != "*" for sid in scoped)


def test_failed_records_alarm() -> None:
    alarm = props("RecordFailuresAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("EksAuditor", "BatchItemFailures")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "eks-auditor"}]
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmsTopic"}]


def test_alarms_watch_every_dead_letter_queue_and_function() -> None:
    alarms = resources("AWS::CloudWatch::Alarm")
    watched_queues = {
        referenced(a["Properties"]["Dimensions"][0]["Value"]): a["Properties"]
        for a in alarms.values()
        if a["Properties"]["Namespace"] == "AWS/SQS"
    }
    watched_functions = {
        referenced(a["Properties"]["Dimensions"][0]["Value"]): a["Properties"]
        for a in alarms.values()
        if a["Properties"]["Namespace"] == "AWS/Lambda"
    }
    assert set(watched_queues) == set(DEAD_LETTER_QUEUES)
    assert set(watched_functions) == set(FUNCTIONS)
    for alarm in watched_queues.values():
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    for alarm in watched_functions.values():
        assert (alarm["MetricName"], alarm["Statistic"]) == ("Errors", "Sum")
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmsTopic"}]
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"


# --- storage ----------------------------------------------------------------------------------------


def test_findings_table_is_the_one_the_store_defines() -> None:
    from eks_auditor.store import TABLE_DEFINITION, TTL_ATTRIBUTE

    table = props("FindingsTable")

    def attributes(definition: dict[str, Any]) -> set[tuple[str, str]]:
        return {(a["AttributeName"], a["AttributeType"]) for a in definition["AttributeDefinitions"]}

    def indexes(definition: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        return {
            i["IndexName"]: (i["KeySchema"], i["Projection"])
            for i in definition.get("GlobalSecondaryIndexes", [])
        }

    assert table["KeySchema"] == TABLE_DEFINITION["KeySchema"]
    assert attributes(table) == attributes(TABLE_DEFINITION)
    assert indexes(table) == indexes(TABLE_DEFINITION)
    assert table["BillingMode"] == TABLE_DEFINITION["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert TTL_ATTRIBUTE == "expires_at_epoch"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert {"by_status_severity", "by_check", "by_id"} <= set(indexes(table))
    assert raw_template()["Resources"]["FindingsTable"]["DeletionPolicy"] == "Retain"


def test_idempotency_table_fits_powertools_defaults() -> None:
    table = props("IdempotencyTable")
    # DynamoDBPersistenceLayer's defaults: key_attr="id", expiry_attr="expiration".
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True


# --- notifications ----------------------------------------------------------------------------------


def test_topics_use_the_customer_managed_key_that_alarms_and_events_may_use() -> None:
    for topic in ("FindingsTopic", "AlarmsTopic"):
        assert props(topic)["KmsMasterKeyId"] == {"Ref": "AlertsKey"}
    key = props("AlertsKey")
    assert key["EnableKeyRotation"] is True
    services = [s for s in key["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    (statement,) = services
    assert set(statement["Principal"]["Service"]) == {
        "sns.amazonaws.com",
        "events.amazonaws.com",
        "cloudwatch.amazonaws.com",
    }
    assert set(statement["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# --- API --------------------------------------------------------------------------------------------


def test_query_api_uses_iam_authorization_and_four_read_routes() -> None:
    api = props("QueryApi")
    assert api["Auth"] == {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in sam_functions()["QueryApiFunction"]["Properties"]["Events"].values()
        if e["Type"] == "HttpApi" and referenced(e["Properties"]["ApiId"]) == "QueryApi"
    }
    assert routes == {
        ("GET", "/findings"),
        ("GET", "/findings/{finding_id}"),
        ("GET", "/clusters/{cluster}/findings"),
        ("GET", "/posture"),
    }


# --- layer ------------------------------------------------------------------------------------------


def test_core_layer_is_built_for_arm64_python312() -> None:
    layer = raw_template()["Resources"]["CoreLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/core/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # layers/core/Makefile builds it: arm64 wheels plus bytecode compiled ahead (test_sam_build checks both).
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    requirements = [
        line.split(">")[0].split("<")[0].split("=")[0].strip()
        for line in (REPO / "layers/core/requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert requirements == [
        "aws-lambda-powertools[parser,tracer]",
        "pydantic",
        "pyyaml",
        "aws-xray-sdk",
        "boto3",
    ]


# --- outputs ----------------------------------------------------------------------------------------


def test_outputs_name_everything_an_operator_or_a_test_needs() -> None:
    outputs = raw_template()["Outputs"]
    expected = {
        "FindingsTableName": {"Ref": "FindingsTable"},
        "FindingsTableArn": {"Fn::GetAtt": ["FindingsTable", "Arn"]},
        "IdempotencyTableName": {"Ref": "IdempotencyTable"},
        "FindingsTopicArn": {"Ref": "FindingsTopic"},
        "AlarmsTopicArn": {"Ref": "AlarmsTopic"},
        "CoreLayerArn": {"Ref": "CoreLayer"},
    }
    for queue in [*MAIN_QUEUES, *DEAD_LETTER_QUEUES]:
        expected[f"{queue}Url"] = {"Ref": queue}
        expected[f"{queue}Arn"] = {"Fn::GetAtt": [queue, "Arn"]}
    for function in FUNCTIONS:
        expected[f"{function}Name"] = {"Ref": function}
    for rule in resources("AWS::Events::Rule"):
        expected[f"{rule}Name"] = {"Ref": rule}
    for name, value in expected.items():
        assert outputs[name]["Value"] == value, name
    assert outputs["QueryApiUrl"]["Value"] == {
        "Fn::Sub": "https://${QueryApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
    }


# --- samconfig ---------------------------------------------------------------------------------------


def test_samconfig_deploy_defaults_fit_the_template() -> None:
    import shlex
    import tomllib

    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    assert config["version"] == 0.1
    default = config["default"]
    assert default["global"]["parameters"]["stack_name"] == "eks-auditor"
    assert default["validate"]["parameters"]["lint"] is True
    deploy = default["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert deploy["region"] == "us-east-1"
    overrides = dict(item.split("=", 1) for item in shlex.split(deploy["parameter_overrides"]))
    parameters = raw_template()["Parameters"]
    assert set(overrides) <= set(parameters)
    for name, value in overrides.items():
        assert value in [str(v) for v in parameters[name].get("AllowedValues", [value])], name
    # Named IAM resources would need CAPABILITY_NAMED_IAM.
    for role in resources("AWS::IAM::Role").values():
        assert "RoleName" not in role["Properties"]
