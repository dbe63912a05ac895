"""control_plane_logging_disabled (default and configured) and secrets_encryption_disabled."""

from __future__ import annotations

import pytest
from eks_auditor.checks.cluster_config import (
    DEFAULT_REQUIRED_LOG_TYPES,
    REQUIRED_LOG_TYPES_ENV,
    control_plane_logging_check,
    required_log_types_from_env,
)
from eks_auditor.model.check import Result, Severity
from eks_auditor.model.snapshot import ClusterSnapshot
from snapshots import ARN, BASE, only, with_cluster, without

LOGGING = "control_plane_logging_disabled"
SECRETS = "secrets_encryption_disabled"


def audit_missing() -> ClusterSnapshot:
    # As if clusterLogging held [{api, authenticator: on}, {audit: off}, {scheduler: on}]: the collector's
    # union of enabled entries lacks only `audit` (Prowler read entry [0] only and missed such splits).
    return with_cluster(BASE, enabled_log_types=frozenset({"api", "authenticator", "scheduler"}))


def no_encryption() -> ClusterSnapshot:
    return with_cluster(BASE, encrypted_resources=frozenset())


COVERAGE = [
    (LOGGING, Result.FAIL, audit_missing),
    (LOGGING, Result.PASS, lambda: BASE),
    (LOGGING, Result.ERROR, lambda: without(BASE, "cluster")),
    (SECRETS, Result.FAIL, no_encryption),
    (SECRETS, Result.PASS, lambda: BASE),
    (SECRETS, Result.ERROR, lambda: without(BASE, "cluster")),
]


def test_all_log_types_pass() -> None:
    outcome = only(LOGGING, BASE)
    assert outcome.result is Result.PASS
    assert outcome.resource == ARN
    assert outcome.evidence == {
        "required": ["api", "audit", "authenticator"],
        "enabled": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
    }


def test_union_lacking_only_audit_fails_naming_audit() -> None:
    outcome = only(LOGGING, audit_missing())
    assert outcome.result is Result.FAIL
    assert outcome.severity is None  # the spec's MEDIUM
    assert outcome.evidence == {
        "required": ["api", "audit", "authenticator"],
        "enabled": ["api", "authenticator", "scheduler"],
        "disabled": ["audit"],
    }


def test_logging_off_names_every_required_type() -> None:
    outcome = only(LOGGING, with_cluster(BASE, enabled_log_types=frozenset()))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["disabled"] == ["api", "audit", "authenticator"]


def test_optional_types_do_not_matter_by_default() -> None:
    snapshot = with_cluster(BASE, enabled_log_types=frozenset(DEFAULT_REQUIRED_LOG_TYPES))
    assert only(LOGGING, snapshot).result is Result.PASS


def test_configured_check_requires_more_types() -> None:
    check = control_plane_logging_check(("audit", "scheduler"))
    assert check.spec.id == LOGGING
    assert check.spec.severity is Severity.MEDIUM
    assert '"types":["audit","scheduler"]' in check.spec.remediation
    [outcome] = check.run(with_cluster(BASE, enabled_log_types=frozenset({"api", "audit"})))
    assert outcome.result is Result.FAIL
    assert outcome.evidence["disabled"] == ["scheduler"]


def test_required_types_from_environment() -> None:
    assert required_log_types_from_env({}) == DEFAULT_REQUIRED_LOG_TYPES
    assert required_log_types_from_env({REQUIRED_LOG_TYPES_ENV: " audit, scheduler ,audit,"}) == (
        "audit",
        "scheduler",
    )
    assert required_log_types_from_env({REQUIRED_LOG_TYPES_ENV: " , "}) == DEFAULT_REQUIRED_LOG_TYPES


def test_unknown_log_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="Audit"):
        control_plane_logging_check(("Audit",))
    with pytest.raises(ValueError):
        control_plane_logging_check(())


def test_secrets_encrypted_passes() -> None:
    outcome = only(SECRETS, BASE)
    assert outcome.result is Result.PASS
    assert outcome.evidence == {"encrypted_resources": ["secrets"]}


def test_no_encryption_config_fails() -> None:
    outcome = only(SECRETS, no_encryption())
    assert outcome.result is Result.FAIL
    assert outcome.resource == ARN
    assert outcome.evidence == {"encrypted_resources": []}


def test_missing_cluster_is_error() -> None:
    for check_id in (LOGGING, SECRETS):
        outcome = only(check_id, without(BASE, "cluster"))
        assert outcome.result is Result.ERROR
