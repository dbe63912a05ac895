"""A check's metadata and the outcome of evaluating it against one resource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field, model_validator

from eks_auditor.model.frozen import FrozenModel
from eks_auditor.model.part import Part

if TYPE_CHECKING:
    from eks_auditor.model.pipeline import PipelineSnapshot
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


CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"


class Event(FrozenModel):
    """An EventBridge event that can change a check's verdict.

    A CloudTrail-recorded API call is its source and eventName (`Event("aws.eks", "UpdateClusterConfig")`);
    any other event is its source and detail-type, with no name.
    """

    source: str
    name: str | None = None
    detail_type: str = CLOUDTRAIL_DETAIL_TYPE

    def __init__(self, source: str, name: str | None = None, **data: Any) -> None:
        super().__init__(source=source, name=name, **data)

    @property
    def label(self) -> str:
        return f"{self.source}:{self.name or self.detail_type}"


class CheckKind(StrEnum):
    """Who produces a check's outcomes. Only SNAPSHOT checks are run by the engine on a snapshot."""

    SNAPSHOT = "snapshot"
    # Born of an EventBridge event (spot interruption notices), produced by eks_auditor.spot.
    EVENT = "event"
    # Recorded by the engine itself (audit_incomplete: another check could not run).
    ENGINE = "engine"
    # Run on a PipelineSnapshot of one account-region (the auditor's own pipeline), cluster "-".
    ACCOUNT_REGION = "account_region"


class CheckSpec(FrozenModel):
    """Typed metadata beside each check function: the one declaration the catalog is derived from."""

    id: str
    title: str
    severity: Severity
    description: str
    remediation: str
    references: tuple[str, ...]
    kind: CheckKind = CheckKind.SNAPSHOT
    # Where outcomes carry other severities than `severity`: how they are chosen, in a few words.
    severity_rule: str | None = None
    # Parts the check reads. When one of them could not be collected the engine records ERROR instead of
    # running the check, so the check itself never asks whether they were collected.
    requires: tuple[Part, ...] = (Part.CLUSTER,)
    # Parts of which one is enough: the collector fetches all of them, the engine runs the check when
    # any was collected, and the check itself reports (ERROR) what it could not read.
    requires_any: tuple[Part, ...] = ()
    # Parts read for some resources only: fetched with the others, never a reason to skip the check;
    # the check reports ERROR for the resources that needed a part that is missing.
    reads: tuple[Part, ...] = ()
    # The events that can change the verdict; the event router re-runs the check on each of them.
    events: tuple[Event, ...] = ()
    # Parts (or what of a part the check reads) that no routed event reports, each with why: changed only
    # through the Kubernetes API, by the passage of time, or never after the cluster is created. Only the
    # schedule re-reads them. The catalog walk accepts a part without events only when it is named here.
    schedule_only: Mapping[Part, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _schedule_only_names_parts_read(self) -> CheckSpec:
        stray = sorted(set(self.schedule_only) - set(self.parts))
        if stray:
            raise ValueError(f"{self.id}: schedule_only names parts the check does not read: {stray}")
        blank = sorted(part for part, why in self.schedule_only.items() if not why.strip())
        if blank:
            raise ValueError(f"{self.id}: schedule_only needs a reason for {blank}")
        return self

    @property
    def parts(self) -> tuple[Part, ...]:
        return tuple(dict.fromkeys((*self.requires, *self.requires_any, *self.reads)))

    @property
    def severity_label(self) -> str:
        return self.severity_rule or self.severity.value

    @property
    def permissions(self) -> tuple[str, ...]:
        """The IAM actions collecting this check's parts calls."""
        # The table belongs to the collectors, which make the calls; imported here so that the model does
        # not depend on collect at import time.
        from eks_auditor.collect.permissions import permissions_for

        return permissions_for(self.parts)


class Outcome(FrozenModel):
    """The result of one check on one resource. `severity` may differ from the spec's default."""

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
RegionCheckFunction = Callable[["PipelineSnapshot"], list[Outcome]]


class Check(FrozenModel):
    """A registry entry: the spec and the pure function that evaluates it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    spec: CheckSpec
    # None for EVENT and ENGINE checks: their outcomes are not computed from a snapshot.
    run: CheckFunction | None = None
    # ACCOUNT_REGION checks only: the function over a PipelineSnapshot.
    run_region: RegionCheckFunction | None = None

    @model_validator(mode="after")
    def _run_matches_kind(self) -> Check:
        if (self.run is not None) != (self.spec.kind is CheckKind.SNAPSHOT):
            raise ValueError(f"{self.spec.id}: only a snapshot check has a run function ({self.spec.kind})")
        if (self.run_region is not None) != (self.spec.kind is CheckKind.ACCOUNT_REGION):
            raise ValueError(f"{self.spec.id}: only an account-region check has a run_region function")
        return self

    def evaluate(self, snapshot: ClusterSnapshot) -> list[Outcome]:
        if self.run is None:
            raise TypeError(f"{self.spec.id} is a {self.spec.kind} check: it does not run on a snapshot")
        return self.run(snapshot)

    def evaluate_region(self, snapshot: PipelineSnapshot) -> list[Outcome]:
        if self.run_region is None:
            raise TypeError(
                f"{self.spec.id} is a {self.spec.kind} check: it does not run on an account-region"
            )
        return self.run_region(snapshot)


def fail(spec: CheckSpec, resource: str, *, evidence: Mapping[str, Any], **overrides: Any) -> Outcome:
    """A FAIL outcome; `overrides` may set severity, title, description, remediation."""
    return Outcome(check_id=spec.id, resource=resource, result=Result.FAIL, evidence=evidence, **overrides)


def passed(spec: CheckSpec, resource: str, *, evidence: Mapping[str, Any] | None = None) -> Outcome:
    return Outcome(check_id=spec.id, resource=resource, result=Result.PASS, evidence=evidence or {})


def not_applicable(spec: CheckSpec, resource: str, reason: str) -> Outcome:
    return Outcome(check_id=spec.id, resource=resource, result=Result.NOT_APPLICABLE, reason=reason)


class PartNotCollected(LookupError):
    """A check read a part the engine did not gate on: the check's declaration misses that part."""


def collected[T](value: T | None, part: Part) -> T:
    """The value of a part the check `requires`, typed as present.

    The engine runs a check only when its required parts were collected, so None here means the check
    reads a part it does not declare (or was called outside the engine): a bug, reported as ERROR.
    """
    if value is None:
        raise PartNotCollected(f"{part} was not collected; declare it in the check's `requires`")
    return value


def could_not_evaluate(spec: CheckSpec, resource: str, reason: str) -> Outcome:
    return Outcome(check_id=spec.id, resource=resource, result=Result.ERROR, reason=reason)


def _resolve_forward_refs() -> None:
    # `Check.run` names ClusterSnapshot (`run_region` PipelineSnapshot), imported here only for type
    # checkers. Resolve them once, so that a
    # Check can be built anywhere (pydantic otherwise looks the name up in the caller's frame, which
    # fails inside a factory function).
    from eks_auditor.model.pipeline import PipelineSnapshot
    from eks_auditor.model.snapshot import ClusterSnapshot

    Check.model_rebuild(
        _types_namespace={"ClusterSnapshot": ClusterSnapshot, "PipelineSnapshot": PipelineSnapshot}
    )


_resolve_forward_refs()
