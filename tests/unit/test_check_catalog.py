"""The check catalog's contract: ids, metadata, purity, and FAIL + PASS coverage of every registered check.

COVERAGE CONVENTION -- every test module that tests a registered check follows it:

    # tests/unit/test_checks_<area>.py
    from eks_auditor.model.check import Result

    COVERAGE = [
        ("<check_id>", Result.FAIL, build_failing_snapshot),
        ("<check_id>", Result.PASS, build_passing_snapshot),
        # optional: Result.NOT_APPLICABLE / Result.ERROR rows
    ]

- `COVERAGE` is a module-level list (or tuple) of (check id, expected Result, zero-argument callable that
  returns a ClusterSnapshot). Put it in any tests/unit/test_*.py; rows from all modules are merged.
- `test_coverage_rows_hold` imports every tests/unit/test_*.py, runs each row's snapshot through the
  registered check behind the engine's gate (`snapshots.run`: a required part that is missing is ERROR
  there, never in the check) and requires an outcome with that result, so a row is a claim that is
  executed, not a label.
- `test_every_registered_check_has_fail_and_pass_coverage` fails (never skips) for any registered check
  without at least one FAIL row and one PASS row. Register a check and add its rows in the same commit.
- The module's own tests still assert the exact outcomes (resource, severity, evidence); the rows only
  prove coverage. `tests/unit/snapshots.py` has a healthy base snapshot and helpers to derive variants.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import eks_auditor
import pytest
from eks_auditor.checks import registry
from eks_auditor.model.check import CLOUDTRAIL_DETAIL_TYPE, Check, CheckKind, Result
from eks_auditor.model.part import SNAPSHOT_PARTS, Part
from eks_auditor.model.snapshot import ClusterSnapshot
from snapshots import run

UNIT_TESTS = Path(__file__).resolve().parent
PACKAGE = Path(eks_auditor.__file__).resolve().parent
DESIGN_MD = UNIT_TESTS.parents[2] / "shared" / "DESIGN.md"  # CI clones main with shared/ beside it

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
FORBIDDEN_IMPORTS = frozenset({"boto3", "botocore", "aws_lambda_powertools"})

Row = tuple[str, Result, Callable[[], ClusterSnapshot]]


def _registered() -> list[Check]:
    return list(registry.CHECKS.values())


def _load(path: Path) -> ModuleType:
    """The test module at `path`: the one pytest already imported, else a private import by path.

    By path, not by name: tests/functional may hold a module with the same basename earlier on sys.path.
    """
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() == path:
            return module
    spec = importlib.util.spec_from_file_location(f"_coverage_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _coverage_rows() -> Iterator[tuple[str, Row]]:
    for path in sorted(UNIT_TESTS.glob("test_*.py")):
        for row in getattr(_load(path), "COVERAGE", ()):
            yield path.stem, row


# --- ids ---------------------------------------------------------------------------------------------


def _table_rows(markdown: str, heading: str) -> dict[str, str]:
    """`| `id` | ... | last column |` rows of the section under `heading`: id -> last column."""
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \|.*\| ([^|]+?) \|$", section, flags=re.MULTILINE)
    return dict(rows)


def _design_ids(markdown: str) -> tuple[set[str], set[str]]:
    """DESIGN.md's "Check ids" table, and the ids its "Ids that open work adds" list names."""
    section = markdown.split("### Check ids", 1)[1].split("\n## ", 1)[0]
    table = set(_table_rows(section, "| id |"))
    planned = section.split("Ids that open work adds", 1)[1] if "Ids that open work adds" in section else ""
    listed = set(re.findall(r"^- (.+?): ", planned, flags=re.MULTILINE | re.DOTALL))
    return table, {i for item in listed for i in re.findall(r"`([a-z0-9_]+)`", item)}


def test_catalog_ids_are_snake_case() -> None:
    assert [i for i in registry.CATALOG if not SNAKE_CASE.match(i)] == []


def test_design_parser_reads_the_table_and_the_planned_list() -> None:
    text = (
        "### Check ids\n\n| id | when | severity |\n|---|---|---|\n| `a_b` | x | HIGH |\n\n"
        "Ids that open work adds (...):\n- `c_d`: words (HIGH).\n"
        "- `e_f` (LOW), `g_h`\n  (HIGH): more.\n\n## Next\n"
        "| `not_me` | x | LOW |\n"
    )
    assert _design_ids(text) == ({"a_b"}, {"c_d", "e_f", "g_h"})


@pytest.mark.skipif(not DESIGN_MD.exists(), reason="shared/DESIGN.md is not beside this checkout")
def test_catalog_and_design_table_agree() -> None:
    # The catalog may run ahead of DESIGN.md's table (ids that open work adds), never outside both.
    table, planned = _design_ids(DESIGN_MD.read_text(encoding="utf-8"))
    assert table, "no ids found in DESIGN.md's Check ids table"
    assert sorted(table - set(registry.CATALOG)) == []
    assert sorted(set(registry.CATALOG) - table - planned) == []


def test_the_readme_names_only_catalog_ids_and_points_at_the_catalog() -> None:
    # The catalog in the code is the one list (`eks-auditor checks`); the README describes the families
    # and may name ids as examples, each of which must be a real check.
    readme = (UNIT_TESTS.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What it checks", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z0-9]+(?:_[a-z0-9]+)+)`", section))
    assert named, "the README's 'What it checks' names no check"
    assert sorted(named - set(registry.CATALOG)) == []
    assert "eks-auditor checks" in section
    # Every check id the README names anywhere is real (a renamed check leaves no stale id behind).
    prefixes = {i.split("_")[0] for i in registry.CATALOG}
    quoted = re.findall(r"`([a-z]+(?:_[a-z0-9]+){2,})`", readme)
    everywhere = {i for i in quoted if i.split("_")[0] in prefixes}
    assert sorted(everywhere - set(registry.CATALOG)) == []


def test_the_catalog_refuses_a_duplicate_id() -> None:
    check = registry.CATALOG["audit_incomplete"]
    with pytest.raises(ValueError, match="duplicate check id 'audit_incomplete'"):
        registry._index([check, check])


def test_the_engine_selects_only_snapshot_checks() -> None:
    kinds = {check_id: check.spec.kind for check_id, check in registry.CATALOG.items()}
    assert {i for i, kind in kinds.items() if kind is not CheckKind.SNAPSHOT} == {
        "spot_interruption_notice",
        "spot_interruption_burst",
        "audit_incomplete",
        "pipeline_trail_missing",
        "pipeline_rule_broken",
        "pipeline_backlog",
        "pipeline_silent",
    }
    assert [c.spec.id for c in registry.select()] == [i for i, k in kinds.items() if k is CheckKind.SNAPSHOT]
    with pytest.raises(KeyError):
        registry.select(["spot_interruption_burst"])


def test_the_spot_checks_declare_the_detail_types_the_spot_pipeline_parses() -> None:
    from eks_auditor.spot.events import SPOT_DETAIL_TYPES

    declared = {
        event.detail_type
        for check in registry.CATALOG.values()
        if check.spec.kind is CheckKind.EVENT
        for event in check.spec.events
    }
    assert declared == set(SPOT_DETAIL_TYPES)


# --- metadata --------------------------------------------------------------------------------------


@pytest.mark.parametrize("check", list(registry.CATALOG.values()), ids=lambda c: c.spec.id)
def test_spec_metadata_is_complete(check: Check) -> None:
    spec = check.spec
    assert spec.title.strip() and spec.description.strip()
    assert len(spec.remediation) >= 60, "remediation must say what to do (CLI or console action)"
    assert spec.references, "at least one AWS doc URL"
    assert all(url.startswith("https://") for url in spec.references), spec.references
    if spec.kind is CheckKind.SNAPSHOT:
        assert set(spec.parts) <= SNAPSHOT_PARTS, spec.parts
        assert set(SNAPSHOT_PARTS) <= set(ClusterSnapshot.model_fields)
        # Every snapshot check is re-run by some API call, or only the schedule would ever resolve it.
        assert any(e.detail_type == CLOUDTRAIL_DETAIL_TYPE and e.name for e in spec.events), spec.events
    if spec.kind is CheckKind.EVENT:
        assert spec.events, "an event check names the events it is born of"
    assert len(set(spec.events)) == len(spec.events), "an event declared twice"


def test_permissions_follow_from_the_declared_parts() -> None:
    from eks_auditor.collect.permissions import REQUIRED_PERMISSIONS

    assert set(REQUIRED_PERMISSIONS) == set(Part)
    nodes = registry.CATALOG["nodegroup_ssh_open"].spec
    assert (
        nodes.permissions
        == REQUIRED_PERMISSIONS[Part.NODEGROUPS] + REQUIRED_PERMISSIONS[Part.NODE_SECURITY_GROUPS]
    )
    assert registry.CATALOG["spot_interruption_burst"].spec.permissions == ("ec2:DescribeInstances",)
    assert registry.CATALOG["audit_incomplete"].spec.permissions == ()


# --- purity ----------------------------------------------------------------------------------------


def _module_path(name: str) -> Path | None:
    if name != "eks_auditor" and not name.startswith("eks_auditor."):
        return None
    base = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _package_of(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts if path.name == "__init__.py" else parts[:-1]


def _imports(path: Path) -> Iterator[str]:
    """Every module a file imports, anywhere in it (TYPE_CHECKING blocks and functions included)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = _package_of(path)
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def _reachable_imports(start: list[Path]) -> dict[str, Path]:
    """Top-level third-party names imported by `start` or by any eks_auditor module they pull in."""
    seen: set[Path] = set()
    found: dict[str, Path] = {}
    todo = list(start)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            target = _module_path(name)
            parents = [_module_path(".".join(name.split(".")[:i])) for i in range(1, name.count(".") + 1)]
            todo.extend(p for p in (target, *parents) if p is not None)
            top = name.split(".")[0]
            if top and top != "eks_auditor":
                found.setdefault(top, path)
    return found


def test_checks_never_import_aws_sdks_or_powertools() -> None:
    sources = sorted((PACKAGE / "checks").glob("*.py"))
    assert sources
    offenders = {
        name: str(path.relative_to(PACKAGE.parent))
        for name, path in _reachable_imports(sources).items()
        if name in FORBIDDEN_IMPORTS
    }
    assert offenders == {}


def test_purity_scan_follows_package_imports_and_function_bodies(tmp_path: Path) -> None:
    # The scan must be able to fail: a lazy import inside a function is found, and so is what an
    # eks_auditor module pulls in (pydantic, through the model).
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from eks_auditor.checks import registry\n\n\ndef f() -> None:\n    import botocore.exceptions\n",
        encoding="utf-8",
    )
    found = _reachable_imports([probe])
    assert {"botocore", "pydantic"} <= set(found)
    assert "boto3" not in found


# --- coverage --------------------------------------------------------------------------------------


def _row_id(item: Any) -> str:
    module, (check_id, result, _) = item
    return f"{module}:{check_id}:{Result(result).value}"


@pytest.mark.parametrize("item", list(_coverage_rows()), ids=_row_id)
def test_coverage_rows_hold(item: tuple[str, Row]) -> None:
    module, (check_id, result, build) = item
    assert check_id in registry.CHECKS, f"{module} covers {check_id!r}, which is not registered"
    outcomes = run(check_id, build())
    assert Result(result) in {o.result for o in outcomes}, [
        (o.resource, o.result, o.reason) for o in outcomes
    ]


def test_every_registered_check_has_fail_and_pass_coverage() -> None:
    covered: dict[str, set[Result]] = {}
    for _, (check_id, result, _build) in _coverage_rows():
        covered.setdefault(check_id, set()).add(Result(result))
    missing = {
        check_id: sorted(r.value for r in (Result.FAIL, Result.PASS) if r not in covered.get(check_id, set()))
        for check_id in registry.CHECKS
    }
    assert {k: v for k, v in missing.items() if v} == {}
