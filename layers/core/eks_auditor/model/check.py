"""A check's metadata and the outcome of evaluating it against one resource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from eks_auditor.model.snapshot import ClusterSnapshot


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    INFO = "INFO"

    @property
    def rank(self) -> int:
        """Higher is worse: CRITICAL 4 ... INFO 0."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class Result(StrEnum):
    """How one evaluation of one check on one resource ended. ERROR is never a pass."""

    FAIL = "FAIL"
    PASS = "PASS"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    ERROR = "ERROR"


class CheckSpec(BaseModel):
    """Typed metadata beside each check function."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    severity: Severity
    description: str
    remediation: str
    references: tuple[str, ...]
    # Snapshot parts the check reads (e.g. "cluster", "network", "nodegroups", "kubernetes").
    # When one of them could not be collected the engine records ERROR instead of running the check.
    requires: tuple[str, ...] = ("cluster",)
    # Parts of which one is enough: the collector fetches all of them, the engine runs the check when
    # any was collected, and the check itself reports (ERROR) what it could not read.
    requires_any: tuple[str, ...] = ()
    # Parts read for some resources only: fetched with the others, never a reason to skip the check;
    # the check reports ERROR for the resources that needed a part that is missing.
    reads: tuple[str, ...] = ()


class Outcome(BaseModel):
    """The result of one check on one resource. `severity` may differ from the spec's default."""

    model_config = ConfigDict(frozen=True)

    check_id: str
    resource: str
    result: Result
    severity: Severity | None = None
    title: str | None = None
    description: str | None = None
    evidence: Mapping[str, Any] = Field(default_factory=dict)
    remediation: str | None = None
    reason: str | None = None


CheckFunction = Callable[["ClusterSnapshot"], list[Outcome]]


class Check(BaseModel):
    """A registry entry: the spec and the pure function that evaluates it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    spec: CheckSpec
    run: CheckFunction


def fail(spec: CheckSpec, resource: str, *, evidence: Mapping[str, Any], **overrides: Any) -> Outcome:
    """A FAIL outcome; `overrides` may set severity, title, description, remediation."""
    return Outcome(check_id=spec.id, resource=resource, result=Result.FAIL, evidence=evidence, **overrides)


def passed(spec: CheckSpec, resource: str, *, evidence: Mapping[str, Any] | None = None) -> Outcome:
    return Outcome(check_id=spec.id, resource=resource, result=Result.PASS, evidence=evidence or {})


def not_applicable(spec: CheckSpec, resource: str, reason: str) -> Outcome:
    return Outcome(check_id=spec.id, resource=resource, result=Result.NOT_APPLICABLE, reason=reason)


def could_not_evaluate(spec: CheckSpec, resource: str, reason: str) -> Outcome:
    return Outcome(check_id=spec.id, resource=resource, result=Result.ERROR, reason=reason)


def _resolve_forward_refs() -> None:
    # `Check.run` names ClusterSnapshot, imported here only for type checkers. Resolve it once, so that a
    # Check can be built anywhere (pydantic otherwise looks the name up in the caller's frame, which
    # fails inside a factory function).
    from eks_auditor.model.snapshot import ClusterSnapshot

    Check.model_rebuild(_types_namespace={"ClusterSnapshot": ClusterSnapshot})


_resolve_forward_refs()
