"""Test doubles that record what the real code did: the audits a dispatcher asked for, the log records a
logger emitted, the API operations a client called, the EMF metrics a handler printed."""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from typing import Any

from eks_auditor.audit import Auditor, AuditResult


class RecordingAuditor(Auditor):
    """The real Auditor, remembering each audit it was asked for: (cluster, check ids or None for all)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.audits: list[tuple[str, frozenset[str] | None]] = []

    def audit(self, region: str, cluster: str, **kwargs: Any) -> AuditResult:
        check_ids = kwargs.get("check_ids")
        self.audits.append((cluster, None if check_ids is None else frozenset(check_ids)))
        return super().audit(region, cluster, **kwargs)


class Records(logging.Handler):
    """The records a logger emitted, read off the logger itself (independent of propagation)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Operations:
    """A botocore event handler ('before-call...') that records the names of the operations called."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)


def emf_metrics(lines: list[str]) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Metric totals of the EMF lines a handler printed, and the lines that carry an ErrorCode dimension."""
    totals: Counter[str] = Counter()
    by_code: list[dict[str, Any]] = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):
            blob = json.loads(line)
            if not isinstance(blob, dict) or "_aws" not in blob:
                continue
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    totals[metric["Name"]] += sum(value) if isinstance(value, list) else value
            if "ErrorCode" in blob:
                by_code.append(blob)
    return totals, by_code
