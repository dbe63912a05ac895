"""`audit_incomplete`: not a check of its own but the record that another check could not run."""

from __future__ import annotations

from eks_auditor.checks.base import *

AUDIT_INCOMPLETE = CheckSpec(
    id="audit_incomplete",
    title="A check could not be evaluated",
    severity=Severity.INFO,
    description=(
        "The auditor could not evaluate a check for this cluster (access denied, API unreachable, data "
        "missing). The check's result is unknown: it is not a pass."
    ),
    remediation=(
        "Read the reason in the evidence: grant the auditor's role the named IAM action, open the network "
        "path to the named endpoint, or grant Kubernetes read access (an EKS access entry with "
        "AmazonEKSViewPolicy). The finding resolves on the next evaluation that succeeds."
    ),
    references=("https://docs.aws.amazon.com/eks/latest/userguide/security-iam.html",),
    kind=CheckKind.ENGINE,
    requires=(),
)

CHECKS: tuple[Check, ...] = (Check(spec=AUDIT_INCOMPLETE),)
