"""The release view of a verdict: its policy, what changed since the baseline, and the history's trends.

``with_release`` takes the verdict of the checks and adds, in this order: the effective
policy of the config; with a baseline, the policy changes (an unapproved loosening makes
the verdict ``not_ready``), the deltas per check and the ``deltas`` rules (a broken one
makes it ``not_ready``); a baseline that cannot be read makes a ``ready`` verdict
``incomplete``. With a history folder, the run is appended and the trends drawn.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline import deltas as deltas_module
from pipeline import history, policy_diff
from pipeline.baseline import Baseline, BaselineError, load_baseline
from pipeline.config import Config
from pipeline.policy import effective_policy
from pipeline.verdict import VerdictReport, cannot_be_ready, cannot_pass


def with_release(report: VerdictReport, config: Config | None, baseline: Path | None,
                 history_dir: Path | None) -> VerdictReport:
    """``report`` with its policy, its comparison with ``baseline`` and the trends of ``history_dir``."""
    policy = effective_policy(config) if config is not None else None
    report = replace(report, policy=policy)
    if baseline is not None:
        report = _compared(report, policy, baseline, config.deltas if config else {})
    if history_dir is not None:
        report = _with_history(report, history_dir)
    return report


def _compared(report: VerdictReport, policy: dict[str, Any] | None, given: Path,
              rules: dict[str, Any]) -> VerdictReport:
    try:
        base = load_baseline(given, report.environment.get("service"))
    except BaselineError as exc:
        return replace(cannot_be_ready(report, f"The baseline cannot be used: {exc}."),
                       comparison={"baseline": {"given": str(given), "error": str(exc)}})
    day = dt.datetime.fromisoformat(report.generated_at).date()
    changes, problems = _policy_changes(base, policy, day)
    checks = deltas_module.compare(base.checks, report.checks, deltas_module.required_names(base.policy))
    broken = deltas_module.broken_rules(checks, rules)
    comparison: dict[str, Any] = {"baseline": base.to_dict(), "policy_changes": [c.to_dict() for c in changes],
                  "deltas": [d.to_dict() for d in checks], "broken_rules": broken}
    report = replace(report, comparison=comparison)
    if problems:
        report = cannot_be_ready(report, *problems)
    unapproved = [c for c in changes if c.unapproved]
    if unapproved or broken:
        report = cannot_pass(report, *(f"Policy loosened without an approval: {c.sentence()} Add an "
                                       f"'approvals' record for {c.key} (approver, reason, expires) or undo it."
                                       for c in unapproved),
                             *(f"Delta rule broken: {b}." for b in broken))
    return report


def _policy_changes(base: Baseline, policy: dict[str, Any] | None,
                    day: dt.date) -> tuple[list[policy_diff.Change], list[str]]:
    if base.policy is None:
        return [], [f"The baseline {base.path} records no policy (written by an older gate), so no loosening "
                    "can be ruled out; compare with a baseline written by this gate."]
    if policy is None:
        return [], ["No config was given, so this run's policy cannot be compared with the baseline's; "
                    "pass --config."]
    changes = policy_diff.diff(base.policy, policy)
    return policy_diff.approve(changes, policy_diff.approvals_in(policy), day), []


def _with_history(report: VerdictReport, folder: Path) -> VerdictReport:
    entry = history.entry(report, deltas_module.key_figures(report.checks))
    appended = history.append(folder, entry)
    loaded = history.load(folder, last=history.TREND_RUNS)
    warnings = [*appended, *loaded.warnings]
    trends = history.trends(loaded.runs)
    return replace(report, trends=tuple(trends), warnings=(*report.warnings, *warnings),
                   reasons=(*report.reasons, *(f"Warning: {w}" for w in warnings)))
