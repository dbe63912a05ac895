"""Read template.yaml the way CloudFormation would: SAM-transformed, with parameters and conditions applied.

Only what the template tests need: Ref to parameters, Fn::Join/Equals/Not/And/Or/If/Select, and
AWS::NoValue. Anything else (GetAtt, Sub of resources) is left as is.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from eks_auditor_tools.patterns import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
EVENTS = REPO / "events"

NO_VALUE: Any = object()

# Managed policies SAM attaches by itself: CloudWatch Logs, X-Ray (Tracing: Active) and, for a
# function in a VPC, ENI management. Their "*" resources are AWS's own design and cannot be scoped.
SAM_MANAGED_POLICIES = frozenset(
    {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    }
)

# SearchTransitGatewayRoutes is a read (IAM access level "List").
# cloudtrail:LookupEvents is a read too (IAM access level "Read").
READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Search", "Lookup")


@cache
def raw_template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def template() -> dict[str, Any]:
    """A fresh copy of the SAM template as data."""
    return copy.deepcopy(raw_template())


def load_event(name: str) -> dict[str, Any]:
    data = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), name
    return data


@cache
def _transformed_json() -> str:
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    sam = template()
    # The translator insists on S3 locations; `sam build`/`package` put local paths there.
    for resource in sam["Resources"].values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://build-bucket/{properties[key].strip('/')}"
    parameters: dict[str, Any] = {}
    to_py27_compatible_template(sam, parameters)
    # An explicit session: the region must not depend on the environment of whichever test runs first.
    session = boto3.session.Session(region_name="us-east-1")
    translator = Translator(None, Parser(), boto_session=session)
    # Policies name our own AWS::IAM::ManagedPolicy resources by Ref, never AWS policies by name.
    cfn = translator.translate(sam, parameter_values=parameters, get_managed_policy_map=dict)
    return json.dumps(undo_mark_unicode_str_in_template(cfn))


def transformed() -> dict[str, Any]:
    """The CloudFormation template SAM produces (conditions unresolved)."""
    result: dict[str, Any] = json.loads(_transformed_json())
    return result


def parameter_values(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in raw_template()["Parameters"].items():
        default = spec.get("Default")
        if spec["Type"] == "CommaDelimitedList":
            values[name] = [item.strip() for item in str(default or "").split(",")]
        else:
            values[name] = default
    for name, value in (overrides or {}).items():
        values[name] = value
    return values


def resolve(cfn: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`cfn` with parameters substituted where intrinsics can be evaluated and conditions applied."""
    params = parameter_values(overrides)
    conditions: dict[str, bool] = {}
    raw_conditions = cfn.get("Conditions") or {}

    def condition(name: str) -> bool:
        if name not in conditions:
            conditions[name] = bool(evaluate(raw_conditions[name]))
        return conditions[name]

    def evaluate(node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (evaluate(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, Mapping):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                if value == "AWS::NoValue":
                    return NO_VALUE
                return params.get(value, node)
            if key == "Condition" and isinstance(value, str):
                return condition(value)
            if key == "Fn::If":
                name, when_true, when_false = value
                return evaluate(when_true if condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (evaluate(v) for v in value)
                return left == right
            if key == "Fn::Not":
                return not evaluate(value[0])
            if key == "Fn::And":
                return all(evaluate(v) for v in value)
            if key == "Fn::Or":
                return any(evaluate(v) for v in value)
            if key == "Fn::Join":
                separator, items = value[0], evaluate(value[1])
                if isinstance(items, list) and all(isinstance(i, str) for i in items):
                    return separator.join(items)
        result = {}
        for key, value in node.items():
            evaluated = evaluate(value)
            if evaluated is not NO_VALUE:
                result[key] = evaluated
        return result

    resolved = dict(cfn)
    resolved["Resources"] = {
        logical_id: evaluate(resource)
        for logical_id, resource in cfn["Resources"].items()
        if "Condition" not in resource or condition(resource["Condition"])
    }
    return resolved


def resources_of_type(cfn: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v.get("Type") == resource_type}


def sam_functions() -> dict[str, dict[str, Any]]:
    return resources_of_type(raw_template(), "AWS::Serverless::Function")


def referenced(expression: Any) -> str | None:
    """The logical id a Ref/GetAtt/Sub-of-one-resource points at."""
    if isinstance(expression, Mapping):
        if "Ref" in expression:
            return str(expression["Ref"])
        if "Fn::GetAtt" in expression:
            target = expression["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    return None


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return list(found) if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def role_statements(cfn: Mapping[str, Any], role_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every Allow statement a role carries: inline and our managed policies."""
    role = cfn["Resources"][role_id]["Properties"]
    for policy in role.get("Policies", []):
        for statement in statements(policy["PolicyDocument"]):
            yield f"{role_id}/{policy['PolicyName']}", statement
    for arn in role.get("ManagedPolicyArns", []):
        policy_id = referenced(arn)
        if policy_id is None:
            continue
        document = cfn["Resources"][policy_id]["Properties"]["PolicyDocument"]
        for statement in statements(document):
            yield policy_id, statement


def function_role(cfn: Mapping[str, Any], function_id: str) -> str:
    role = cfn["Resources"][function_id]["Properties"]["Role"]
    role_id = referenced(role)
    assert role_id is not None, f"{function_id} has no role in this template"
    return role_id


def granted_actions(cfn: Mapping[str, Any], function_id: str) -> dict[str, list[Any]]:
    """action -> the resources it is allowed on, for one function's role."""
    granted: dict[str, list[Any]] = {}
    for _, statement in role_statements(cfn, function_role(cfn, function_id)):
        if statement.get("Effect") != "Allow":
            continue
        for action in as_list(statement["Action"]):
            granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return granted


def is_granted(action: str, granted: Mapping[str, Any]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in granted)


def is_read_action(action: str) -> bool:
    _, _, name = action.partition(":")
    return name.startswith(READ_PREFIXES) and "*" not in name
