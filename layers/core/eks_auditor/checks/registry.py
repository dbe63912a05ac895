"""The catalog: every check, id -> Check, in the order of evaluation and of the catalog.

Snapshot checks are run by the engine; event checks (spot notices) are raised by eks_auditor.spot and
the engine records audit_incomplete itself. Routing, permissions and the README's table follow from
these declarations.
"""

from __future__ import annotations

from collections.abc import Iterable

from eks_auditor.checks import (
    access,
    autoscaler,
    capacity,
    cluster_config,
    cluster_subnets,
    endpoint,
    incomplete,
    nodegroup,
    oidc,
    spot,
    version,
    vpc_endpoints,
)
from eks_auditor.model.check import Check, CheckKind


def _index(checks: Iterable[Check]) -> dict[str, Check]:
    catalog: dict[str, Check] = {}
    for check in checks:
        if check.spec.id in catalog:
            raise ValueError(f"duplicate check id {check.spec.id!r}")
        catalog[check.spec.id] = check
    return catalog


CATALOG: dict[str, Check] = _index(
    (
        *endpoint.CHECKS,
        *vpc_endpoints.CHECKS,
        *cluster_config.CHECKS,
        *version.CHECKS,
        *oidc.CHECKS,
        *nodegroup.CHECKS,
        *spot.CHECKS,
        *autoscaler.CHECKS,
        *access.CHECKS,
        *capacity.CHECKS,
        *cluster_subnets.CHECKS,
        *incomplete.CHECKS,
    )
)

# The checks the engine runs on a snapshot.
CHECKS: dict[str, Check] = {
    check_id: check for check_id, check in CATALOG.items() if check.spec.kind is CheckKind.SNAPSHOT
}


def select(check_ids: Iterable[str] | None = None) -> list[Check]:
    """The snapshot checks to run: all of them, or the named ones (unknown ids raise KeyError)."""
    if check_ids is None:
        return list(CHECKS.values())
    return [CHECKS[check_id] for check_id in check_ids]
