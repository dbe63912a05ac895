"""The committed OpenAPI document is the one the code generates (eks-auditor openapi --write FILE)."""

from __future__ import annotations

import json
from pathlib import Path

from eks_auditor.api import openapi_document, openapi_json


def test_committed_document_is_current(repo_root: Path) -> None:
    committed = (repo_root / "docs" / "openapi.json").read_text()
    assert committed == openapi_json(), (
        "docs/openapi.json is stale: run `eks-auditor openapi --write docs/openapi.json`"
    )


def test_document_describes_the_four_routes_with_400_and_iam() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.")
    assert sorted(document["paths"]) == [
        "/clusters/{cluster}/findings",
        "/findings",
        "/findings/{finding_id}",
        "/posture",
    ]
    for path in document["paths"].values():
        responses = path["get"]["responses"]
        assert "400" in responses and "422" not in responses
    assert document["security"] == [{"sigv4": []}]
    assert document["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    listed = {p["name"] for p in document["paths"]["/findings"]["get"]["parameters"]}
    assert listed == {
        "status",
        "severity",
        "cluster",
        "account",
        "region",
        "check_id",
        "since",
        "limit",
        "next_token",
    }
    json.dumps(document)  # plain JSON
