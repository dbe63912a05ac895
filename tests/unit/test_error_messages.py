"""Warnings carry the AWS error code and message, never a raw HTML error page (issue #15, item 10)."""

from __future__ import annotations

from botocore.exceptions import ClientError
from eks_auditor.collect.errors import describe_error

PAGE = "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"


def client_error(message: str) -> ClientError:
    return ClientError({"Error": {"Code": "404", "Message": message}}, "BatchUpdateFindings")


def test_an_html_error_page_becomes_its_title() -> None:
    assert describe_error(client_error(PAGE)) == "404 on BatchUpdateFindings: 404 Not Found (HTML error page)"


def test_a_plain_message_is_kept() -> None:
    assert (
        describe_error(client_error("Not yet implemented"))
        == "404 on BatchUpdateFindings: Not yet implemented"
    )


def test_other_exceptions_lose_their_html_too() -> None:
    assert describe_error(ValueError("<html><body>oops</body></html>")) == "ValueError: (HTML error page)"
