"""The checks this version of the gate implements, in the contract's fixed order."""

from __future__ import annotations

from typing import Any

from pipeline.checks.audit import AuditCheck
from pipeline.checks.coverage import CoverageCheck
from pipeline.checks.dashboards import DashboardsCheck
from pipeline.checks.explain import ExplainCheck
from pipeline.checks.interface import Check
from pipeline.checks.k6 import K6Check
from pipeline.checks.openapi import OpenApiCheck
from pipeline.checks.zap import ZapCheck
from pipeline.model import MANDATORY_CHECKS

CHECKS: dict[str, type[Check[Any, Any]]] = {
    check.name: check
    for check in (CoverageCheck, OpenApiCheck, ZapCheck, AuditCheck, K6Check, ExplainCheck, DashboardsCheck)
}

assert list(CHECKS) == list(MANDATORY_CHECKS), "every mandatory check, in the contract's order"
