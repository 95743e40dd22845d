"""The ``zap`` check: an OWASP ZAP baseline scan finds nothing at or above the failing risk.

collect: run zap-baseline.py in the ZAP image through the Docker SDK, or a local install, or
         ingest a JSON / XML report produced elsewhere; zap-baseline's exit code is kept.
parse:   the report and the rules file (report.py).
evaluate: the gate's own rules (policy.py), so an ingested report and a run are judged alike:
          the rules file's FAIL / WARN / IGNORE first, then ``fail_at`` risk and a minimum
          confidence (False Positive alerts never count). Exit 3 or nothing scanned is an error.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline import docker_run, proc
from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.checks.zap.policy import EXIT_MEANINGS, ZapParsed, evaluate_zap
from pipeline.checks.zap.report import Rules, read_json_report, read_rules, read_xml_report
from pipeline.checks.zap.settings import ZapSettings
from pipeline.errors import ArtifactMissing, ToolFailed, ToolNotFound
from pipeline.model import ToolInfo

__all__ = ["ZapCheck", "ZapParsed", "ZapRaw", "ZapSettings", "baseline_arguments", "evaluate_zap"]

WORK_DIR = "/zap/wrk"  # where zap-baseline.py reads the rules and writes its reports
INSTALL_HINT = ("install ZAP and put zap-baseline.py on PATH (or set checks.zap.zap_path), or ingest a report "
                "produced elsewhere (checks.zap.report).")


@dataclass(frozen=True)
class ZapRaw:
    """What collect gathered: the report to read (and its format), the rules file, zap-baseline's outcome."""

    report: Path
    report_format: str  # json | xml
    rules: Path | None
    exit_code: int | None  # None: ingested
    passed_rules: int | None  # zap-baseline's "PASS: n" (None: not known)


class ZapCheck(Check[ZapSettings, ZapRaw, ZapParsed]):
    """A passive ZAP baseline scan of the running service."""

    name = "zap"
    title = "Security baseline (OWASP ZAP)"
    order = 30
    needs_target = True
    security = True
    Settings = ZapSettings
    findings = {
        "alert": FindingKind("a ZAP alert (alert:<plugin id>; the bare plugin id is an alias) that the rules file "
                             "marks FAIL, or at or above fail_at risk with at least min_confidence",
                             "Fix what the alert names (ZAP's solution is shown with it), or record the decision: "
                             "IGNORE or WARN in the rules file, or a waiver for the plugin id (narrowed by url)."),
    }

    @classmethod
    def wants_target(cls, settings: ZapSettings) -> bool:
        """An ingested report needs no running service; a scan does."""
        return settings.ingested() is None

    def collect(self, settings: ZapSettings, ctx: CheckContext) -> ZapRaw:
        """Ingest the configured report, or run zap-baseline (locally or in Docker) against the target."""
        rules = ctx.resolve(settings.rules) if settings.rules else None
        if rules is not None and not rules.is_file():
            raise ArtifactMissing(f"the ZAP rules file {rules} does not exist", "Fix checks.zap.rules.")
        for configured, fmt in ((settings.report, "json"), (settings.xml_report, "xml")):
            if configured:
                path = ctx.resolve(configured)
                if not path.is_file():
                    raise ArtifactMissing(f"the ZAP report {path} does not exist",
                                          "Produce it with zap-baseline.py -J (JSON) or -x (XML).")
                ctx.tool = ToolInfo("zap", "unknown", "ingest")
                return ZapRaw(ctx.add_evidence(path), fmt, rules, None, None)
        if settings.mode == "ingest":
            raise ArtifactMissing("checks.zap.mode is ingest, but neither report nor xml_report is set",
                                  "Set checks.zap.report (a -J report) or xml_report (a -x report), or another mode.")
        return _scan(settings, rules, ctx)

    def parse(self, raw: ZapRaw) -> ZapParsed:
        """The report (JSON or XML) and the rules file, every field checked."""
        report = read_json_report(raw.report) if raw.report_format == "json" else read_xml_report(raw.report)
        return ZapParsed(report, read_rules(raw.rules) if raw.rules else Rules({}), raw.exit_code, raw.passed_rules)

    def evaluate(self, parsed: ZapParsed, settings: ZapSettings) -> Evaluation:
        """The rules file first, then fail_at and min_confidence (see policy)."""
        return evaluate_zap(parsed, settings)


def _scan(settings: ZapSettings, rules: Path | None, ctx: CheckContext) -> ZapRaw:
    """Run zap-baseline against the target; exit 3 or no report is a failure of the tool, not a verdict."""
    target = settings.target or ctx.env.get("READINESS_BASE_URL", "")
    if not re.match(r"^https?://", target):
        raise ArtifactMissing(f"no target to scan ({target!r}); zap-baseline needs an http(s) URL",
                              "Set checks.zap.target or READINESS_BASE_URL.")
    work = ctx.evidence_dir / "zap"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    work.chmod(0o777)  # the ZAP image runs as user zap (uid 1000) and must write its reports here
    if rules is not None:
        shutil.copyfile(rules, work / "rules.tsv")
    argv = baseline_arguments(target, settings, rules is not None)
    local = _local_zap(settings, ctx)
    if settings.mode == "local" or (settings.mode == "auto" and local):
        if not local:
            raise ToolNotFound("zap-baseline.py was not found on PATH or at checks.zap.zap_path.",
                               f"Either {INSTALL_HINT}")
        exit_code = _run_local(local, argv, work, ctx)
    else:
        exit_code = _run_docker(settings.image, argv, work, ctx)
    log = work / "zap.log"
    ctx.add_evidence(log)
    if exit_code == 3 or not (work / "report.json").is_file():
        raise ToolFailed(f"zap-baseline exited with code {exit_code} ({EXIT_MEANINGS.get(exit_code, 'unexpected')})"
                         f" and its report cannot be trusted; last output:\n{proc.log_tail(log, 15)}",
                         f"Check that {target} answers from where ZAP runs (host network), and the log.")
    ctx.add_evidence(work / "report.json")
    return ZapRaw(work / "report.json", "json", rules, exit_code, _passed_rules(log))


def baseline_arguments(target: str, settings: ZapSettings, with_rules: bool) -> list[str]:
    """zap-baseline.py's command line; report and rules paths are relative to /zap/wrk."""
    argv = ["zap-baseline.py", "-t", target, "-J", "report.json", "-x", "report.xml", "-m", str(settings.minutes)]
    if with_rules:
        argv += ["-c", "rules.tsv"]
    if settings.ajax_spider:
        argv.append("-j")
    if settings.alpha_rules:
        argv.append("-a")
    if settings.extra_options:
        argv += ["-z", settings.extra_options]
    return argv


def _local_zap(settings: ZapSettings, ctx: CheckContext) -> str | None:
    """The local zap-baseline.py: the configured one if it exists, else the one on the environment's PATH."""
    if settings.zap_path:
        return settings.zap_path if Path(settings.zap_path).is_file() else None
    return shutil.which("zap-baseline.py", path=ctx.env.get("PATH"))


def _run_local(binary: str, argv: list[str], work: Path, ctx: CheckContext) -> int:
    """zap-baseline.py installed here, run in the work folder (it writes its reports where it runs)."""
    command = [binary, *argv[1:]]
    ctx.tool = ToolInfo("zap-baseline", "local", "run", tuple(command))
    run = proc.run_tool(command, log_path=work / "zap.log", timeout_s=ctx.deadline_s, expected=range(256),
                        cwd=work, env=dict(ctx.env), console=ctx.console, install_hint=INSTALL_HINT)
    ctx.tool = replace(ctx.tool, exit_code=run.exit_code)
    return run.exit_code


def _run_docker(image: str, argv: list[str], work: Path, ctx: CheckContext) -> int:
    """zap-baseline.py in the ZAP image, host network, the work folder mounted at /zap/wrk."""
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
