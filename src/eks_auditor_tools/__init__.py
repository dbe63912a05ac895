"""Tooling around the runtime: the CLI, the embedded demo, the benchmark, the HTML report.

Not shipped in the Lambda layer (layers/core holds only what runs in Lambda).
"""
