"""Cluster settings: control-plane logging and secrets envelope encryption. Resource: the cluster ARN.

The registry runs `control_plane_logging_disabled` with DEFAULT_REQUIRED_LOG_TYPES. A deployment that
wants other types builds its own entry, still pure:
`control_plane_logging_check(required_log_types_from_env(os.environ))` (variable
EKS_AUDITOR_REQUIRED_LOG_TYPES, comma separated).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from eks_auditor.checks.base import *

# The five types EKS accepts in `logging.clusterLogging[].types`.
LOG_TYPES: tuple[str, ...] = ("api", "audit", "authenticator", "controllerManager", "scheduler")
DEFAULT_REQUIRED_LOG_TYPES: tuple[str, ...] = ("api", "audit", "authenticator")
REQUIRED_LOG_TYPES_ENV = "EKS_AUDITOR_REQUIRED_LOG_TYPES"

_LOGS_DOC = "https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html"


def required_log_types_from_env(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The required types named in EKS_AUDITOR_REQUIRED_LOG_TYPES, else the default."""
    raw = environ.get(REQUIRED_LOG_TYPES_ENV, "")
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    return names or DEFAULT_REQUIRED_LOG_TYPES


def control_plane_logging_check(required: tuple[str, ...] = DEFAULT_REQUIRED_LOG_TYPES) -> Check:
    """A `control_plane_logging_disabled` check that requires `required` (each one of LOG_TYPES)."""
    unknown = [t for t in required if t not in LOG_TYPES]
    if unknown or not required:
        raise ValueError(f"required log types must be a non-empty subset of {LOG_TYPES}, got {required}")
    logging_arg = json.dumps(
        {"clusterLogging": [{"types": list(required), "enabled": True}]}, separators=(",", ":")
    )
    spec = CheckSpec(
        id="control_plane_logging_disabled",
        title="Control-plane logging is missing required log types",
        severity=Severity.MEDIUM,
        description=(
            f"The cluster does not send every required control-plane log type ({', '.join(required)}) to "
            "CloudWatch Logs; without `audit` there is no record of who did what through the Kubernetes API "
            "(Security Hub EKS.8). The enabled set is the union of all clusterLogging entries."
        ),
        remediation=(
            "Enable the missing types: aws eks update-cluster-config --name <cluster> "
            f"--logging '{logging_arg}' "
            "(console: EKS > cluster > Observability > Manage logging)."
        ),
        references=(_LOGS_DOC, SECURITY_HUB_DOC),
        requires=(Part.CLUSTER,),
        events=events.CLUSTER_CONFIG,
    )

    def run(snapshot: ClusterSnapshot) -> list[Outcome]:
        enabled = collected(snapshot.cluster, Part.CLUSTER).enabled_log_types
        disabled = [t for t in required if t not in enabled]
        evidence = {"required": list(required), "enabled": sorted(enabled)}
        if disabled:
            return [fail(spec, snapshot.arn, evidence={**evidence, "disabled": disabled})]
        return [passed(spec, snapshot.arn, evidence=evidence)]

    return Check(spec=spec, run=run)


SECRETS_ENCRYPTION = CheckSpec(
    id="secrets_encryption_disabled",
    title="Kubernetes secrets are not envelope-encrypted with a KMS key of yours",
    severity=Severity.MEDIUM,
    description=(
        "The cluster has no encryptionConfig for `secrets`. Since Kubernetes 1.28 EKS envelope-encrypts API "
        "data with an AWS owned key by default; an encryptionConfig puts the key under your control "
        "(rotation, key policy, CloudTrail record of every use), which Security Hub EKS.3 asks for."
    ),
    remediation=(
        "Associate a KMS key (cannot be removed later): aws eks associate-encryption-config --cluster-name "
        '<cluster> --encryption-config \'[{"resources":["secrets"],"provider":{"keyArn":'
        '"arn:aws:kms:<region>:<account>:key/<key-id>"}}]\' (console: EKS > cluster > Overview > '
        "Secrets encryption > Enable)."
    ),
    references=(
        "https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html",
        "https://docs.aws.amazon.com/eks/latest/userguide/envelope-encryption.html",
        SECURITY_HUB_DOC,
    ),
    requires=(Part.CLUSTER,),
    events=events.ENCRYPTION_CONFIG,
)


def check_secrets_encryption(snapshot: ClusterSnapshot) -> list[Outcome]:
    spec = SECRETS_ENCRYPTION
    encrypted = collected(snapshot.cluster, Part.CLUSTER).encrypted_resources
    resources = sorted(encrypted)
    if "secrets" not in encrypted:
        return [fail(spec, snapshot.arn, evidence={"encrypted_resources": resources})]
    return [passed(spec, snapshot.arn, evidence={"encrypted_resources": resources})]


CHECKS: list[Check] = [
    control_plane_logging_check(),
    Check(spec=SECRETS_ENCRYPTION, run=check_secrets_encryption),
]
