"""Test doubles that record what the real code did: the audits a dispatcher asked for, the log records a
logger emitted."""

from __future__ import annotations

import logging
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
