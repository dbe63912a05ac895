"""API Gateway HTTP API (payload format 2.0) events as the service sends them to a Lambda integration."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode

API_ACCOUNT = "123456789012"
CALLER = "arn:aws:iam::123456789012:user/security-analyst"


def http_api_event(
    path: str,
    query: dict[str, str] | None = None,
    *,
    route_key: str | None = None,
    path_parameters: dict[str, str] | None = None,
    account: str = API_ACCOUNT,
) -> dict[str, Any]:
    """A GET through an IAM-authorized HTTP API on the $default stage."""
    query = query or {}
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"GET {path}",
        "rawPath": quote(path),
        "rawQueryString": urlencode(query),
        "headers": {
            "accept": "application/json",
            "authorization": (
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250301/us-east-1/execute-api/"
                "aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef"
            ),
            "content-length": "0",
            "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "user-agent": "python-requests/2.32.3",
            "x-amz-date": "20250301T120000Z",
            "x-amzn-trace-id": "Root=1-67c2f5a0-0123456789abcdef01234567",
            "x-forwarded-for": "192.0.2.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": account,
            "apiId": "a1b2c3d4e5",
            "authorizer": {
                "iam": {
                    "accessKey": "AKIAIOSFODNN7EXAMPLE",
                    "accountId": account,
                    "callerId": "AIDAEXAMPLEUSERID",
                    "cognitoIdentity": None,
                    "principalOrgId": "o-exampleorg",
                    "userArn": CALLER,
                    "userId": "AIDAEXAMPLEUSERID",
                }
            },
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "python-requests/2.32.3",
            },
            "requestId": f"{uuid.uuid4().hex[:16]}=",
            "routeKey": route_key or f"GET {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    return event
