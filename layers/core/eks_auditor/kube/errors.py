"""Typed failures of a Kubernetes API read; each carries what the operator should grant or open."""

from __future__ import annotations


class KubeError(Exception):
    """A Kubernetes API read failed. `reason` says what happened, `remedy` what would fix it."""

    def __init__(self, reason: str, *, path: str | None = None, remedy: str = "") -> None:
        self.reason = reason
        self.path = path
        self.remedy = remedy
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return f"{self.reason}{where}" + (f". {self.remedy}" if self.remedy else "")


class KubeAuthError(KubeError):
    """401 (the token was not accepted) or 403 (RBAC denies the read)."""

    def __init__(self, reason: str, *, status: int, path: str | None = None, remedy: str = "") -> None:
        self.status = status
        super().__init__(reason, path=path, remedy=remedy)


class KubeUnreachable(KubeError):
    """No HTTP answer: timeout, connection refused, DNS failure."""


class KubeTlsError(KubeError):
    """The server's certificate did not verify against the cluster CA (or the name did not match)."""


class KubeNotFound(KubeError):
    """404: the object, or its API group (an absent CRD), does not exist."""


class KubeApiError(KubeError):
    """Any other non-success answer, or a body that is not the JSON the API promises."""

    def __init__(self, reason: str, *, status: int | None = None, path: str | None = None) -> None:
        self.status = status
        super().__init__(reason, path=path)
