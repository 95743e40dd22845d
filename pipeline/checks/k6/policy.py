"""The k6 check's policy: pure judgement over a validated summary and the settings (no I/O).

Every threshold the settings ask for is recomputed from the observed values; crossed ones
fail. A run that ended any other way, a threshold k6 did not evaluate, a k6 verdict the
recomputation contradicts, or a threshold nothing proves met is an error, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pipeline.checks.interface import Evaluation
from pipeline.checks.k6.curve import Curve
from pipeline.checks.k6.generator import GeneratorVerdict, judge_generator
from pipeline.checks.k6.loadwatch import LoadWatch, not_watched
from pipeline.checks.k6.report import (
    check_findings,
    crossed_finding,
    fmt,
    headline_measurements,
    latency_view,
    ms,
    pct,
    threshold_measurement,
)
from pipeline.checks.k6.settings import K6Settings, expected_expressions
from pipeline.checks.k6.summary import Summary, Threshold
from pipeline.model import Status

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
class K6Parsed:
    """A validated summary and how the run ended (``exit_code`` None: the summary was ingested)."""

    summary: Summary
    exit_code: int | None
    aborted: bool  # k6 stopped early because a threshold with abortOnFail was crossed
    capacity: Curve | None = None  # the capacity search's curve, when one ran
    watch: LoadWatch = field(default_factory=lambda: not_watched("no watch of the generator was recorded"))


def evaluate_k6(parsed: K6Parsed, settings: K6Settings) -> Evaluation:
    """Pure policy: every threshold recomputed from the observed values; crossed ones fail.

    Any other abnormal end, a threshold of the settings that k6 did not evaluate, a k6 verdict
    the recomputation contradicts, a threshold nothing proves met, or a starved load generator
    is an error, never a pass.
    """
    generator = judge_generator(parsed.watch, parsed.summary, settings.generator)
    return _with_generator(_judge(parsed, settings, generator), generator)


def _judge(parsed: K6Parsed, settings: K6Settings, generator: GeneratorVerdict) -> Evaluation:
    summary, code = parsed.summary, parsed.exit_code
    problem = _untrustworthy(parsed, settings)
    if problem is not None:
        return _with_data(problem, summary)
    if generator.problems:
        return _with_data(_starved(summary, generator), summary)
    crossed = [t for t in summary.thresholds if t.verdict is False]
    unproven = [t for t in summary.thresholds if t.verdict is None]
    if code == EXIT_THRESHOLDS_CROSSED and not crossed:
        return _with_data(Evaluation(Status.ERROR, "k6 exited with 99 (thresholds crossed) but its summary shows none.",
                                     ("The summary and the exit code disagree; the run cannot be trusted.",)), summary)
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
        status, words = Status.FAIL, f"{len(crossed)} k6 threshold(s) crossed: {headline}."
    elif unproven:
        status, words = Status.ERROR, (f"{len(unproven)} k6 threshold(s) cannot be recomputed from the summary, "
                                       "so nothing proves them met.")
    else:
        status, words = Status.PASS, f"Every k6 threshold met (recomputed from the observed values): {headline}."
    return _with_data(Evaluation(status, words, tuple(reasons), findings=findings), summary)


def _untrustworthy(parsed: K6Parsed, settings: K6Settings) -> Evaluation | None:
    """Why the summary proves nothing (a missing threshold, an abnormal exit, a contradiction), or None."""
    summary, code = parsed.summary, parsed.exit_code
    judged = {(t.metric, t.expression) for t in summary.thresholds}
    missing = [f"{metric} {expr}" for metric, expr in expected_expressions(settings) if (metric, expr) not in judged]
    if missing:
        return Evaluation(Status.ERROR, f"k6 did not evaluate {len(missing)} configured threshold(s).",
                          (f"Not in the summary: {', '.join(missing)}.",
                           "Does the script's own options.thresholds replace the gate's? Remove them there, "
                           "or tag the requests the sub-metric selects."))
    if code is not None and code not in (0, EXIT_THRESHOLDS_CROSSED):
        return Evaluation(Status.ERROR, f"k6 exited with code {code}: {EXIT_MEANINGS.get(code, 'an unexpected exit')}.",
                          ("A run that did not end normally proves nothing about the SLA.",))
    disagree = [t for t in summary.thresholds if not t.agrees]
    if disagree:
        return Evaluation(Status.ERROR, "k6's verdict and the recomputed one disagree; the summary cannot be trusted.",
                          (*(_disagreement(t) for t in disagree),
                           "A genuine k6 summary never contradicts its own numbers: regenerate it with k6."))
    return None


def _starved(summary: Summary, generator: GeneratorVerdict) -> Evaluation:
    """The generator could not keep up: whatever the thresholds say, they measured k6, not the service."""
    crossed = [f"{t.metric} {t.expression} (observed {fmt(t.observed, t)})" for t in summary.thresholds
               if t.verdict is False]
    seen = (f"Crossed under a starved generator, so not held against the service: {', '.join(crossed)}."
            if crossed else "The thresholds were met, but a starved generator may have hidden slow answers.")
    return Evaluation(Status.ERROR, f"The measurement is not trustworthy: {'; '.join(generator.problems)}.",
                      (*generator.hints, seen))


def _with_generator(evaluation: Evaluation, generator: GeneratorVerdict) -> Evaluation:
    """Every outcome shows the generator's facts and says what of it was not watched or judged."""
    reasons = evaluation.reasons + generator.notes
    if generator.problems and not evaluation.summary.startswith("The measurement is not trustworthy"):
        reasons += tuple(f"Besides: {problem}." for problem in generator.problems)
    return replace(evaluation, reasons=reasons, measurements=evaluation.measurements + generator.measurements,
                   views=(*evaluation.views, generator.facts),
                   details={**evaluation.details, "generator": generator.numbers})


def _with_data(evaluation: Evaluation, summary: Summary) -> Evaluation:
    """The evaluation with what every outcome shows: measurements and the latency per endpoint."""
    measurements = (*(threshold_measurement(t) for t in summary.thresholds), *headline_measurements(summary))
    latency = latency_view(summary)
    return Evaluation(evaluation.status, evaluation.summary, evaluation.reasons, measurements, evaluation.findings,
                      {"shape": summary.shape}, (latency,) if latency.rows else ())


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
