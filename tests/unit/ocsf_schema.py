"""The OCSF 1.1.0 Detection Finding schema, as tables, and a validator (used by the unit and CLI tests).

SCHEMA below is read off ocsf-schema at tag v1.1.0: events/findings/detection_finding.json extends
finding.json, which extends base_event.json (with includes/classification.json, includes/occurrence.json
and the cloud, host, datetime and security_control profiles); the objects from objects/*.json. For each
event class or object: the attributes it defines, those `"requirement": "required"`, and its
`at_least_one` constraint. Attributes of other OCSF versions (1.5's evidences[].verdict_id) fail.
"""

from __future__ import annotations

from typing import Any

SCHEMA: dict[str, tuple[set[str], set[str], set[str]]] = {
    # name: (attributes, required, at least one of)
    "event": (
        {
            "action",
            "action_id",
            "activity_id",
            "activity_name",
            "actor",
            "api",
            "attacks",
            "authorizations",
            "category_name",
            "category_uid",
            "class_name",
            "class_uid",
            "cloud",
            "comment",
            "confidence",
            "confidence_id",
            "confidence_score",
            "count",
            "device",
            "disposition",
            "disposition_id",
            "duration",
            "end_time",
            "enrichments",
            "evidences",
            "finding_info",
            "firewall_rule",
            "impact",
            "impact_id",
            "impact_score",
            "malware",
            "message",
            "metadata",
            "observables",
            "raw_data",
            "remediation",
            "resources",
            "risk_level",
            "risk_level_id",
            "risk_score",
            "severity",
            "severity_id",
            "start_time",
            "status",
            "status_code",
            "status_detail",
            "status_id",
            "time",
            "timezone_offset",
            "type_name",
            "type_uid",
            "unmapped",
            "vulnerabilities",
        },
        {
            "activity_id",
            "category_uid",
            "class_uid",
            "type_uid",
            "time",
            "metadata",
            "severity_id",
            "finding_info",
        },
        set(),
    ),
    "metadata": (
        {
            "correlation_uid",
            "event_code",
            "extension",
            "extensions",
            "labels",
            "log_level",
            "log_name",
            "log_provider",
            "log_version",
            "logged_time",
            "loggers",
            "modified_time",
            "original_time",
            "processed_time",
            "product",
            "profiles",
            "sequence",
            "tenant_uid",
            "uid",
            "version",
        },
        {"product", "version"},
        set(),
    ),
    "product": (
        {"cpe_name", "feature", "lang", "name", "path", "uid", "url_string", "vendor_name", "version"},
        {"vendor_name"},
        set(),
    ),
    "finding_info": (
        {
            "analytic",
            "attacks",
            "created_time",
            "data_sources",
            "desc",
            "first_seen_time",
            "kill_chain",
            "last_seen_time",
            "modified_time",
            "product_uid",
            "related_analytics",
            "related_events",
            "src_url",
            "title",
            "types",
            "uid",
        },
        {"title", "uid"},
        set(),
    ),
    "analytic": (
        {"category", "desc", "name", "related_analytics", "type", "type_id", "uid", "version"},
        {"type_id"},
        set(),
    ),
    "remediation": ({"desc", "kb_article_list", "kb_articles", "references"}, {"desc"}, set()),
    "resources": (
        {
            "cloud_partition",
            "criticality",
            "data",
            "group",
            "labels",
            "name",
            "namespace",
            "owner",
            "region",
            "type",
            "uid",
            "version",
        },
        set(),
        {"name", "uid"},
    ),
    "evidences": (
        {
            "actor",
            "api",
            "connection_info",
            "data",
            "dst_endpoint",
            "file",
            "process",
            "query",
            "src_endpoint",
        },
        set(),
        {
            "actor",
            "api",
            "connection_info",
            "data",
            "dst_endpoint",
            "file",
            "process",
            "query",
            "src_endpoint",
        },
    ),
    "cloud": ({"account", "org", "project_uid", "provider", "region", "zone"}, {"provider"}, set()),
    "account": ({"name", "type", "type_id", "uid"}, set(), {"name", "uid"}),
}
# Enumerations (dictionary.json, finding.json, analytic.json, account.json at v1.1.0).
ENUMS = {
    "activity_id": {0: "Unknown", 1: "Create", 2: "Update", 3: "Close", 99: "Other"},
    "severity_id": {
        0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal",
        99: "Other",
    },
    "status_id": {0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 99: "Other"},
}  # fmt: skip
NESTED = {
    "metadata": "metadata", "finding_info": "finding_info", "remediation": "remediation", "cloud": "cloud",
}  # fmt: skip


def _check(name: str, value: Any, where: str) -> list[str]:
    attributes, required, one_of = SCHEMA[name]
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    problems = [f"{where}.{key}: not an OCSF 1.1.0 attribute" for key in sorted(set(value) - attributes)]
    problems += [f"{where}.{key}: required" for key in sorted(required - set(value))]
    if one_of and not one_of & set(value):
        problems.append(f"{where}: needs one of {sorted(one_of)}")
    return problems


def validate(event: dict[str, Any]) -> list[str]:
    """What makes `event` not an OCSF 1.1.0 Detection Finding (empty when it is one)."""
    problems = _check("event", event, "event")
    for key, name in NESTED.items():
        if key in event:
            problems += _check(name, event[key], key)
    if "metadata" in event and isinstance(event["metadata"], dict):
        problems += _check("product", event["metadata"].get("product"), "metadata.product")
        if "cloud" in event["metadata"].get("profiles", []) and "cloud" not in event:
            problems.append("cloud: required by the cloud profile")
    if "analytic" in event.get("finding_info", {}):
        problems += _check("analytic", event["finding_info"]["analytic"], "finding_info.analytic")
    if "account" in event.get("cloud", {}):
        problems += _check("account", event["cloud"]["account"], "cloud.account")
    for key in ("resources", "evidences"):
        for i, item in enumerate(event.get(key, [])):
            problems += _check(key, item, f"{key}[{i}]")
    for key, values in ENUMS.items():
        if key in event and event[key] not in values:
            problems.append(f"{key}: {event[key]} not in the enumeration")
    caption = {"severity_id": "severity", "status_id": "status", "activity_id": "activity_name"}
    for key, name in caption.items():
        if name in event and ENUMS[key].get(event.get(key, -1)) != event[name]:
            problems.append(f"{name}: {event[name]!r} is not the caption of {key} {event.get(key)}")
    if (event.get("class_uid"), event.get("category_uid")) != (2004, 2):
        problems.append("not a Detection Finding (class_uid 2004, category 2)")
    if event.get("type_uid") != event.get("class_uid", 0) * 100 + event.get("activity_id", 0):
        problems.append("type_uid is not class_uid * 100 + activity_id")
    if event.get("metadata", {}).get("version") != "1.1.0":
        problems.append("metadata.version is not 1.1.0")
    return problems
