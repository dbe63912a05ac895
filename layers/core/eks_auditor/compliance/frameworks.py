"""Compliance frameworks as data: which controls each check evidences, and how fully.

One file per framework and version under eks_auditor/data/frameworks/ (a new benchmark version is a new
file, not a code change). Each control has an id, a short title of our own (never the benchmark's text) and
its source URL, and names the checks that evidence it:

- `full`: a FAIL of the check is a failure of the control, and the control's full checks passing together
  is the control's exact pass condition (CIS 5.4.1: the endpoint is not open to the world AND private access
  is on). Only full checks decide a control's verdict.
- `partial`: the check tests part of the control, or a neighbouring condition. Shown beside the control and
  carried in exports, never turned into a verdict: a control is never PASS by approximation. A control with
  no full check is NOT_ASSESSED.

Every check of the catalog is named in every framework file, under a control or in `no_controls` (the
checks that evidence no control of that framework): a check without a mapping decision fails a test.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Mapping
from enum import StrEnum

from pydantic import Field

from eks_auditor.model.frozen import FrozenModel


class Coverage(StrEnum):
    FULL = "full"
    PARTIAL = "partial"


class Control(FrozenModel):
    id: str
    title: str = Field(max_length=40)  # short, our own words: never the benchmark text
    url: str
    checks: dict[str, Coverage] = Field(default_factory=dict)

    @property
    def full_checks(self) -> tuple[str, ...]:
        return tuple(check for check, coverage in self.checks.items() if coverage is Coverage.FULL)

    @property
    def assessed(self) -> bool:
        """Some check tests the control's exact condition; else it is NOT_ASSESSED."""
        return bool(self.full_checks)


class Framework(FrozenModel):
    id: str  # versioned: cis-eks-1.7
    family: str  # what --framework names: cis-eks (its latest version)
    name: str
    version: str
    source: str
    scope: str
    controls: tuple[Control, ...]
    no_controls: tuple[str, ...]

    def control(self, control_id: str) -> Control:
        return next(control for control in self.controls if control.id == control_id)

    def mapped_checks(self) -> set[str]:
        return {check for control in self.controls for check in control.checks}


class ControlRef(FrozenModel):
    """One control a check evidences, as exports name it: `cis-eks-1.7:5.4.1`."""

    framework: str
    control: str
    title: str
    url: str
    coverage: Coverage

    @property
    def label(self) -> str:
        return f"{self.framework}:{self.control}"


FRAMEWORK_FILES = ("cis-eks-1.7.json", "fsbp.json")


@functools.cache
def frameworks() -> tuple[Framework, ...]:
    """Every packaged framework, in FRAMEWORK_FILES order."""
    root = importlib.resources.files("eks_auditor").joinpath("data/frameworks")
    return tuple(
        Framework.model_validate(json.loads(root.joinpath(name).read_text("utf-8")))
        for name in FRAMEWORK_FILES
    )


def framework(name: str) -> Framework:
    """A framework by versioned id (cis-eks-1.7) or family (cis-eks: its latest version)."""
    exact = [f for f in frameworks() if f.id == name]
    if exact:
        return exact[0]
    family = [f for f in frameworks() if f.family == name]
    if not family:
        known = sorted({f.family for f in frameworks()} | {f.id for f in frameworks()})
        raise KeyError(f"unknown framework {name!r}; known: {', '.join(known)}")
    return max(family, key=lambda f: tuple(int(part) for part in f.version.split(".")))


def family_names() -> list[str]:
    return sorted({f.family for f in frameworks()})


@functools.cache
def _controls_by_check() -> dict[str, tuple[ControlRef, ...]]:
    by_check: dict[str, list[ControlRef]] = {}
    for f in frameworks():
        for control in f.controls:
            for check, coverage in control.checks.items():
                ref = ControlRef(
                    framework=f.id,
                    control=control.id,
                    title=control.title,
                    url=control.url,
                    coverage=coverage,
                )
                by_check.setdefault(check, []).append(ref)
    return {check: tuple(refs) for check, refs in by_check.items()}


def controls_of(check_id: str) -> tuple[ControlRef, ...]:
    """The controls `check_id` evidences, fully or partially, in every framework (empty: none)."""
    return _controls_by_check().get(check_id, ())


def finding_controls(check_id: str, evidence: Mapping[str, object]) -> tuple[ControlRef, ...]:
    """The controls a finding speaks to: its check's, or for audit_incomplete those of the check that could
    not run (its evidence names it): the control is then unknown, which exports say (NOT_AVAILABLE)."""
    if check_id == "audit_incomplete":
        owner = evidence.get("check_id")
        return controls_of(owner) if isinstance(owner, str) else ()
    return controls_of(check_id)


def requirement_labels(check_id: str, evidence: Mapping[str, object]) -> list[str]:
    """`framework:control` of every control a finding speaks to: `["cis-eks-1.7:5.4.2", "fsbp:EKS.1"]`."""
    return [ref.label for ref in finding_controls(check_id, evidence)]


def requirements_by_framework(check_id: str, evidence: Mapping[str, object]) -> dict[str, list[str]]:
    """The same, grouped by framework id, as Prowler's `unmapped.compliance` writes it."""
    grouped: dict[str, list[str]] = {}
    for ref in finding_controls(check_id, evidence):
        grouped.setdefault(ref.framework, []).append(ref.control)
    return grouped
