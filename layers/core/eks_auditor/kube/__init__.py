"""Read-only access to a cluster's Kubernetes API: the EKS bearer token (token), an HTTPS client (client),
typed errors (errors). Import from those modules.
"""
