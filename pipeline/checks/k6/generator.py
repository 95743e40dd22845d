"""Judge the load generator (pure): was k6 itself starved, so that its numbers measure k6, not the service?

Starved means any of: k6 short of CPU in more than ``generator.max_busy_share`` of the samples
(it used more than ``generator.max_cpu_percent`` of one core, or its threads waited more than
``generator.max_wait_ms`` on average for a CPU each time they became runnable: other work had
it); more dropped iterations than ``generator.max_dropped_iterations`` (k6's own counter: an
arrival-rate scenario could not start iterations on time); a warning of k6's about the generator
in its log. Then the result is ``error`` with what to change, never a ``fail`` blamed on the service.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.checks.k6.loadwatch import LoadWatch, Sample, machine_summary
from pipeline.checks.k6.settings import GeneratorLimits
from pipeline.checks.k6.summary import Summary
from pipeline.model import Measurement
from pipeline.views import Facts

CPU_HINT = ("Give k6 CPU of its own: run it on a quieter machine or another host (checks.k6.base_url), "
            "lower the load per k6 instance, or lighten the script's own work (no heavy JavaScript per iteration).")
DROPPED_HINT = ("Raise checks.k6.arrival_rate.max_vus (and pre_allocated_vus) so the VU pool can start every "
                "iteration on time; if VUs are plenty, k6 lacks CPU.")


@dataclass(frozen=True)
class GeneratorVerdict:
    """What the generator's facts amount to: problems (starved when any), notes, and how it is shown."""

    problems: tuple[str, ...]
    hints: tuple[str, ...]
    notes: tuple[str, ...]
    facts: Facts
    measurements: tuple[Measurement, ...]
    numbers: dict[str, bool | float | int | None]  # for the result's details


def judge_generator(watch: LoadWatch, summary: Summary, limits: GeneratorLimits) -> GeneratorVerdict:
    """The problems with the generator (empty: it kept up, as far as was watched) and how to show them."""
    problems: list[str] = []
    hints: list[str] = []
    notes: list[str] = []
    dropped = summary.metrics.get("dropped_iterations", {}).get("count")
    if limits.max_dropped_iterations is not None and dropped is not None and dropped > limits.max_dropped_iterations:
        problems.append(f"k6 dropped {dropped:g} iteration(s) (at most {limits.max_dropped_iterations} allowed): "
                        "it could not start them at the configured rate")
        hints.append(DROPPED_HINT)
    if watch.warnings and not limits.allow_warnings:
        problems.append(f"k6 warned about the generator {len(watch.warnings)} time(s): {watch.warnings[0]}")
        hints.append(DROPPED_HINT if any("Insufficient VUs" in w for w in watch.warnings) else CPU_HINT)
    if not watch.watched:
        notes.append(f"The load generator's CPU was not watched: {watch.why_not}.")
    else:
        problem, note = _cpu(watch, limits)
        problems += [problem] if problem else []
        hints += [CPU_HINT] if problem else []
        notes += [note] if note else []
    numbers: dict[str, bool | float | int | None] = {
        "watched": watch.watched, "starved": bool(problems), "dropped_iterations": dropped, **machine_summary(watch)}
    return GeneratorVerdict(tuple(problems), tuple(dict.fromkeys(hints)), tuple(notes),
                            _facts(watch, dropped, problems), _measurements(watch, dropped), numbers)


def _cpu(watch: LoadWatch, limits: GeneratorLimits) -> tuple[str, str]:
    """(the problem when k6 was short of CPU, a note when its CPU cannot be judged); '' for neither."""
    if limits.max_cpu_percent is None and limits.max_wait_ms is None:
        return "", "k6's CPU is shown, not judged (checks.k6.generator.max_cpu_percent and max_wait_ms are null)."
    if len(watch.samples) < limits.min_samples:
        return "", (f"k6's CPU is shown, not judged: {len(watch.samples)} sample(s), fewer than "
                f"checks.k6.generator.min_samples ({limits.min_samples}); the run was too short.")
    busy = [s for s in watch.samples if _busy(s, limits)]
    share = len(busy) / len(watch.samples)
    if share <= limits.max_busy_share:
        return "", ""
    numbers = machine_summary(watch)
    criteria = [f"used more than {limits.max_cpu_percent:g}% of a core"] if limits.max_cpu_percent is not None else []
    criteria += [f"waited more than {limits.max_wait_ms:g} ms for a CPU each time it woke"] \
        if limits.max_wait_ms is not None else []
    return (f"k6 {' or '.join(criteria)} in {share:.0%} of "
            f"{len(watch.samples)} samples (median {numbers['k6_cpu_median']}% of a core, median wait "
            f"{numbers['k6_wait_ms_median']} ms; at most {limits.max_busy_share:.0%} may be); its latencies include "
            "its own wait for CPU"), ""


def _busy(sample: Sample, limits: GeneratorLimits) -> bool:
    """k6 was short of CPU in this sample: it used nearly a core, or it waited long for one."""
    over = limits.max_cpu_percent is not None and sample.k6_cpu > limits.max_cpu_percent
    waited = limits.max_wait_ms is not None and sample.k6_wait_ms is not None and sample.k6_wait_ms > limits.max_wait_ms
    return over or waited


def _facts(watch: LoadWatch, dropped: float | None, problems: list[str]) -> Facts:
    numbers = machine_summary(watch)
    items = [("load generator", "starved: the measurement is not trustworthy" if problems else
              "kept up" if watch.watched else "not watched")]
    if watch.watched:
        items += [("samples", f"{numbers['samples']} (every {watch.interval_s:g} s)"),
                  ("k6 CPU (% of one core)", f"median {numbers['k6_cpu_median']}, max {numbers['k6_cpu_max']}"),
                  ("k6 wait for a CPU per wake-up (ms)",
                   f"median {numbers['k6_wait_ms_median']}, max {numbers['k6_wait_ms_max']}"),
                  (f"machine CPU (% of {watch.cores} cores)",
                   f"median {numbers['machine_cpu_median']}, max {numbers['machine_cpu_max']}"),
                  ("load average (1 min) at the end", str(numbers["load1_end"]))]
    else:
        items.append(("why not watched", watch.why_not))
    items.append(("dropped iterations", "none (k6 lists the metric once it drops one)" if dropped is None
                  else f"{dropped:g}"))
    items += [("k6 warning", warning) for warning in watch.warnings[:5]]
    return Facts("Load generator", tuple(items))


def _measurements(watch: LoadWatch, dropped: float | None) -> tuple[Measurement, ...]:
    numbers = machine_summary(watch)
    found = [Measurement("dropped iterations", int(dropped), "")] if dropped is not None else []
    if watch.watched and watch.samples:
        found += [Measurement("k6 CPU median", numbers["k6_cpu_median"], "% of a core"),
                  Measurement("machine CPU median", numbers["machine_cpu_median"], "%")]
    return tuple(found)
