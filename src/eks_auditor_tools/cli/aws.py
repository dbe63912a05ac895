"""Region, profile and AWS errors as aws-cli handles them, for every command that calls AWS.

Region: --region, then AWS_REGION, then AWS_DEFAULT_REGION and the profile's region (botocore reads
those two but not AWS_REGION). No region is a usage error: a silent us-east-1 audits the wrong place.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

USAGE = 2  # usage or configuration error, before anything is scanned
FAILED = 1  # no result could be produced

NO_REGION = (
    "no AWS region: pass --region REGION, set AWS_REGION, or configure one for the profile "
    "(aws configure set region REGION)"
)
NO_CREDENTIALS = (
    "no AWS credentials: run `aws configure` or `aws sso login`, pass --profile, "
    "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)
_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
_BAD_CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
}


class CliError(Exception):
    """A one-line message with what to do, and the exit code."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


def regions(args: argparse.Namespace) -> list[str]:
    """Every region given with --region (scan takes several), else the one resolved region."""
    given: list[str] = [r for r in getattr(args, "region", None) or [] if r]
    return list(dict.fromkeys(given)) or [resolve_region(args)]


def resolve_region(args: argparse.Namespace) -> str:
    given: list[str] = getattr(args, "region", None) or []
    if given:
        return given[-1]
    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"]
    region = _base_session(args).region_name
    if not region:
        raise CliError(NO_REGION, USAGE)
    return str(region)


def session(args: argparse.Namespace, region: str | None = None) -> boto3.Session:
    import boto3

    return boto3.Session(profile_name=_profile(args), region_name=region or resolve_region(args))


def client(args: argparse.Namespace, service: str, region: str | None = None) -> Any:
    """A client in the resolved region; without --profile, from boto3's default session."""
    import boto3
    from botocore.config import Config

    region = region or resolve_region(args)
    config = Config(retries={"mode": "standard"})
    if _profile(args):
        return session(args, region).client(service, config=config)  # type: ignore[call-overload]
    return boto3.client(service, region_name=region, config=config)  # type: ignore[call-overload]


def _profile(args: argparse.Namespace) -> str | None:
    profile: str | None = getattr(args, "profile", None)
    return profile


def _base_session(args: argparse.Namespace) -> boto3.Session:
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.Session(profile_name=_profile(args))
    except ProfileNotFound as exc:
        raise CliError(f"{exc}: check --profile or AWS_PROFILE (aws configure list-profiles)", USAGE) from exc


def describe(exc: BaseException, args: argparse.Namespace | None = None) -> CliError | None:
    """The one-line message and exit code for an AWS error, or None when it is not one."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CliError(NO_CREDENTIALS, USAGE)
    if isinstance(exc, NoRegionError):
        return CliError(NO_REGION, USAGE)
    if isinstance(exc, ProfileNotFound):
        return CliError(f"{exc}: check --profile or AWS_PROFILE (aws configure list-profiles)", USAGE)
    if isinstance(exc, EndpointConnectionError):
        url = exc.kwargs.get("endpoint_url", "")
        return CliError(f"cannot reach {url}: check the network, --region and AWS_ENDPOINT_URL", FAILED)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", "")).strip()
        operation = exc.operation_name
        if code in _ACCESS_DENIED:
            return CliError(
                f"access denied to {operation} ({code}: {message}): grant the caller that permission "
                "or use another --profile",
                FAILED,
            )
        if code in _BAD_CREDENTIALS:
            return CliError(f"{code}: {message}: refresh the credentials (aws sso login / --profile)", USAGE)
        if code == "ResourceNotFoundException" and operation in {"Query", "GetItem", "PutItem", "DeleteItem"}:
            table = getattr(args, "table", None) or os.environ.get("FINDINGS_TABLE", "")
            region = (getattr(args, "region", None) or [os.environ.get("AWS_REGION", "")])[-1]
            return CliError(
                f"findings table {table!r} not found in {region or 'the region'}: check --table "
                "(or FINDINGS_TABLE, the stack's FindingsTableName output) and --region",
                USAGE,
            )
        return CliError(f"{operation} failed: {code}: {message}", FAILED)
    return None
