"""The ``zap`` check: an OWASP ZAP baseline scan finds nothing at or above the failing risk.

collect: run zap-baseline.py in the ZAP image through the Docker SDK, or a local install, or
         ingest a JSON / XML report produced elsewhere; zap-baseline's exit code is kept.
parse:   the report (zap_report), the rules file.
evaluate: the gate's own rules, so an ingested report and a run are judged the same way:
          the rules file's FAIL / WARN / IGNORE first, then ``fail_at`` risk and a minimum
          confidence (False Positive alerts never count). Exit 3 or nothing scanned is an error.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline import docker_run, proc
from pipeline.checks.interface import Check, CheckContext, Evaluation, LegacySettings
from pipeline.checks.zap.report import (
    CONFIDENCES,
    RISKS,
    Alert,
    Rules,
    ZapReport,
    read_json_report,
    read_rules,
    read_xml_report,
)
from pipeline.errors import ArtifactMissing, ToolFailed, ToolNotFound
from pipeline.model import Finding, Measurement, Status, ToolInfo

DEFAULT_IMAGE = "ghcr.io/zaproxy/zaproxy:stable"
WORK_DIR = "/zap/wrk"  # where zap-baseline.py reads the rules and writes its reports
INSTALL_HINT = ("install ZAP and put zap-baseline.py on PATH (or set checks.zap.zap_path), or ingest a report "
                "produced elsewhere (checks.zap.report).")
EXIT_MEANINGS = {0: "no FAIL or WARN", 1: "at least one FAIL", 2: "WARN only",
                 3: "zap-baseline failed (bad options, ZAP did not start, or nothing was scanned)"}


@dataclass(frozen=True)
class ZapRaw:
    report: Path
    report_format: str  # json | xml
    rules: Path | None
    exit_code: int | None  # None: ingested
    passed_rules: int | None  # zap-baseline's "PASS: n" (None: not known)


@dataclass(frozen=True)
class ZapParsed:
    report: ZapReport
    rules: Rules
    exit_code: int | None
    passed_rules: int | None


class ZapCheck(Check[Any, ZapRaw, ZapParsed]):
    """A passive ZAP baseline scan of the running service."""

    name = "zap"
    title = "Security baseline (OWASP ZAP)"
    order = 30
    needs_target = True
    security = True
    Settings = LegacySettings  # a plain mapping until the check gets typed settings

    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> ZapRaw:
        rules = ctx.resolve(settings["rules"]) if settings.get("rules") else None
        if rules is not None and not rules.is_file():
            raise ArtifactMissing(f"the ZAP rules file {rules} does not exist", "Fix checks.zap.rules.")
        for key, fmt in (("report", "json"), ("xml_report", "xml")):
            if settings.get(key):
                path = ctx.resolve(settings[key])
                if not path.is_file():
                    raise ArtifactMissing(f"the ZAP report {path} does not exist",
                                          "Produce it with zap-baseline.py -J (JSON) or -x (XML).")
                ctx.tool = ToolInfo("zap", "unknown", "ingest")
                return ZapRaw(ctx.add_evidence(path), fmt, rules, None, None)
        target = settings.get("target") or os.environ.get("READINESS_BASE_URL")
        if not target or not re.match(r"^https?://", target):
            raise ArtifactMissing(f"no target to scan ({target!r}); zap-baseline needs an http(s) URL",
                                  "Set checks.zap.target or READINESS_BASE_URL.")
        work = ctx.evidence_dir / "zap"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        work.chmod(0o777)  # the ZAP image runs as user zap (uid 1000) and must write its reports here
        if rules is not None:
            shutil.copyfile(rules, work / "rules.tsv")
        argv = baseline_arguments(target, settings, rules is not None)
        mode = settings.get("mode", "auto")
        local = _local_zap(settings)
        if mode == "local" or (mode == "auto" and local):
            if not local:
                raise ToolNotFound("zap-baseline.py was not found on PATH or at checks.zap.zap_path.",
                                   f"Either {INSTALL_HINT}")
            exit_code = _run_local(local, argv, work, ctx)
        else:
            exit_code = _run_docker(settings.get("image", DEFAULT_IMAGE), argv, work, ctx)
        log = work / "zap.log"
        ctx.add_evidence(log)
        if exit_code == 3 or not (work / "report.json").is_file():
            raise ToolFailed(f"zap-baseline exited with code {exit_code} ({EXIT_MEANINGS.get(exit_code, 'unexpected')})"
                             f" and its report cannot be trusted; last output:\n{proc.log_tail(log, 15)}",
                             f"Check that {target} answers from where ZAP runs (host network), and the log.")
        ctx.add_evidence(work / "report.json")
        return ZapRaw(work / "report.json", "json", rules, exit_code, _passed_rules(log))

    def parse(self, raw: ZapRaw) -> ZapParsed:
        report = read_json_report(raw.report) if raw.report_format == "json" else read_xml_report(raw.report)
        return ZapParsed(report, read_rules(raw.rules) if raw.rules else Rules({}), raw.exit_code, raw.passed_rules)

    def evaluate(self, parsed: ZapParsed, settings: dict[str, Any]) -> Evaluation:
        return evaluate_zap(parsed, settings)


def baseline_arguments(target: str, settings: dict[str, Any], with_rules: bool) -> list[str]:
    """zap-baseline.py's command line; report and rules paths are relative to /zap/wrk."""
    argv = ["zap-baseline.py", "-t", target, "-J", "report.json", "-x", "report.xml",
            "-m", str(settings.get("minutes", 1))]
    if with_rules:
        argv += ["-c", "rules.tsv"]
    if settings.get("ajax_spider"):
        argv.append("-j")
    if settings.get("alpha_rules"):
        argv.append("-a")
    if settings.get("extra_options"):
        argv += ["-z", str(settings["extra_options"])]
    return argv


def _local_zap(settings: dict[str, Any]) -> str | None:
    if settings.get("zap_path"):
        return settings["zap_path"] if Path(settings["zap_path"]).is_file() else None
    return shutil.which("zap-baseline.py")


def _run_local(binary: str, argv: list[str], work: Path, ctx: CheckContext) -> int:
    command = [binary, *argv[1:]]
    ctx.tool = ToolInfo("zap-baseline", "local", "run", tuple(command))
    run = proc.run_tool(command, log_path=work / "zap.log", timeout_s=ctx.deadline_s, expected=range(256),
                        cwd=work, console=ctx.console, install_hint=INSTALL_HINT)
    ctx.tool = replace(ctx.tool, exit_code=run.exit_code)
    return run.exit_code


def _run_docker(image: str, argv: list[str], work: Path, ctx: CheckContext) -> int:
    ctx.tool = ToolInfo("zap-baseline", image, "docker",
                        ("docker", "run", "--network", "host", "-v", f"{work}:{WORK_DIR}:rw", image, *argv))
    exit_code = docker_run.run_container(image, argv, log_path=work / "zap.log", timeout_s=ctx.deadline_s,
                                         environment={}, mounts={str(work.resolve()): (WORK_DIR, "rw")},
                                         install_hint=INSTALL_HINT)
    ctx.tool = replace(ctx.tool, exit_code=exit_code)
    return exit_code


def _passed_rules(log: Path) -> int | None:
    """zap-baseline's own count of passed rules ("PASS: 52"); zero means nothing was really scanned."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    found = re.findall(r"\bPASS:\s*(\d+)", text)
    return int(found[-1]) if found else None


def evaluate_zap(parsed: ZapParsed, settings: dict[str, Any]) -> Evaluation:
    """Pure policy: the rules file first, then fail_at and the minimum confidence."""
    fail_at = RISKS.index(settings.get("fail_at", "medium"))
    min_confidence = CONFIDENCES.index(settings.get("min_confidence", "low"))
    report = parsed.report
    if not report.sites:
        return Evaluation(Status.ERROR, "The ZAP report lists no scanned site: nothing was scanned.",
                          ("An empty scan proves nothing; check the target and that ZAP could reach it.",))
    if parsed.passed_rules == 0:
        return Evaluation(Status.ERROR, "zap-baseline passed zero rules: nothing was really scanned.",
                          ("zap-baseline treats this as exit 3; check that the target answers.",))
    findings = [_finding(alert, parsed.rules, fail_at, min_confidence) for alert in report.alerts]
    failing = [f for f in findings if f.failing]
    counts = {action: sum(1 for f in findings if f.details["action"] == action)
              for action in ("FAIL", "WARN", "INFO", "IGNORE", "NOT COUNTED", "OUT OF SCOPE")}
    measurements = [Measurement(f"alerts {action.lower()}", count, "", "== 0" if action == "FAIL" else None,
                                count == 0 if action == "FAIL" else None) for action, count in counts.items()]
    measurements += [Measurement(f"{RISKS[r]} risk alerts", sum(1 for a in report.alerts if a.risk == r), "")
                     for r in range(3, -1, -1)]
    if parsed.exit_code is not None:
        measurements.append(Measurement("zap-baseline exit code", parsed.exit_code, "",
                                        EXIT_MEANINGS.get(parsed.exit_code)))
    details = {"zap_version": report.version, "sites": list(report.sites), "fail_at": RISKS[fail_at]}
    reasons = tuple(f.title for f in failing)
    if parsed.exit_code == 1 and not failing:
        reasons += ("zap-baseline reported FAIL with its own rules; the gate's rules (fail_at, waivers, the rules "
                    "file) judged every alert below the failing level.",)
    summary = (f"{len(failing)} alert(s) fail, {counts['WARN']} warn, {counts['IGNORE']} ignored "
               f"(fail at {RISKS[fail_at]} risk) on {', '.join(report.sites)}.")
    return Evaluation(Status.FAIL if failing else Status.PASS, summary, reasons, tuple(measurements),
                      tuple(findings), details)


def _finding(alert: Alert, rules: Rules, fail_at: int, min_confidence: int) -> Finding:
    rule = rules.actions.get(alert.plugin_id)
    if alert.confidence == 0 or alert.confidence < min_confidence:
        action = "NOT COUNTED"  # False Positive, or below the minimum confidence
    elif alert.instances and not any(rules.in_scope(alert.plugin_id, i.uri) for i in alert.instances):
        action = "OUT OF SCOPE"
    elif rule is not None:
        action = rule.action
    else:
        action = "FAIL" if alert.risk >= fail_at else "WARN"
    instances = [{"method": i.method, "uri": i.uri, "param": i.param, "evidence": i.evidence}
                 for i in alert.instances]
    return Finding(
        id=alert.plugin_id, severity=RISKS[alert.risk],
        title=f"{alert.name} ({RISKS[alert.risk]} risk, {CONFIDENCES[alert.confidence]} confidence, "
              f"{alert.count} instance(s)) [{action}]",
        location=alert.instances[0].uri if alert.instances else alert.site,
        failing=action == "FAIL",
        details={"action": action, "plugin_id": alert.plugin_id, "risk": RISKS[alert.risk],
                 "confidence": CONFIDENCES[alert.confidence], "cwe": alert.cwe, "wasc": alert.wasc,
                 "instances": instances, "urls": [i.uri for i in alert.instances], "solution": alert.solution,
                 "reference": alert.reference, "message": alert.description, "rule_id": alert.plugin_id,
                 "artifact": alert.instances[0].uri if alert.instances else alert.site},
    )
