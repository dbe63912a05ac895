"""The log redaction: every credential shape botocore, STS and the EKS token put in a log line is masked."""

from __future__ import annotations

import logging

import pytest
from eks_auditor.redaction import RedactingFilter, redact

TOKEN = "IQoJb3JpZ2luX2VjEHoaCXVzLWVhc3QtMSJHMEUCIQD/example+token=="
SIG = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f"headers={{'X-Amz-Security-Token': b'{TOKEN}', 'X-Amz-Date': b'20250301T000000Z'}}", TOKEN),
        (f"x-amz-security-token:{TOKEN}\nhost:eks.us-east-1.amazonaws.com", TOKEN),
        (f"https://sts.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Security-Token={TOKEN}&x=1", TOKEN),
        (
            "'Authorization': b'AWS4-HMAC-SHA256 Credential=ASIAY34FZKBOKMUTVV7A/20250301/us-east-1/eks/"
            f"aws4_request, SignedHeaders=host;x-amz-date, Signature={SIG}'",
            SIG,
        ),
        ("Credential=ASIAY34FZKBOKMUTVV7A/20250301/us-east-1/eks/aws4_request", "ASIAY34FZKBOKMUTVV7A"),
        (f"https://sts.amazonaws.com/?X-Amz-Signature={SIG}&X-Amz-Expires=60", SIG),
        (f"Signature:\n{SIG}", SIG),
        ("<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>", "wJalrXUtnFEMI"),
        (f"<SessionToken>{TOKEN}</SessionToken>", TOKEN),
        ('{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}', "wJalrXUtnFEMI"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
        ("Authorization: Bearer k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QWN0aW9u", "aHR0cHM6"),
        ("token k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QWN0aW9u", "aHR0cHM6"),
        ("access key AKIAIOSFODNN7EXAMPLE found", "AKIAIOSFODNN7EXAMPLE"),
    ],
)
def test_every_credential_shape_is_masked(line: str, secret: str) -> None:
    redacted = redact(line)
    assert secret not in redacted
    assert "***" in redacted


def test_ordinary_lines_are_untouched() -> None:
    line = "Making request for OperationModel(name=DescribeCluster) with params: {'name': 'prod'}"
    assert redact(line) == line


def test_the_filter_renders_and_masks_arguments_whatever_the_level() -> None:
    record = logging.LogRecord("botocore.endpoint", logging.DEBUG, __file__, 1, "sent %s", (TOKEN,), None)
    record.msg = "x-amz-security-token: %s"
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "x-amz-security-token: ***"
    assert record.args == ()
