"""The `eks-auditor` command line."""
