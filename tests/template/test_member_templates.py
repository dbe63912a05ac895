"""The member-account templates (member/) and the central organization bus.

moto does not enforce trust policies or event bus policies (and AssumeRole into any role succeeds
there), so the policies themselves are asserted here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from template_helpers import raw_template

from eks_auditor_tools import member_templates
from eks_auditor_tools.patterns import load_template

BIN = Path(sys.executable).parent
AUDITED_SOURCES = ["aws.eks", "aws.ec2", "aws.iam", "aws.autoscaling", "aws.network-firewall"]


def _member(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def test_committed_member_templates_are_the_generated_ones() -> None:
    for path, text in member_templates.expected_files().items():
        assert path.read_text() == text, f"{path.name} is stale: python -m eks_auditor_tools.member_templates"


def test_member_templates_pass_cfn_lint() -> None:
    result = subprocess.run(
        [
            str(BIN / "cfn-lint"),
            "--format",
            "parseable",
            str(member_templates.AUDIT_ROLE),
            str(member_templates.FORWARDING),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_member_templates_are_plain_cloudformation() -> None:
    # StackSets reject transforms.
    for path in (member_templates.AUDIT_ROLE, member_templates.FORWARDING):
        document = _member(path)
        assert "Transform" not in document
        assert not any(r["Type"].startswith("AWS::Serverless::") for r in document["Resources"].values())


def test_audit_role_grants_exactly_the_central_read_actions() -> None:
    role = _member(member_templates.AUDIT_ROLE)["Resources"]["AuditRole"]["Properties"]
    policy, security_hub = role["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    # Security Hub import is optional (the central EnableSecurityHub): the member's own product only.
    [condition, granted, absent] = security_hub["Fn::If"]
    assert (condition, absent) == ("SecurityHubImport", {"Ref": "AWS::NoValue"})
    actions = {s["Action"]: s["Resource"]["Fn::Sub"] for s in granted["PolicyDocument"]["Statement"]}
    assert actions == {
        "securityhub:BatchImportFindings": "arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}"
        ":product/${AWS::AccountId}/default",
        "securityhub:BatchUpdateFindings": (
            "arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:hub/default"
        ),
    }
    central = raw_template()["Resources"]["AuditReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    central_actions = {action for s in central for action in s["Action"]}
    assert set(statement["Action"]) == central_actions
    assert statement["Action"] == member_templates.audit_actions()
    reads = ("Describe", "List", "Get", "Search", "Lookup")
    assert all(a.split(":")[1].startswith(reads) for a in statement["Action"])


def test_audit_role_is_trusted_only_by_the_central_auditing_roles() -> None:
    role = _member(member_templates.AUDIT_ROLE)["Resources"]["AuditRole"]["Properties"]
    assert role["RoleName"] == {"Ref": "MemberRoleName"}
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralAccountId}:root"}}
    # Exact role ARNs, never a name prefix (any role named "<stack>-..." in the central account would match).
    assert trust["Condition"] == {"ArnEquals": {"aws:PrincipalArn": {"Ref": "CentralAuditRoleArns"}}}
    parameters = _member(member_templates.AUDIT_ROLE)["Parameters"]
    assert parameters["CentralAuditRoleArns"]["Type"] == "CommaDelimitedList"
    assert "CentralRolePrefix" not in parameters


def test_the_central_output_lists_exactly_the_roles_that_assume_member_roles() -> None:
    resources = raw_template()["Resources"]
    # The roles whose policies may assume the member role: those with MemberAccessPolicy attached.
    assuming = {
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
        and any(
            "MemberAccessPolicy" in str(arn) for arn in resource["Properties"].get("ManagedPolicyArns", [])
        )
    }
    assert assuming == set(member_templates.CENTRAL_AUDIT_ROLES)
    output = raw_template()["Outputs"]["MemberTrustedRoleArns"]
    assert output["Condition"] == "OrganizationMode"
    [separator, arns] = output["Value"]["Fn::Join"]
    assert separator == ","
    assert [arn["Fn::GetAtt"][0] for arn in arns] == list(member_templates.CENTRAL_AUDIT_ROLES)
    # The schedule lists the accounts only: it assumes no member role.
    schedule = resources["ScheduleRole"]["Properties"]
    assert "MemberAccessPolicy" not in str(schedule.get("ManagedPolicyArns", []))
    assert "sts:AssumeRole" not in str(schedule["Policies"])


def test_forwarding_rules_equal_the_central_rules_and_target_the_central_bus() -> None:
    central = {
        logical_id: r["Properties"]["EventPattern"]
        for logical_id, r in load_template(member_templates.CENTRAL)["Resources"].items()
        if r["Type"] == "AWS::Events::Rule" and "EventBusName" not in r["Properties"]
    }
    rules = _member(member_templates.FORWARDING)["Resources"]
    assert {k: r["Properties"]["EventPattern"] for k, r in rules.items()} == central
    for logical_id, rule in rules.items():
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Ref": "CentralEventBusArn"}
        # IAM events reach EventBridge in us-east-1 only; in other regions the rule would never fire.
        sources = central[logical_id]["source"]
        assert (rule.get("Condition") == "InUsEast1") == (sources == ["aws.iam"])
    # No named resource in the every-region stack (a second region would collide).
    assert not any("Name" in r["Properties"] for r in rules.values())


def test_organization_bus_admits_the_organization_and_the_audited_sources_only() -> None:
    resources = load_template(member_templates.CENTRAL)["Resources"]
    policy = resources["OrganizationEventBusPolicy"]
    assert policy["Condition"] == "OrganizationMode"
    statement = policy["Properties"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}, "events:source": AUDITED_SOURCES}
    }
    forward = resources["OrganizationForwardRule"]["Properties"]
    assert forward["EventBusName"] == {"Ref": "OrganizationEventBus"}
    assert forward["EventPattern"] == {"source": AUDITED_SOURCES}


def test_organization_parameters_reach_the_settings() -> None:
    template = raw_template()
    for name in ("OrganizationId", "MemberRoleName", "AccountAllowList", "AccountDenyList", "AuditRegions"):
        assert name in template["Parameters"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert {"MEMBER_ROLE_NAME", "ACCOUNT_ALLOW_LIST", "ACCOUNT_DENY_LIST", "CENTRAL_ACCOUNT_ID"} <= set(
        variables
    )
    alarm = template["Resources"]["AccountRegionsIncompleteAlarm"]["Properties"]
    assert alarm["MetricName"] == "AccountRegionsIncomplete"
