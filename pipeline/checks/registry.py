"""The checks this version of the gate implements, in the contract's fixed order.

Each check is imported on its own: a check whose module cannot load (a dependency
missing from this environment) becomes a check that records ``error`` with the reason,
so the other checks and the verdict still run.
"""

from __future__ import annotations

import importlib
from typing import Any

from pipeline.checks.interface import Check, CheckContext
from pipeline.errors import ToolNotFound
from pipeline.model import MANDATORY_CHECKS

_MODULES = {
    "coverage": ("pipeline.checks.coverage", "CoverageCheck"),
    "openapi": ("pipeline.checks.openapi", "OpenApiCheck"),
    "zap": ("pipeline.checks.zap", "ZapCheck"),
    "audit": ("pipeline.checks.audit", "AuditCheck"),
    "k6": ("pipeline.checks.k6", "K6Check"),
    "explain": ("pipeline.checks.explain", "ExplainCheck"),
    "dashboards": ("pipeline.checks.dashboards", "DashboardsCheck"),
}


def _unloadable(name: str, error: ImportError) -> type[Check[Any, Any]]:
    class Unloadable(Check[None, None]):
        title = name

        def collect(self, settings: dict[str, Any], ctx: CheckContext) -> None:
            raise ToolNotFound(f"the {name} check cannot load in this environment: {error}",
                               "Install the gate with its dependencies: pip install -e . (the Nox sessions do).")

        def parse(self, raw: None) -> None:  # pragma: no cover - collect always raises
            return None

        def evaluate(self, parsed: None, settings: dict[str, Any]) -> Any:  # pragma: no cover
            return None

    Unloadable.name = name
    return Unloadable


def _load(name: str) -> type[Check[Any, Any]]:
    module, attribute = _MODULES[name]
    try:
        check: type[Check[Any, Any]] = getattr(importlib.import_module(module), attribute)
    except ImportError as exc:
        return _unloadable(name, exc)
    return check


CHECKS: dict[str, type[Check[Any, Any]]] = {name: _load(name) for name in _MODULES}

assert list(CHECKS) == list(MANDATORY_CHECKS), "every mandatory check, in the contract's order"
