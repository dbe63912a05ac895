"""The findings HTTP API (API Gateway HTTP API, payload v2, IAM authorization), served by Powertools.

Routes: GET /findings, GET /findings/{finding_id}, GET /clusters/{cluster}/findings, GET /posture.
Every query is a DynamoDB Query (or BatchGetItem by key) through FindingStore, never a Scan. Parameters
are validated from their annotations; a malformed one gets 400 with the parameter named. The OpenAPI
document is generated from this module (`openapi_document()`, `eks-auditor openapi`) and committed as
docs/openapi.json.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Depends, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field

from eks_auditor.compliance.posture import Posture, read_posture
from eks_auditor.model.check import Severity
from eks_auditor.model.finding import Finding, Status
from eks_auditor.store import FindingStore
from eks_auditor.store.query import FindingPage, FindingQuery, InvalidToken
from eks_auditor.store.reader import Transition
from eks_auditor.suppressions import Suppression, match

API_TITLE = "eks-auditor findings API"
API_VERSION = "1.0.0"

app = APIGatewayHttpResolver(enable_validation=True)

StatusFilter = Literal["OPEN", "RESOLVED", "SUPPRESSED", "ALL"]
_ACCOUNT_PATTERN = r"^\d{12}$"
_REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
_CLUSTER_PATTERN = r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$"  # EKS cluster names
_CHECK_PATTERN = r"^[a-z0-9_]{1,64}$"
_FINDING_ID_PATTERN = r"^[0-9a-f]{32}$"


class ParameterError(BaseModel):
    location: str = Field(description="query or path")
    parameter: str
    message: str


class ErrorBody(BaseModel):
    statusCode: int
    message: str
    errors: list[ParameterError] = Field(default_factory=list)


class FindingDetail(BaseModel):
    finding: Finding
    history: list[Transition]
    suppression: Suppression | None = Field(
        default=None, description="the active suppression that covers the finding, if any"
    )


_ERROR_CONTENT: dict[str, Any] = {content_types.APPLICATION_JSON: {"model": ErrorBody}}
_BAD_REQUEST: OpenAPIResponse = {
    "description": "a malformed parameter or next_token",
    "content": _ERROR_CONTENT,
}

# --- the reader (injected: routes ask for it, tests override it) ----------------------------------------


def finding_reader() -> FindingStore:
    """The findings reader of the process's shared runtime (built on first use from FINDINGS_TABLE).

    Routes receive it through Depends; tests and the demo replace it with
    `app.dependency_overrides[finding_reader] = lambda: their_store`.
    """
    from eks_auditor.runtime import shared_runtime

    return shared_runtime().store


Reader = Annotated[FindingStore, Depends(finding_reader)]


# --- errors --------------------------------------------------------------------------------------------


@app.exception_handler(RequestValidationError)
def _malformed(exc: RequestValidationError) -> Response[str]:
    """400 naming each bad parameter (Powertools' default is 422 without the reason)."""
    errors = []
    for error in exc.errors():
        location = str(error["loc"][0]) if error["loc"] else "request"
        parameter = ".".join(str(part) for part in error["loc"][1:]) or location
        errors.append(ParameterError(location=location, parameter=parameter, message=str(error["msg"])))
    message = "; ".join(f"{e.location} parameter '{e.parameter}': {e.message}" for e in errors)
    body = ErrorBody(statusCode=400, message=message or "malformed request", errors=errors)
    return Response(status_code=400, content_type=content_types.APPLICATION_JSON, body=body.model_dump_json())


# --- routes --------------------------------------------------------------------------------------------


def _default_scope(account: str | None, region: str | None) -> tuple[str, str]:
    """A cluster is keyed by account and region; default to the API's own account and region."""
    account = account or app.current_event.request_context.account_id
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "")
    return account, region


StatusParam = Annotated[StatusFilter, Query(description="finding status; ALL for every status")]
SeverityParam = Annotated[Severity | None, Query(description="minimum severity (HIGH: HIGH and CRITICAL)")]
AccountParam = Annotated[str | None, Query(pattern=_ACCOUNT_PATTERN, description="AWS account id")]
RegionParam = Annotated[str | None, Query(pattern=_REGION_PATTERN, description="AWS region, e.g. eu-west-1")]
CheckParam = Annotated[
    str | None, Query(pattern=_CHECK_PATTERN, description="check id, e.g. nodes_public_subnet")
]
SinceParam = Annotated[
    datetime | None, Query(description="only findings whose state changed at or after this ISO 8601 time")
]
LimitParam = Annotated[int, Query(ge=1, le=1000, description="page size")]
TokenParam = Annotated[
    str | None, Query(max_length=4096, description="the next_token of the previous page, same filters")
]


@app.get(
    "/findings",
    summary="List findings",
    description=(
        "Findings newest change first, filtered by status, minimum severity, cluster, account, region, check "
        "id and change time. A cluster filter uses the account and region given, else the API's own."
    ),
    operation_id="listFindings",
    tags=["findings"],
    responses={200: {"description": "one page of findings"}, 400: _BAD_REQUEST},
)
def list_findings(
    reader: Reader,
    status: StatusParam = "OPEN",
    severity: SeverityParam = None,
    cluster: Annotated[str | None, Query(pattern=_CLUSTER_PATTERN, description="EKS cluster name")] = None,
    account: AccountParam = None,
    region: RegionParam = None,
    check_id: CheckParam = None,
    since: SinceParam = None,
    limit: LimitParam = 50,
    next_token: TokenParam = None,
) -> FindingPage:
    """One page of findings for the route's parameters; a bad next_token is a 400."""
    if cluster is not None:
        account, region = _default_scope(account, region)
    q = FindingQuery(
        status=None if status == "ALL" else Status(status),
        min_severity=severity,
        cluster=cluster,
        account=account,
        region=region,
        check_id=check_id,
        since=since,
        limit=limit,
        next_token=next_token,
    )
    try:
        return reader.query(q)
    except InvalidToken as exc:
        raise BadRequestError(f"query parameter 'next_token': {exc}") from exc


@app.get(
    "/clusters/<cluster>/findings",
    summary="List one cluster's findings",
    description="The cluster is keyed by account and region: they default to the API's own.",
    operation_id="listClusterFindings",
    tags=["findings"],
    responses={200: {"description": "one page of the cluster's findings"}, 400: _BAD_REQUEST},
)
def list_cluster_findings(
    reader: Reader,
    cluster: Annotated[str, Path(pattern=_CLUSTER_PATTERN, description="EKS cluster name")],
    status: StatusParam = "OPEN",
    severity: SeverityParam = None,
    account: AccountParam = None,
    region: RegionParam = None,
    check_id: CheckParam = None,
    since: SinceParam = None,
    limit: LimitParam = 50,
    next_token: TokenParam = None,
) -> FindingPage:
    # The same query as /findings with the cluster taken from the path (arguments in list_findings' order).
    return list_findings(
        reader, status, severity, cluster, account, region, check_id, since, limit, next_token
    )


def finding_detail(findings: FindingStore, finding_id: str, at: datetime) -> FindingDetail | None:
    """A finding, its history and the suppression that covers it (shared with `findings show`)."""
    finding = findings.get(finding_id)
    if finding is None:
        return None
    # Each entry is a Transition; the response keeps the transition's fields (not the store's keys).
    history = [
        Transition.model_validate(entry.model_dump(exclude={"finding_id", "change_id"}))
        for entry in findings.history(finding_id)
    ]
    suppression = match(findings.suppressions(), finding, at)
    return FindingDetail(finding=finding, history=history, suppression=suppression)


@app.get(
    "/findings/<finding_id>",
    summary="Get one finding with its history",
    operation_id="getFinding",
    tags=["findings"],
    responses={
        200: {"description": "the finding, its state changes oldest first, and its suppression"},
        400: _BAD_REQUEST,
        404: {"description": "no finding with this id", "content": _ERROR_CONTENT},
    },
)
def get_finding(
    reader: Reader,
    finding_id: Annotated[str, Path(pattern=_FINDING_ID_PATTERN, description="the 32-hex-digit finding id")],
) -> FindingDetail:
    from eks_auditor.audit import utcnow

    detail = finding_detail(reader, finding_id, utcnow())
    if detail is None:
        raise NotFoundError(f"finding {finding_id} not found")
    return detail


@app.get(
    "/posture",
    summary="Compliance posture per control",
    description=(
        "Every control of a framework (cis-eks, fsbp, or a versioned id such as cis-eks-1.7) on every "
        "cluster audited in the account and region (default: the API's own): per control the clusters "
        "passing, failing, suppressed (EXCEPTION), incomplete and not applicable, the pass rate PASS / "
        "(PASS + FAIL + EXCEPTION), and each cluster's verdict. Controls no check tests exactly are "
        "NOT_ASSESSED."
    ),
    operation_id="getPosture",
    tags=["compliance"],
    responses={200: {"description": "the posture"}, 400: _BAD_REQUEST},
)
def get_posture(
    reader: Reader,
    framework: Annotated[
        str, Query(pattern=r"^[a-z0-9][a-z0-9.\-]{0,31}$", description="framework family or versioned id")
    ] = "cis-eks",
    account: AccountParam = None,
    region: RegionParam = None,
    cluster: Annotated[str | None, Query(pattern=_CLUSTER_PATTERN, description="only this cluster")] = None,
) -> Posture:
    from eks_auditor.audit import utcnow
    from eks_auditor.compliance.frameworks import framework as find_framework

    try:
        chosen = find_framework(framework)
    except KeyError as exc:
        raise BadRequestError(f"query parameter 'framework': {exc.args[0]}") from exc
    scope = _default_scope(account, region)
    return read_posture(reader, chosen, [scope], now=utcnow(), clusters=[cluster] if cluster else ())


# --- the OpenAPI document ------------------------------------------------------------------------------


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of this API, as committed in docs/openapi.json."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    sigv4 = APIKey.model_validate(
        {
            "type": "apiKey",
            "in": APIKeyIn.header,
            "name": "Authorization",
            "description": "AWS Signature Version 4: the API uses API Gateway IAM authorization",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    )
    schema = app.get_openapi_schema(
        title=API_TITLE,
        version=API_VERSION,
        description=(
            "Query eks-auditor findings: what is open, how bad, where, since when, and who accepted a risk. "
            "Callers sign requests with SigV4 and need execute-api:Invoke on the API."
        ),
        security_schemes={"sigv4": sigv4},
        security=[{"sigv4": []}],
    )
    document: dict[str, Any] = json.loads(schema.model_dump_json(by_alias=True, exclude_none=True))
    # Malformed parameters get 400 (see _malformed), never Powertools' default 422.
    for path in document.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ResponseValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def openapi_json() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
