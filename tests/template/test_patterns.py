"""The local EventBridge pattern matcher, operator by operator, with the user guide's own examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eks_auditor_tools.patterns import PatternError, Target, load_rules, matches, matching_rules, validate

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "012345679012",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "instance-id": "i-000000aaaaaa00000",
        "state": "running",
        "FileName": "photo.PNG",
        "empty": "",
        "nothing": None,
        "flag": True,
        "nested": {"c1": 100},
        "tags": ["prod", "eks"],
        "employees": [
            {"firstName": "John", "lastName": "Doe"},
            {"firstName": "Anna", "lastName": "Smith"},
            {"firstName": "Peter", "lastName": "Jones"},
        ],
    },
}


def detail(**fields: Any) -> dict[str, Any]:
    return {"detail": fields}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # exact values and "any of"
        ({"source": ["aws.ec2"]}, True),
        ({"source": ["aws.fargate", "aws.ec2"]}, True),
        ({"source": ["aws.eks"]}, False),
        ({"source": ["AWS.EC2"]}, False),
        # keys are ANDed
        ({"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]}, False),
        ({"source": ["aws.ec2"], "detail": {"state": ["running"]}}, True),
        # nested objects must exist with the same structure
        (detail(nested={"c1": [100]}), True),
        (detail(nested={"c1": [101]}), False),
        (detail(missing={"c1": [100]}), False),
        # JSON types are distinct
        (detail(**{"c-count": ["5"]}), False),
        (detail(**{"c-count": [5]}), True),
        (detail(**{"x-limit": [3.018e2]}), True),
        (detail(flag=[True]), True),
        (detail(flag=["true"]), False),
        (detail(flag=[1]), False),
        # null and the empty string are different values
        (detail(nothing=[None]), True),
        (detail(nothing=[""]), False),
        (detail(empty=[""]), True),
        (detail(empty=[None]), False),
        # an array in the event matches when it intersects the pattern's array
        ({"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000", "x"]}, True),
        (detail(tags=["eks"]), True),
        (detail(tags=["dev"]), False),
    ],
)
def test_exact_lists_nesting_and_types(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


def test_objects_inside_arrays_match_one_element_at_a_time() -> None:
    assert matches(detail(employees={"firstName": ["Anna"]}), EVENT) is True
    assert matches(detail(employees={"firstName": ["Anna"], "lastName": ["Smith"]}), EVENT) is True
    # Anna and Jones are in different elements: event-ruler's rulesForJSONEvent does not match.
    assert matches(detail(employees={"firstName": ["Anna"], "lastName": ["Jones"]}), EVENT) is False
    # Operators apply to the field of each element too (the template's subnet filter on CreateTags'
    # requestParameters.resourcesSet.items[].resourceId).
    assert matches(detail(employees={"firstName": [{"prefix": "Pe"}]}), EVENT) is True
    assert matches(detail(employees={"firstName": [{"prefix": "Ma"}]}), EVENT) is False


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"time": [{"prefix": "2017-10-02"}]}, True),
        ({"time": [{"prefix": "2017-10-03"}]}, False),
        ({"source": [{"prefix": "AWS."}]}, False),
        ({"source": [{"prefix": {"equals-ignore-case": "AWS."}}]}, True),
        (detail(**{"c-count": [{"prefix": "5"}]}), False),  # prefix works on strings only
        (detail(FileName=[{"suffix": ".PNG"}]), True),
        (detail(FileName=[{"suffix": ".png"}]), False),
        (detail(FileName=[{"suffix": {"equals-ignore-case": ".png"}}]), True),
        ({"source": [{"equals-ignore-case": "AWS.EC2"}]}, True),
        ({"source": [{"equals-ignore-case": "aws.eks"}]}, False),
        ({"detail-type": [{"wildcard": "EC2 * Notification"}]}, True),
        ({"detail-type": [{"wildcard": "EC2*"}]}, True),
        ({"detail-type": [{"wildcard": "*Warning"}]}, False),
        ({"resources": [{"wildcard": "arn:aws:ec2:*:instance/i-*"}]}, True),
        ({"resources": [{"wildcard": "arn:aws:ec2:us-west-2:*"}]}, False),
    ],
)
def test_string_operators(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


def test_wildcard_escapes_match_literal_star_and_backslash() -> None:
    event = detail(path="C:\\tmp\\*.log")
    assert matches(detail(path=[{"wildcard": "C:\\\\tmp\\\\\\*.log"}]), event) is True
    assert matches(detail(path=[{"wildcard": "C:\\\\tmp\\\\\\*.txt"}]), event) is False
    # An escaped star is a star, not "anything".
    assert matches(detail(path=[{"wildcard": "C:\\\\tmp\\\\\\*"}]), detail(path="C:\\tmp\\x")) is False


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (detail(state=[{"anything-but": "initializing"}]), True),
        (detail(state=[{"anything-but": "running"}]), False),
        (detail(state=[{"anything-but": ["stopped", "overloaded"]}]), True),
        (detail(state=[{"anything-but": ["stopped", "running"]}]), False),
        (detail(**{"x-limit": [{"anything-but": 123}]}), True),
        (detail(**{"x-limit": [{"anything-but": [100, 301.8]}]}), False),
        (detail(state=[{"anything-but": {"prefix": "init"}}]), True),
        (detail(state=[{"anything-but": {"prefix": "run"}}]), False),
        (detail(FileName=[{"anything-but": {"suffix": ".PNG"}}]), False),
        (detail(FileName=[{"anything-but": {"suffix": ".jpg"}}]), True),
        (detail(state=[{"anything-but": {"equals-ignore-case": "RUNNING"}}]), False),
        (detail(state=[{"anything-but": {"equals-ignore-case": ["STOPPED", "PENDING"]}}]), True),
        (detail(FileName=[{"anything-but": {"wildcard": "*.PNG"}}]), False),
        (detail(FileName=[{"anything-but": {"wildcard": "*/lib/*"}}]), True),
        # anything-but never matches a field that is not there
        (detail(absent=[{"anything-but": "x"}]), False),
        # with an array, one element outside the excluded set is enough
        (detail(tags=[{"anything-but": "prod"}]), True),
        (detail(tags=[{"anything-but": ["prod", "eks"]}]), False),
    ],
)
def test_anything_but(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (detail(**{"c-count": [{"numeric": [">", 0, "<=", 5]}]}), True),
        (detail(**{"c-count": [{"numeric": [">", 0, "<", 5]}]}), False),
        (detail(**{"d-count": [{"numeric": ["<", 10]}]}), True),
        (detail(**{"d-count": [{"numeric": [">=", 3]}]}), True),
        (detail(**{"d-count": [{"numeric": [">", 3]}]}), False),
        (detail(**{"x-limit": [{"numeric": ["=", 3.018e2]}]}), True),
        (detail(**{"x-limit": [{"numeric": ["=", 301.9]}]}), False),
        # numeric matches JSON numbers only
        (detail(state=[{"numeric": [">", 0]}]), False),
        (detail(flag=[{"numeric": ["=", 1]}]), False),
        (detail(**{"source-ip": [{"cidr": "10.0.0.0/24"}]}), True),
        (detail(**{"source-ip": [{"cidr": "10.0.1.0/24"}]}), False),
        (detail(**{"source-ip": [{"cidr": "2001:db8::/32"}]}), False),
    ],
)
def test_numeric_and_cidr(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (detail(**{"c-count": [{"exists": True}]}), True),
        (detail(**{"c-count": [{"exists": False}]}), False),
        (detail(absent=[{"exists": False}]), True),
        (detail(absent=[{"exists": True}]), False),
        # a null or empty-string value is still present
        (detail(nothing=[{"exists": True}]), True),
        (detail(empty=[{"exists": True}]), True),
        # exists is for leaves: an object at that path is no value (event-ruler README)
        (detail(nested=[{"exists": False}]), True),
        (detail(nested=[{"exists": True}]), False),
        # a missing parent means a missing leaf
        ({"missing": {"leaf": [{"exists": False}]}}, True),
        ({"missing": {"leaf": [{"exists": True}]}}, False),
        # exists may be ORed with values
        (detail(absent=["x", {"exists": False}]), True),
    ],
)
def test_exists(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


def test_or_combines_alternatives_at_one_level() -> None:
    either = {"source": ["aws.ec2"], "$or": [{"detail-type": ["nope"]}, {"detail": {"state": ["running"]}}]}
    neither = {"$or": [{"detail-type": ["nope"]}, {"detail": {"state": ["stopped"]}}]}
    nested = {"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"d-count": [3]}]}}
    assert matches(either, EVENT) is True
    assert matches(neither, EVENT) is False
    assert matches(nested, EVENT) is True


def test_a_cloudtrail_shaped_pattern() -> None:
    pattern = {
        "source": ["aws.eks"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["eks.amazonaws.com"], "errorCode": [{"exists": False}]},
    }
    ok = {
        "source": "aws.eks",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventSource": "eks.amazonaws.com"},
    }
    failed = {**ok, "detail": {"eventSource": "eks.amazonaws.com", "errorCode": "AccessDeniedException"}}
    assert matches(pattern, ok) is True
    assert matches(pattern, failed) is False


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({}, "empty pattern"),
        ({"source": "aws.ec2"}, "must be arrays or objects"),
        ({"source": []}, "empty array"),
        ({"source": [{"prefix": "a", "suffix": "b"}]}, "exactly one operator"),
        ({"source": [{"contains": "ec2"}]}, "unsupported operator 'contains'"),
        ({"source": [{"prefix": 5}]}, "prefix takes a string"),
        ({"source": [{"exists": "yes"}]}, "exists takes true or false"),
        ({"n": [{"numeric": [">", "5"]}]}, "bad numeric comparison"),
        ({"n": [{"numeric": ["!=", 5]}]}, "bad numeric comparison"),
        ({"n": [{"numeric": ["=", 5, "<", 6]}]}, "'=' cannot be combined"),
        ({"n": [{"numeric": [">", 5, "<"]}]}, "numeric takes"),
        ({"s": [{"anything-but": ["a", 1]}]}, "only strings or only numbers"),
        ({"s": [{"anything-but": {"numeric": [">", 1]}}]}, "does not support 'numeric'"),
        ({"s": [{"wildcard": "a**b"}]}, "consecutive"),
        ({"s": [{"wildcard": "a\\b"}]}, "may be escaped"),
        ({"ip": [{"cidr": "10.0.0.300/8"}]}, "invalid cidr"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_invalid_patterns_are_rejected(pattern: Any, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        validate(pattern)
    with pytest.raises(PatternError):
        matches(pattern, EVENT)


RULES_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Conditions:
  Always: !Equals [!Ref AWS::Region, !Ref AWS::Region]
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Dlq:
    Type: AWS::SQS::Queue
  SpotRule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.ec2]
        detail-type: [EC2 Spot Instance Interruption Warning]
      Targets:
        - Id: q
          Arn: !GetAtt Queue.Arn
          RetryPolicy: {MaximumRetryAttempts: 2}
          DeadLetterConfig:
            Arn: !GetAtt [Dlq, Arn]
  Disabled:
    Type: AWS::Events::Rule
    Properties:
      State: DISABLED
      EventPattern: {source: [aws.ec2]}
      Targets: [{Id: q, Arn: !Sub "${Queue.Arn}"}]
  Nightly:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 day)
      Targets: [{Id: q, Arn: !Ref Queue}]
"""


def test_load_rules_reads_patterns_and_targets_through_cloudformation_tags(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(RULES_TEMPLATE, encoding="utf-8")

    rules = load_rules(path)

    assert list(rules) == ["SpotRule", "Disabled"]
    spot = rules["SpotRule"]
    assert spot.pattern == {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]}
    assert spot.targets == (
        Target(
            id="q",
            arn={"Fn::GetAtt": ["Queue", "Arn"]},
            resource="Queue",
            retry_policy={"MaximumRetryAttempts": 2},
            dead_letter_resource="Dlq",
        ),
    )
    assert rules["Disabled"].targets[0].resource is None  # a Sub is not a plain reference
    warning = {"source": "aws.ec2", "detail-type": "EC2 Spot Instance Interruption Warning"}
    # A disabled rule delivers nothing.
    assert matching_rules(rules, warning) == ["SpotRule"]
    assert matching_rules(rules, {"source": "aws.eks", "detail-type": "x"}) == []


def test_load_rules_rejects_an_invalid_pattern_in_the_template(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  Bad:\n    Type: AWS::Events::Rule\n    Properties:\n"
        "      EventPattern: {source: aws.ec2}\n",
        encoding="utf-8",
    )
    with pytest.raises(PatternError, match="'source': values in a pattern must be arrays"):
        load_rules(path)
