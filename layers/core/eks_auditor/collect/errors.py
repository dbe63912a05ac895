"""Why a collection failed, in words an operator can act on."""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

_HTML = re.compile(r"<\s*(!doctype|html|head|body|title|h1)\b", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<(title|h1)[^>]*>(.*?)</\1>", re.IGNORECASE | re.DOTALL)


class CollectError(Exception):
    """Base class of the collectors' own errors."""


class ClusterNotFound(CollectError):
    """DescribeCluster says the cluster does not exist (deleted, or never was)."""

    def __init__(self, region: str, name: str) -> None:
        super().__init__(f"cluster {name} not found in {region}")
        self.region = region
        self.name = name


class ClusterUnavailable(CollectError):
    """DescribeCluster failed for another reason (AccessDenied, throttled past retries, unreachable)."""

    def __init__(self, region: str, name: str, reason: str) -> None:
        super().__init__(f"cluster {name} in {region} could not be described: {reason}")
        self.region = region
        self.name = name
        self.reason = reason


class PartUnavailable(CollectError):
    """A snapshot part cannot be collected because something it depends on is missing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "Unknown")


def plain_message(message: str) -> str:
    """An error message without an HTML error page (a proxy's, or a local endpoint's): its title, if any."""
    if not _HTML.search(message):
        return message
    title = _HTML_TITLE.search(message)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", title[2])).strip() if title else ""
    return f"{text} (HTML error page)" if text else "(HTML error page)"


def describe_error(exc: Exception, action: str | None = None) -> str:
    """ "<Code> on <service:Operation>: <message>" for a ClientError; the exception's text otherwise.

    Never a raw HTML body: an HTML error page becomes its title (plain_message).
    """
    if isinstance(exc, ClientError):
        message = plain_message(str(exc.response.get("Error", {}).get("Message") or "").strip())
        where = action or exc.operation_name
        return f"{error_code(exc)} on {where}: {message}" if message else f"{error_code(exc)} on {where}"
    # BotoCoreError (EndpointConnectionError, ReadTimeoutError, ...) and anything else: name and text.
    return f"{type(exc).__name__}: {plain_message(str(exc))}"
