"""Credentials and signatures never reach a log, whatever the level (botocore's DEBUG logs included).

botocore at DEBUG logs every request's headers (the SigV4 `Authorization` header, the
`X-Amz-Security-Token`), the canonical request and the signature, and STS responses carry secret keys.
`install()` redacts them when a record is made (a log record factory: every logger, every handler,
including handlers added later, such as `boto3.set_stream_logger`'s), and adds a filter to the root
logger, botocore's loggers and their handlers for records made before it or by another factory.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

MASK = "***"

# Each pattern keeps its group 1 (the label) and masks the rest of the match.
_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # Session tokens: header (dict repr or "name: value"), canonical request line, query string.
        r"""(x-amz-security-token['"]?\s*[:=]\s*b?['"]?)[^'"\s&,;}]+""",
        # SigV4 header and presigned URL signatures; botocore's "Signature:\n<hex>" debug line.
        r"""((?:x-amz-)?signature['"]?\s*[:=]\s*b?['"]?)[0-9a-f]{16,}""",
        # The access key id in a SigV4 credential scope (Credential=AKIA.../date/region/service).
        r"""((?:x-amz-)?credential['"]?\s*[:=]\s*b?['"]?)[^/'"\s&,;]+""",
        # Secrets and tokens as STS and the credential providers return them (XML, JSON, ini, kwargs).
        r"""(<(?:SecretAccessKey|SessionToken)>)[^<]+""",
        r"""((?:secret_?access_?key|session_?token|security_?token|secret_?key)['"]?\s*[:=]\s*b?['"]?)"""
        r"""[^'"\s,;}&]+""",
        # EKS bearer tokens and any other bearer credential.
        r"""(k8s-aws-v1\.)[A-Za-z0-9_\-]+""",
        r"""(bearer\s+)[A-Za-z0-9_\-.=+/]+""",
    )
)
# Access key ids wherever they appear (AKIA long-term, ASIA temporary); nothing else looks like them.
_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")


def redact(text: str) -> str:
    """`text` with every credential and signature replaced by ***."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _ACCESS_KEY.sub(MASK, text)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render the message once, redacted; the record keeps no argument that could carry a secret.

    Idempotent (a masked value masks to itself), so a record passing both the factory and a filter is fine.
    """
    try:
        message = record.getMessage()
    except Exception:  # a malformed %-format: logging reports it itself when the handler formats
        return record
    redacted = redact(message)
    if redacted != message or record.args:
        record.msg, record.args = redacted, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    return record


class RedactingFilter(logging.Filter):
    """Never drops a record; redacts it in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


FILTER = RedactingFilter()
LOGGERS = ("", "botocore", "boto3", "urllib3", "s3transfer")
_installed: list[Callable[..., logging.LogRecord]] = []


def install() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    if not _installed:
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redact_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed.append(factory)
    for name in LOGGERS:
        target = logging.getLogger(name)
        for owner in (target, *target.handlers):
            if FILTER not in owner.filters:
                owner.addFilter(FILTER)
