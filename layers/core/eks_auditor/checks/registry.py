"""The plain registry of checks: id -> Check. Each check module exports CHECKS."""

from __future__ import annotations

from collections.abc import Iterable

from eks_auditor.model.check import Check

# One line per check module; order is the order of evaluation and of the catalog.
_MODULES: tuple[str, ...] = (
    "eks_auditor.checks.endpoint",
    "eks_auditor.checks.vpc_endpoints",
    "eks_auditor.checks.cluster_config",
    "eks_auditor.checks.version",
    "eks_auditor.checks.oidc",
    "eks_auditor.checks.nodegroup",
    "eks_auditor.checks.spot",
    "eks_auditor.checks.autoscaler",
    "eks_auditor.checks.access",
    "eks_auditor.checks.capacity",
    "eks_auditor.checks.cluster_subnets",
)


def _load() -> dict[str, Check]:
    import importlib

    registry: dict[str, Check] = {}
    for module_name in _MODULES:
        module = importlib.import_module(module_name)
        for check in module.CHECKS:
            if check.spec.id in registry:
                raise ValueError(f"duplicate check id {check.spec.id!r} in {module_name}")
            registry[check.spec.id] = check
    return registry


CHECKS: dict[str, Check] = _load()


def select(check_ids: Iterable[str] | None = None) -> list[Check]:
    """The checks to run: all of them, or the named ones (unknown ids raise KeyError)."""
    if check_ids is None:
        return list(CHECKS.values())
    return [CHECKS[check_id] for check_id in check_ids]
