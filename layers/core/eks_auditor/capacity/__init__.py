"""The VPC CNI capacity model: max pods per instance type, IPs a node holds, subnet headroom forecast.

Pure functions over the domain model; the AWS calls live in eks_auditor.collect.instance_types.
"""
