"""eks-auditor: an always-on, event-driven auditor for Amazon EKS."""

__version__ = "0.1.0"
