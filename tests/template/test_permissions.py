"""Least privilege, checked on the template SAM actually deploys (transformed, conditions applied)."""

from __future__ import annotations

from typing import Any

import pytest
from eks_auditor.checks.registry import CATALOG
from eks_auditor.collect.permissions import all_actions
from template_helpers import (
    as_list,
    function_role,
    granted_actions,
    is_granted,
    is_read_action,
    referenced,
    resolve,
    resources_of_type,
    role_statements,
    sam_functions,
    transformed,
)

# Functions that collect snapshots and write findings.
AUDIT_FUNCTIONS = ("EventAuditFunction", "ClusterWorkerFunction", "SpotEventFunction")
# What the checks' declared parts need (the spot notices' DescribeInstances included).
CATALOG_READS = frozenset(action for check in CATALOG.values() for action in check.spec.permissions)
# Reads made outside the collectors, with the code that makes them.
EXTRA_READS = {
    "ec2:DescribeSecurityGroups": "eks_auditor/dispatch.py resolve_vpcs",
    "ec2:DescribeNetworkInterfaces": "eks_auditor/dispatch.py resolve_vpcs",
    "ec2:DescribeVpcPeeringConnections": "eks_auditor/dispatch.py resolve_vpcs (pcx- to both VPCs)",
    "ec2:GetTransitGatewayRouteTableAssociations": "eks_auditor/dispatch.py resolve_vpcs (tgw-rtb-)",
    "ec2:DescribeTransitGatewayRouteTables": "eks_auditor/dispatch.py egress_dependents (egress VPC routes)",
    "ec2:SearchTransitGatewayRoutes": "eks_auditor/dispatch.py egress_dependents (also the network part)",
    # Also collector reads (network, nodegroups parts); the dispatcher needs them on its own.
    "ec2:DescribeTransitGatewayAttachments": "eks_auditor/dispatch.py resolve_vpcs (tgw-, tgw-attach-)",
    "autoscaling:DescribeAutoScalingGroups": "eks_auditor/dispatch.py resolve_scope (groups, templates)",
    "network-firewall:DescribeFirewall": "eks_auditor/dispatch.py resolve_scope (firewall to its VPC)",
}
# AWS services without resource-level permissions for these actions.
UNSCOPABLE_WRITES = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

ALL_ON = {
    "EnableSecurityHub": "true",
    "KubeSubnetIds": ["subnet-0a1b2c3d4e5f60718"],
    "KubeSecurityGroupIds": ["sg-1"],
}


@pytest.fixture(scope="module", params=["defaults", "all-options"])
def cfn(request: pytest.FixtureRequest) -> dict[str, Any]:
    overrides = ALL_ON if request.param == "all-options" else None
    return resolve(transformed(), overrides)


def all_statements(cfn: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for role_id in resources_of_type(cfn, "AWS::IAM::Role"):
        found.extend(role_statements(cfn, role_id))
    for policy_id, policy in resources_of_type(cfn, "AWS::IAM::ManagedPolicy").items():
        found.extend((policy_id, s) for s in as_list(policy["Properties"]["PolicyDocument"]["Statement"]))
    return found


def test_no_write_action_on_every_resource(cfn: dict[str, Any]) -> None:
    offenders = [
        f"{where}: {action}"
        for where, statement in all_statements(cfn)
        if "*" in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
        if not is_read_action(action) and action not in UNSCOPABLE_WRITES
    ]
    assert offenders == []


def test_no_wildcard_actions(cfn: dict[str, Any]) -> None:
    wildcards = [
        f"{where}: {action}"
        for where, statement in all_statements(cfn)
        for action in as_list(statement["Action"])
        # kms:GenerateDataKey* is AWS's documented form for SNS publishers (…Pair, …WithoutPlaintext).
        if "*" in action and action != "kms:GenerateDataKey*"
    ]
    assert wildcards == []


def test_no_aws_managed_policies(cfn: dict[str, Any]) -> None:
    # Every role is written out in the template; nothing SAM or AWS adds with "*" writes.
    for role_id, role in resources_of_type(cfn, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            assert referenced(arn) is not None, f"{role_id} attaches {arn}"


def test_every_function_has_its_own_role(cfn: dict[str, Any]) -> None:
    roles = {name: function_role(cfn, name) for name in sam_functions()}
    assert len(set(roles.values())) == len(roles)
    for name in roles:
        granted = granted_actions(cfn, name)
        assert granted["logs:PutLogEvents"] == [{"Fn::GetAtt": [name.replace("Function", "LogGroup"), "Arn"]}]


@pytest.mark.parametrize("function", AUDIT_FUNCTIONS)
def test_audit_functions_may_call_everything_the_collectors_call(cfn: dict[str, Any], function: str) -> None:
    granted = granted_actions(cfn, function)
    assert {a for a in CATALOG_READS if not is_granted(a, granted)} == set()
    for action in CATALOG_READS | set(EXTRA_READS):
        # Discovered resources: the grant must cover any of them.
        assert "*" in granted[action], action


def test_every_collected_permission_is_needed_by_some_check() -> None:
    # A part no check declares would be granted (and collected) for nothing.
    assert all_actions() == CATALOG_READS


def test_read_grants_are_exactly_what_the_code_calls(cfn: dict[str, Any]) -> None:
    policy = cfn["Resources"]["AuditReadPolicy"]["Properties"]["PolicyDocument"]
    granted = {a for s in policy["Statement"] for a in as_list(s["Action"])}
    assert granted == CATALOG_READS | set(EXTRA_READS)


def test_writes_are_scoped_to_this_stack(cfn: dict[str, Any]) -> None:
    granted = granted_actions(cfn, "EventAuditFunction")
    table = {"Fn::GetAtt": ["FindingsTable", "Arn"]}
    indexes = {"Fn::Sub": "${FindingsTable.Arn}/index/*"}
    idempotency = {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    assert granted["dynamodb:PutItem"] == [table, indexes, idempotency]
    assert granted["dynamodb:ConditionCheckItem"] == [table, indexes]
    assert granted["dynamodb:DeleteItem"] == [idempotency]
    assert granted["sns:Publish"] == [{"Ref": "FindingsTopic"}]
    assert granted["kms:GenerateDataKey*"] == [{"Fn::GetAtt": ["AlertsKey", "Arn"]}]
    assert granted["sqs:DeleteMessage"] == [{"Fn::GetAtt": ["EventsQueue", "Arn"]}]
    assert "dynamodb:Scan" not in granted
    assert "dynamodb:DeleteItem" not in granted_actions(cfn, "QueryApiFunction")


def test_query_api_only_reads_the_findings_table(cfn: dict[str, Any]) -> None:
    granted = granted_actions(cfn, "QueryApiFunction")
    assert sorted(granted) == sorted(
        [
            "dynamodb:Query",
            "dynamodb:BatchGetItem",  # GET /posture: the AUDIT items by key
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            *UNSCOPABLE_WRITES,
        ]
    )
    assert granted["dynamodb:BatchGetItem"] == [{"Fn::GetAtt": ["FindingsTable", "Arn"]}]


def test_schedule_lists_clusters_and_enqueues_nothing_more(cfn: dict[str, Any]) -> None:
    granted = granted_actions(cfn, "ScheduleFunction")
    assert sorted(granted) == sorted(
        [
            "eks:ListClusters",
            "dynamodb:Query",
            "dynamodb:PutItem",  # an organization scan's coverage record
            "sqs:SendMessage",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            *UNSCOPABLE_WRITES,
        ]
    )
    assert granted["sqs:SendMessage"] == [
        {"Fn::GetAtt": ["AuditQueue", "Arn"]},
        {"Fn::GetAtt": ["TargetsDLQ", "Arn"]},
    ]


def test_organization_mode_grants_the_member_role_and_the_account_listing() -> None:
    off = resolve(transformed())
    on = resolve(transformed(), {"OrganizationId": "o-abcdefghij"})
    for function in ("ScheduleFunction", *AUDIT_FUNCTIONS):
        assert not is_granted("sts:AssumeRole", granted_actions(off, function)), function
        assert not is_granted("organizations:ListAccounts", granted_actions(off, function)), function
        granted = granted_actions(on, function)
        assert is_granted("organizations:ListAccounts", granted), function
        if function == "ScheduleFunction":
            # The first stage lists accounts only; the workers assume the member roles.
            assert not is_granted("sts:AssumeRole", granted), function
            continue
        assert granted["sts:AssumeRole"] == [
            {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}
        ], function
    # The worker's second stage sends the cluster messages of the account-region it listed.
    assert granted_actions(on, "ClusterWorkerFunction")["sqs:SendMessage"] == [
        {"Fn::GetAtt": ["AuditQueue", "Arn"]}
    ]
    assert not is_granted("sqs:SendMessage", granted_actions(off, "ClusterWorkerFunction"))


def test_security_hub_is_granted_only_when_enabled() -> None:
    off = resolve(transformed())
    on = resolve(transformed(), {"EnableSecurityHub": "true"})
    for function in AUDIT_FUNCTIONS:
        assert not is_granted("securityhub:BatchImportFindings", granted_actions(off, function))
        granted = granted_actions(on, function)
        assert granted["securityhub:BatchImportFindings"] == [
            {
                "Fn::Sub": "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}"
                ":product/${AWS::AccountId}/default"
            }
        ]
        assert granted["securityhub:BatchUpdateFindings"] == [
            {"Fn::Sub": "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:hub/default"}
        ]
    assert "SecurityHubImportPolicy" not in off["Resources"]


def test_vpc_access_only_when_subnets_are_given() -> None:
    off = resolve(transformed())
    on = resolve(transformed(), ALL_ON)
    for function in ("EventAuditFunction", "ClusterWorkerFunction"):
        assert "VpcConfig" not in off["Resources"][function]["Properties"]
        assert "ec2:CreateNetworkInterface" not in granted_actions(off, function)
        assert on["Resources"][function]["Properties"]["VpcConfig"] == {
            "SubnetIds": ["subnet-0a1b2c3d4e5f60718"],
            "SecurityGroupIds": ["sg-1"],
        }
        # ENIs are created only in the given subnets, with the given security groups.
        assert granted_actions(on, function)["ec2:CreateNetworkInterface"] == [
            {
                "Fn::Split": [
                    ",",
                    {
                        "Fn::Join": [
                            "",
                            [
                                {
                                    "Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}"
                                    ":network-interface/*"
                                },
                                ",arn:*:ec2:*:*:subnet/",
                                "subnet-0a1b2c3d4e5f60718",
                                ",arn:*:ec2:*:*:security-group/",
                                "sg-1",
                            ],
                        ]
                    },
                ]
            }
        ]
    for function in ("ScheduleFunction", "SpotEventFunction", "QueryApiFunction"):
        assert "VpcConfig" not in on["Resources"][function]["Properties"]
        assert "ec2:CreateNetworkInterface" not in granted_actions(on, function)
