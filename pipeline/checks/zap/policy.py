"""The zap check's policy: the rules file first, then ``fail_at`` risk and ``min_confidence``.

Pure: the same report is judged the same way whether it was scanned here or ingested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.checks.interface import Evaluation
from pipeline.checks.zap.report import CONFIDENCES, RISKS, Alert, Rules, ZapReport
from pipeline.checks.zap.settings import ZapSettings
from pipeline.model import Finding, Measurement, Status

EXIT_MEANINGS = {0: "no FAIL or WARN", 1: "at least one FAIL", 2: "WARN only",
                 3: "zap-baseline failed (bad options, ZAP did not start, or nothing was scanned)"}
_NO_SPACE = re.compile(r"\s+")  # a finding id has no spaces; the plugin id as written stays an alias
ACTIONS_COUNTED = ("FAIL", "WARN", "INFO", "IGNORE", "NOT COUNTED", "OUT OF SCOPE")


@dataclass(frozen=True)
class ZapParsed:
    """The scan's facts: the report, the rules file, zap-baseline's exit code and its count of passed rules."""

    report: ZapReport
    rules: Rules
    exit_code: int | None  # None: ingested
    passed_rules: int | None  # zap-baseline's "PASS: n" (None: not known)


def evaluate_zap(parsed: ZapParsed, settings: ZapSettings) -> Evaluation:
    """Pure policy: the rules file first, then fail_at and the minimum confidence; nothing scanned is an error."""
    report = parsed.report
    if not report.sites:
        return Evaluation(Status.ERROR, "The ZAP report lists no scanned site: nothing was scanned.",
                          ("An empty scan proves nothing; check the target and that ZAP could reach it.",))
    if parsed.passed_rules == 0:
        return Evaluation(Status.ERROR, "zap-baseline passed zero rules: nothing was really scanned.",
                          ("zap-baseline treats this as exit 3; check that the target answers.",))
    fail_at, min_confidence = RISKS.index(settings.fail_at), CONFIDENCES.index(settings.min_confidence)
    judged = [(alert, action(alert, parsed.rules, fail_at, min_confidence)) for alert in report.alerts]
    findings = tuple(alert_finding(alert, verdict) for alert, verdict in judged)
    failing = [f for f in findings if f.failing]
    counts = {name: sum(1 for _, verdict in judged if verdict == name) for name in ACTIONS_COUNTED}
    reasons = tuple(f.title for f in failing)
    if parsed.exit_code == 1 and not failing:
        reasons += ("zap-baseline reported FAIL with its own rules; the gate's rules (fail_at, waivers, the rules "
                    "file) judged every alert below the failing level.",)
    summary = (f"{len(failing)} alert(s) fail, {counts['WARN']} warn, {counts['IGNORE']} ignored "
               f"(fail at {settings.fail_at} risk) on {', '.join(report.sites)}.")
    details = {"zap_version": report.version, "sites": list(report.sites), "fail_at": settings.fail_at}
    return Evaluation(Status.FAIL if failing else Status.PASS, summary, reasons,
                      _measurements(parsed, counts), findings, details)


def _measurements(parsed: ZapParsed, counts: dict[str, int]) -> tuple[Measurement, ...]:
    """Alerts per action (FAIL must be none), per risk, and zap-baseline's own exit code."""
    found = [Measurement(f"alerts {name.lower()}", count, "", "== 0" if name == "FAIL" else None,
                         count == 0 if name == "FAIL" else None) for name, count in counts.items()]
    found += [Measurement(f"{RISKS[r]} risk alerts", sum(1 for a in parsed.report.alerts if a.risk == r), "")
              for r in range(3, -1, -1)]
    if parsed.exit_code is not None:
        found.append(Measurement("zap-baseline exit code", parsed.exit_code, "", EXIT_MEANINGS.get(parsed.exit_code)))
    return tuple(found)


def action(alert: Alert, rules: Rules, fail_at: int, min_confidence: int) -> str:
    """What the gate does with one alert: FAIL, WARN, INFO, IGNORE, NOT COUNTED or OUT OF SCOPE."""
    if alert.confidence == 0 or alert.confidence < min_confidence:
        return "NOT COUNTED"  # False Positive, or below the minimum confidence
    if alert.urls and not any(rules.in_scope(alert.plugin_id, url) for url in alert.urls):
        return "OUT OF SCOPE"
    rule = rules.actions.get(alert.plugin_id)
    if rule is not None:
        return rule.action
    return "FAIL" if alert.risk >= fail_at else "WARN"


def alert_finding(alert: Alert, verdict: str) -> Finding:
    """One finding per alert: ``alert:<plugin id>``, the bare plugin id kept as an alias for waivers."""
    return Finding(
        id=f"alert:{_NO_SPACE.sub('_', alert.plugin_id)}", aliases=(alert.plugin_id,), severity=RISKS[alert.risk],
        title=f"{alert.name} ({RISKS[alert.risk]} risk, {CONFIDENCES[alert.confidence]} confidence, "
              f"{alert.count} instance(s)) [{verdict}]",
        location=alert.urls[0] if alert.urls else alert.site,
        failing=verdict == "FAIL",
        urls=alert.urls, instances=alert.instances,
        message=alert.description, remediation=alert.solution, references=alert.references,
        tags=tuple(f"{kind}-{number}" for kind, number in (("CWE", alert.cwe), ("WASC", alert.wasc))
                   if number.isdigit() and int(number) > 0),
        details={"action": verdict, "confidence": CONFIDENCES[alert.confidence]},
    )
