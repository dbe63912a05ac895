"""EventBridge event patterns, evaluated locally, and the rules of template.yaml that use them.

`matches` follows the EventBridge user guide ("Content filtering in event patterns", "Arrays in
event patterns", "Comparison operators") and aws/event-ruler's README, which is the engine behind it:
values in a pattern are arrays (any of), keys are ANDed, an event array matches when its
intersection with the pattern array is non-empty, objects inside event arrays are matched one
element at a time, and comparison operators apply to leaves only (except `$or` and `anything-but`).
`replay` and the demo route sample events through the template's own patterns with it, so what the
CLI shows is what the deployed rules would deliver.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml


class PatternError(ValueError):
    """The pattern is not one EventBridge would accept (or uses an operator we do not support)."""


_ABSENT: Any = object()

_NUMERIC_OPERATORS = frozenset({"<", "<=", "=", ">", ">="})
_STRING_OPERATORS = ("prefix", "suffix", "equals-ignore-case", "wildcard")


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when EventBridge would deliver `event` to a rule with `pattern`. Raises PatternError."""
    validate(pattern)
    return _match_object(pattern, event)


def validate(pattern: Mapping[str, Any]) -> None:
    """Raise PatternError for what EventBridge's PutRule would reject."""
    if not isinstance(pattern, Mapping):
        raise PatternError(f"an event pattern is a JSON object, not {type(pattern).__name__}")
    if not pattern:
        raise PatternError("an empty pattern object matches nothing useful and is rejected")
    for key, value in pattern.items():
        if key == "$or" and _is_or(value):
            for branch in value:
                validate(branch)
        elif isinstance(value, Mapping):
            validate(value)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"{key!r}: an empty array matches nothing")
            for element in value:
                _validate_leaf(key, element)
        else:
            raise PatternError(f"{key!r}: values in a pattern must be arrays or objects, got {value!r}")


def _is_or(value: Any) -> bool:
    # event-ruler treats "$or" as the OR primitive only for an array of 2+ objects.
    return isinstance(value, list) and len(value) >= 2 and all(isinstance(v, Mapping) for v in value)


def _validate_leaf(key: str, element: Any) -> None:
    if element is None or isinstance(element, (str, bool, int, float)):
        return
    if not isinstance(element, Mapping) or len(element) != 1:
        raise PatternError(f"{key!r}: a filter is an object with exactly one operator, got {element!r}")
    ((operator, operand),) = element.items()
    if operator in ("prefix", "suffix"):
        _validate_string_operand(key, operator, operand, allow_ignore_case=True)
    elif operator == "equals-ignore-case":
        _validate_string_operand(key, operator, operand, allow_ignore_case=False)
    elif operator == "wildcard":
        _validate_string_operand(key, operator, operand, allow_ignore_case=False)
        _wildcard_regex(operand)
    elif operator == "exists":
        if not isinstance(operand, bool):
            raise PatternError(f"{key!r}: exists takes true or false, got {operand!r}")
    elif operator == "numeric":
        _numeric_bounds(key, operand)
    elif operator == "cidr":
        try:
            ipaddress.ip_network(operand, strict=False)
        except (TypeError, ValueError) as exc:
            raise PatternError(f"{key!r}: invalid cidr {operand!r}") from exc
    elif operator == "anything-but":
        _validate_anything_but(key, operand)
    else:
        raise PatternError(f"{key!r}: unsupported operator {operator!r}")


def _validate_string_operand(key: str, operator: str, operand: Any, *, allow_ignore_case: bool) -> None:
    if isinstance(operand, str):
        return
    if (
        allow_ignore_case
        and isinstance(operand, Mapping)
        and set(operand) == {"equals-ignore-case"}
        and isinstance(operand["equals-ignore-case"], str)
    ):
        return
    raise PatternError(f"{key!r}: {operator} takes a string, got {operand!r}")


def _validate_anything_but(key: str, operand: Any) -> None:
    if isinstance(operand, Mapping):
        if len(operand) != 1:
            raise PatternError(f"{key!r}: anything-but takes one nested operator, got {operand!r}")
        ((operator, inner),) = operand.items()
        if operator not in _STRING_OPERATORS:
            raise PatternError(f"{key!r}: anything-but does not support {operator!r}")
        values = (
            inner if isinstance(inner, list) and operator in ("equals-ignore-case", "wildcard") else [inner]
        )
        for value in values:
            if not isinstance(value, str):
                raise PatternError(f"{key!r}: anything-but/{operator} takes strings, got {value!r}")
            if operator == "wildcard":
                _wildcard_regex(value)
        return
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        raise PatternError(f"{key!r}: anything-but with an empty list")
    all_strings = all(isinstance(v, str) for v in values)
    all_numbers = all(_is_number(v) for v in values)
    if not (all_strings or all_numbers):
        raise PatternError(f"{key!r}: anything-but lists hold only strings or only numbers, got {operand!r}")


def _numeric_bounds(key: str, operand: Any) -> list[tuple[str, float]]:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise PatternError(f"{key!r}: numeric takes [op, n] or [op, n, op, n], got {operand!r}")
    bounds: list[tuple[str, float]] = []
    for index in range(0, len(operand), 2):
        operator, number = operand[index], operand[index + 1]
        if operator not in _NUMERIC_OPERATORS or not _is_number(number):
            raise PatternError(f"{key!r}: bad numeric comparison {operator!r} {number!r}")
        bounds.append((operator, float(number)))
    if len(bounds) == 2 and "=" in (bounds[0][0], bounds[1][0]):
        raise PatternError(f"{key!r}: '=' cannot be combined with another comparison")
    return bounds


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- matching -------------------------------------------------------------------------------------


def _match_object(pattern: Mapping[str, Any], node: Any) -> bool:
    fields = node if isinstance(node, Mapping) else {}
    for key, expected in pattern.items():
        if key == "$or" and _is_or(expected):
            if not any(_match_object(branch, node) for branch in expected):
                return False
        elif isinstance(expected, Mapping):
            if not _match_nested(expected, fields.get(key, _ABSENT)):
                return False
        elif not _match_leaf(expected, _leaf_values(fields.get(key, _ABSENT))):
            return False
    return True


def _match_nested(pattern: Mapping[str, Any], value: Any) -> bool:
    # Objects inside an event array are matched one element at a time (event-ruler's
    # "array-consistent" matching): two fields must hold in the same element.
    elements = [v for v in _flatten(value) if isinstance(v, Mapping)]
    if not elements:
        return _match_object(pattern, {})
    return any(_match_object(pattern, element) for element in elements)


def _leaf_values(value: Any) -> list[Any]:
    """The scalar values at a leaf: arrays are crushed, objects are not values (exists is leaf-only)."""
    if value is _ABSENT:
        return []
    return [v for v in _flatten(value) if not isinstance(v, Mapping)]


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    elif value is not _ABSENT:
        yield value


def _match_leaf(filters: Sequence[Any], values: list[Any]) -> bool:
    for element in filters:
        if isinstance(element, Mapping) and "exists" in element:
            if bool(values) == element["exists"]:
                return True
        elif any(_match_value(element, value) for value in values):
            return True
    return False


def _match_value(element: Any, value: Any) -> bool:
    if not isinstance(element, Mapping):
        return _equal(element, value)
    ((operator, operand),) = element.items()
    if operator == "anything-but":
        return _anything_but(operand, value)
    if operator == "numeric":
        return _is_number(value) and all(
            _compare(value, op, bound) for op, bound in _numeric_bounds("numeric", operand)
        )
    if operator == "cidr":
        return _in_cidr(operand, value)
    if not isinstance(value, str):
        return False
    return _string_match(operator, operand, value)


def _equal(expected: Any, value: Any) -> bool:
    # JSON types are distinct: "1" is not 1, true is not 1, and null matches only null.
    if expected is None or value is None:
        return expected is None and value is None
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected == value
    if _is_number(expected) and _is_number(value):
        return float(expected) == float(value)
    return isinstance(expected, str) and isinstance(value, str) and expected == value


def _string_match(operator: str, operand: Any, value: str) -> bool:
    if operator in ("prefix", "suffix"):
        if isinstance(operand, Mapping):
            operand, value = operand["equals-ignore-case"].casefold(), value.casefold()
        return value.startswith(operand) if operator == "prefix" else value.endswith(operand)
    if operator == "equals-ignore-case":
        return bool(value.casefold() == operand.casefold())
    if operator == "wildcard":
        return _wildcard_regex(operand).fullmatch(value) is not None
    raise PatternError(f"unsupported operator {operator!r}")


def _anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, Mapping):
        ((operator, inner),) = operand.items()
        if not isinstance(value, str):
            return True
        candidates = inner if isinstance(inner, list) else [inner]
        return not any(_string_match(operator, candidate, value) for candidate in candidates)
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_equal(candidate, value) for candidate in excluded)


def _compare(value: float, operator: str, bound: float) -> bool:
    if operator == "<":
        return value < bound
    if operator == "<=":
        return value <= bound
    if operator == "=":
        return value == bound
    if operator == ">":
        return value > bound
    return value >= bound


def _in_cidr(cidr: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


@lru_cache(maxsize=256)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    # event-ruler: "*" is any run of characters, "\*" a literal star, "\\" a literal backslash;
    # "**" and any other escape are rejected.
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            following = pattern[index + 1 : index + 2]
            if following not in ("*", "\\"):
                raise PatternError(f"wildcard {pattern!r}: only '*' and '\\' may be escaped")
            parts.append(re.escape(following))
            index += 2
            continue
        if char == "*":
            if pattern[index + 1 : index + 2] == "*":
                raise PatternError(f"wildcard {pattern!r}: consecutive '*' are not allowed")
            parts.append(".*")
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


# --- the template's rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One target of a rule, with the logical ids its ARNs point at (None when not a GetAtt/Ref)."""

    id: str
    arn: Any
    resource: str | None
    retry_policy: Mapping[str, Any] | None
    dead_letter_resource: str | None


@dataclass(frozen=True)
class Rule:
    name: str  # the rule's logical id in template.yaml
    pattern: Mapping[str, Any]
    targets: tuple[Target, ...]
    enabled: bool = True

    def matches(self, event: Mapping[str, Any]) -> bool:
        return self.enabled and matches(self.pattern, event)


class _CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def load_template(template_path: str | Path) -> dict[str, Any]:
    """template.yaml as plain data, short-form intrinsics turned into their long form."""
    with Path(template_path).open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_CloudFormationLoader)
    if not isinstance(document, dict):
        raise ValueError(f"{template_path}: not a CloudFormation template")
    return document


def load_rules(template_path: str | Path) -> dict[str, Rule]:
    """Every AWS::Events::Rule with an EventPattern on the default bus, by logical id.

    Rules on another bus (the organization bus's forwarding rule) never see an event put on the default
    bus; what they forward there meets these rules.
    """
    resources = load_template(template_path).get("Resources") or {}
    rules: dict[str, Rule] = {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, Mapping) or resource.get("Type") != "AWS::Events::Rule":
            continue
        properties = resource.get("Properties") or {}
        pattern = properties.get("EventPattern")
        if pattern is None or properties.get("EventBusName") not in (None, "default"):
            continue  # a ScheduleExpression rule
        if not isinstance(pattern, Mapping):
            raise PatternError(f"{logical_id}: EventPattern must be an object in the template")
        validate(pattern)
        rules[logical_id] = Rule(
            name=logical_id,
            pattern=pattern,
            targets=tuple(_target(t) for t in properties.get("Targets") or ()),
            enabled=properties.get("State", "ENABLED") == "ENABLED",
        )
    return rules


def matching_rules(rules: Mapping[str, Rule], event: Mapping[str, Any]) -> list[str]:
    """The logical ids of the rules that would deliver `event`, in template order."""
    return [name for name, rule in rules.items() if rule.matches(event)]


def _target(raw: Mapping[str, Any]) -> Target:
    dead_letter = raw.get("DeadLetterConfig") or {}
    return Target(
        id=str(raw.get("Id", "")),
        arn=raw.get("Arn"),
        resource=_referenced_resource(raw.get("Arn")),
        retry_policy=raw.get("RetryPolicy"),
        dead_letter_resource=_referenced_resource(dead_letter.get("Arn")),
    )


def _referenced_resource(expression: Any) -> str | None:
    if isinstance(expression, Mapping):
        if "Fn::GetAtt" in expression:
            target = expression["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Ref" in expression:
            return str(expression["Ref"])
    return None
