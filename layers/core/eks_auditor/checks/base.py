"""The vocabulary every check module speaks: `from eks_auditor.checks.base import *`.

A check declares a `CheckSpec` (with the `Part`s it reads and the `events` that can change its verdict)
and returns `Outcome`s built by `fail`, `passed`, `not_applicable` or `could_not_evaluate`. Pure: nothing
here (or in any check) imports boto3, botocore or Powertools.
"""

from eks_auditor.checks import events
from eks_auditor.model.check import (
    Check,
    CheckKind,
    CheckSpec,
    Outcome,
    Result,
    Severity,
    collected,
    could_not_evaluate,
    fail,
    not_applicable,
    passed,
)
from eks_auditor.model.part import Part
from eks_auditor.model.snapshot import ClusterSnapshot

# References more than one check cites.
PRIVATE_CLUSTERS_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html"
SECURITY_HUB_DOC = "https://docs.aws.amazon.com/securityhub/latest/userguide/eks-controls.html"

__all__ = [
    "PRIVATE_CLUSTERS_DOC",
    "SECURITY_HUB_DOC",
    "Check",
    "CheckKind",
    "CheckSpec",
    "ClusterSnapshot",
    "Outcome",
    "Part",
    "Result",
    "Severity",
    "collected",
    "could_not_evaluate",
    "events",
    "fail",
    "not_applicable",
    "passed",
]
