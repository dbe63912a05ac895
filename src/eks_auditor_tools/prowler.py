"""Import a Prowler mutelist's entries for the EKS checks Prowler and eks-auditor share, as suppressions.

Prowler's mutelist (YAML): Mutelist (older files: Allowlist, or "Mute List") -> Accounts -> <account or *>
-> Checks -> <check name, regex or *> -> Regions (list, * for all), Resources (list of regexes searched in
the resource, * for all), optional Tags and Exceptions. An entry translates when it can be expressed
exactly: Tags and Exceptions narrow a mute in ways a suppression cannot, so such entries are skipped and
reported rather than widened. Prowler's EKS checks report the cluster (name and ARN), and the shared
eks-auditor checks use the cluster ARN as their resource, so a Prowler resource pattern becomes a regex on
that ARN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml
from eks_auditor.suppressions import Suppression

# Prowler check -> the eks-auditor check for the same risk on the same cluster (both report the cluster).
# Prowler's logging check wants every log type and its version check a configured minimum: muting either
# there accepts the risk our check names, so the suppression carries over.
SHARED_CHECKS: dict[str, str] = {
    # Names since Prowler's PR #5195 (October 2024), as in prowler/providers/aws/services/eks/.
    # FAIL: public endpoint on and publicAccessCidrs holding 0.0.0.0/0
    "eks_cluster_not_publicly_accessible": "endpoint_public_unrestricted",
    # FAIL: private endpoint access off (then the public endpoint is on: EKS needs one of them)
    "eks_cluster_private_nodes_enabled": "endpoint_private_access_disabled",
    "eks_control_plane_logging_all_types_enabled": "control_plane_logging_disabled",
    "eks_cluster_kms_cmk_encryption_in_secrets_enabled": "secrets_encryption_disabled",
    "eks_cluster_uses_a_supported_version": "version_end_of_standard_support",
}
# Names before PR #5195: mutelists written for older Prowler releases still name them.
RENAMED_CHECKS: dict[str, str] = {
    "eks_control_plane_endpoint_access_restricted": "eks_cluster_not_publicly_accessible",
    "eks_endpoints_not_publicly_accessible": "eks_cluster_private_nodes_enabled",
}
_KNOWN_NAMES: dict[str, str] = {
    **SHARED_CHECKS,
    **{old: SHARED_CHECKS[new] for old, new in RENAMED_CHECKS.items()},
}
_ROOT_KEYS = ("Mutelist", "Mute List", "Allowlist")


class MutelistError(ValueError):
    """The file is not a Prowler mutelist."""


@dataclass
class ImportResult:
    suppressions: list[Suppression] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _prowler_pattern(item: str) -> str:
    """Prowler matches with re.search and reads a bare '*' as 'anything'."""
    return ".*" if item == "*" else item.replace(".*", "\0").replace("*", ".*").replace("\0", ".*")


def _shared(check_key: str) -> list[tuple[str, str]]:
    pattern = _prowler_pattern(check_key)
    try:
        return [(name, ours) for name, ours in _KNOWN_NAMES.items() if re.search(pattern, name)]
    except re.error:
        return []


def _list(entry: Mapping[str, Any], key: str) -> list[str]:
    value = entry.get(key, ["*"])
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MutelistError(f"{key} must be a list of strings")
    return value


def import_mutelist(text: str, *, author: str, created_at: datetime, expires_at: datetime) -> ImportResult:
    """Suppressions for the shared checks (one per account, check, region and resource pattern)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MutelistError(f"not YAML: {exc}") from exc
    root = next((document[key] for key in _ROOT_KEYS if isinstance(document, dict) and key in document), None)
    if not isinstance(root, dict) or not isinstance(root.get("Accounts"), dict):
        raise MutelistError(f"no {' / '.join(_ROOT_KEYS)} -> Accounts mapping")
    result = ImportResult()
    seen: set[tuple[str, str | None, str | None, str | None]] = set()
    for account, account_entry in root["Accounts"].items():
        checks = (account_entry or {}).get("Checks") or {}
        for check_key, entry in checks.items():
            entry = entry or {}
            where = f"account {account}, check {check_key}"
            shared = _shared(str(check_key))
            if not shared:
                result.skipped.append(f"{where}: no eks-auditor check shares it")
                continue
            narrowed = [key for key in ("Tags", "Exceptions") if entry.get(key)]
            if narrowed:
                result.skipped.append(
                    f"{where}: {' and '.join(narrowed)} cannot be expressed as a suppression"
                )
                continue
            regions = _list(entry, "Regions")
            resources = _list(entry, "Resources")
            for prowler_check, ours in shared:
                for region in regions:
                    for resource in resources:
                        resource_regex = None if resource == "*" else f".*(?:{_prowler_pattern(resource)}).*"
                        key = (ours, None if account == "*" else str(account), region, resource_regex)
                        if key in seen:
                            continue
                        seen.add(key)
                        description = entry.get("Description")
                        reason = f"imported from Prowler mutelist ({prowler_check})"
                        if isinstance(description, str) and description.strip():
                            reason += f": {description.strip()}"
                        try:
                            suppression = Suppression(
                                check_id=ours,
                                account=key[1],
                                region=None if region == "*" else region,
                                resource=resource_regex,
                                reason=reason,
                                author=author,
                                created_at=created_at,
                                expires_at=expires_at,
                            )
                        except ValueError as exc:
                            result.skipped.append(f"{where}, region {region}, resource {resource}: {exc}")
                            continue
                        result.suppressions.append(suppression)
    return result
