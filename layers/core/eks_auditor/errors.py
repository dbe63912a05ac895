"""Exceptions the handlers name at import (their batch processors' rejections) and what an error reason
means, kept free of heavy imports."""

import re


class InvalidEvent(ValueError):
    """The event cannot be routed; the message says why, for the logs and the DLQ."""


# The collectors' reasons start with the AWS error code (collect.errors.describe_error: "<Code> on
# <service:Operation>: ...") or the Kubernetes status ("403 Forbidden: ..."); a dependency's reason is
# quoted inside its dependent's ("needs network: AccessDenied on ..."). These mean "not allowed": no retry
# or later scan fixes them, so they alert at once.
_DENIED = re.compile(
    r"\b(AccessDenied\w*|UnauthorizedOperation|UnauthorizedAccess\w*|AuthorizationError"
    r"|AuthorizationFailure|NotAuthorized\w*|AuthFailure|InvalidClientTokenId|UnrecognizedClientException"
    r"|401 Unauthorized|403 Forbidden)\b"
)


def denied(reason: str) -> bool:
    """Whether an audit_incomplete reason is a refusal (AccessDenied and kin), not a transient fault."""
    return bool(_DENIED.search(reason))
