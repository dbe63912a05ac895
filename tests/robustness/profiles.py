"""Example counts per handler: fewer in the `ci` profile where a case is slow, >= 1,000 in `nightly`."""

from __future__ import annotations

import os

NIGHTLY = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "nightly"


def examples(ci: int) -> int:
    return 1000 if NIGHTLY else ci
