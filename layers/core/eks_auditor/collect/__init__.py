"""AWS I/O: build a normalized ClusterSnapshot per cluster (injected clients, paginators, per-scan caches)."""
