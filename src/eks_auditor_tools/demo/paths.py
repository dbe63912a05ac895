"""Where the checkout's template, handlers and sample events are (the demo runs from a checkout)."""

from __future__ import annotations

from pathlib import Path


def repo_root() -> Path:
    # src/eks_auditor_tools/demo/paths.py -> the checkout root
    root = Path(__file__).resolve().parents[3]
    if not (root / "template.yaml").exists():
        raise FileNotFoundError(
            f"template.yaml not found at {root}: run the demo from a checkout (pip install -e .)"
        )
    return root
