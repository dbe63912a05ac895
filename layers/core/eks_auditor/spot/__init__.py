"""Spot interruption warnings and rebalance recommendations: parse, map to node groups, notice and burst."""
