"""The load generator's policy at its edges (pure): when k6 counts as starved, and what the result says then.

The runs with the real k6 (a script that burns k6's CPU, a light one) are in test_k6_run.py.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.k6 import K6Parsed, _watched, evaluate_k6
from pipeline.checks.k6.generator import judge_generator
from pipeline.checks.k6.loadwatch import LoadWatch, Sample, generator_warnings, machine_summary, not_watched
from pipeline.checks.k6.settings import GeneratorLimits
from pipeline.checks.k6.summary import parse_summary
from pipeline.model import Status
from pipeline.views import Facts
from tests.checks.test_k6_summary import export_doc, k6_settings

# k6 v1.1's own line, as the real binary printed it for a constant-arrival-rate scenario with maxVUs 2.
INSUFFICIENT = ('time="2026-11-30T23:25:15Z" level=warning msg="Insufficient VUs, reached 2 active VUs and cannot '
                'initialize more" executor=constant-arrival-rate scenario=s')


def watch(*cpus: float, warnings: tuple[str, ...] = (), wait_ms: float | None = 0.1) -> LoadWatch:
    """A native run's watch with one sample per CPU figure (k6's, in percent of one core)."""
    return LoadWatch(True, "", 2, 1.0, tuple(Sample(i + 1.0, float(cpu), 50.0, 1.0, wait_ms)
                                             for i, cpu in enumerate(cpus)), warnings)


def summary(dropped: int | None = None, p95: float = 100.0) -> Any:
    document = export_doc(p95, 0.0, {"p95": p95 >= 200})
    if dropped is not None:
        document["metrics"]["dropped_iterations"] = {"count": dropped, "rate": dropped / 10}
    return parse_summary(document)


def test_busy_in_more_than_half_the_samples_is_starved_at_the_edges() -> None:
    limits = GeneratorLimits()
    assert judge_generator(watch(95, 95, 10, 10), summary(), limits).problems == ()  # half: not more than half
    assert judge_generator(watch(90, 90, 90, 90), summary(), limits).problems == ()  # at 90%, not above
    starved = judge_generator(watch(95, 95, 95, 10), summary(), limits)
    assert starved.problems == ("k6 used more than 90% of a core or waited more than 5 ms for a CPU each time it "
                                "woke in 75% of 4 samples (median 95.0% of a core, median wait 0.1 ms; at most 50% "
                                "may be); its latencies include its own wait for CPU",)
    assert starved.hints[0].startswith("Give k6 CPU of its own")


def test_a_k6_that_waits_for_a_cpu_is_starved_though_it_used_little() -> None:
    # Other work held the CPU: k6 used 20% of a core, but waited 8 ms each time it woke.
    waiting = judge_generator(watch(20, 20, 20, wait_ms=8.0), summary(), GeneratorLimits())
    assert waiting.problems and "median wait 8.0 ms" in waiting.problems[0]
    assert judge_generator(watch(20, 20, 20, wait_ms=5.0), summary(), GeneratorLimits()).problems == ()  # at 5 ms
    assert judge_generator(watch(20, 20, 20, wait_ms=None), summary(), GeneratorLimits()).problems == ()  # unknown
    only_wait = judge_generator(watch(99, 99, 99, wait_ms=8.0), summary(), GeneratorLimits(max_cpu_percent=None))
    assert only_wait.problems[0].startswith("k6 waited more than 5 ms for a CPU each time it woke in 100% of 3")


@settings(max_examples=60, deadline=None)
@given(cpus=st.lists(st.floats(min_value=0, max_value=400), min_size=3, max_size=30),
       limit=st.floats(min_value=1, max_value=200), share=st.floats(min_value=0, max_value=1))
def test_starved_exactly_when_the_busy_share_exceeds_the_limit(cpus: list[float], limit: float, share: float) -> None:
    limits = GeneratorLimits(max_cpu_percent=limit, max_busy_share=share)
    busy = sum(cpu > limit for cpu in cpus) / len(cpus)
    assert bool(judge_generator(watch(*cpus), summary(), limits).problems) is (busy > share)


def test_too_few_samples_or_no_limit_is_shown_not_judged() -> None:
    short = judge_generator(watch(300, 300), summary(), GeneratorLimits())
    assert short.problems == () and "fewer than checks.k6.generator.min_samples (3)" in short.notes[0]
    off = judge_generator(watch(300, 300, 300, wait_ms=50), summary(),
                          GeneratorLimits(max_cpu_percent=None, max_wait_ms=None))
    assert off.problems == () and "not judged" in off.notes[0]


def test_any_dropped_iteration_is_starved_with_the_max_vus_hint() -> None:
    assert judge_generator(watch(1, 1, 1), summary(dropped=0), GeneratorLimits()).problems == ()
    one = judge_generator(watch(1, 1, 1), summary(dropped=1), GeneratorLimits())
    assert one.problems == ("k6 dropped 1 iteration(s) (at most 0 allowed): it could not start them at the "
                            "configured rate",)
    assert "arrival_rate.max_vus" in one.hints[0]
    assert judge_generator(watch(1, 1, 1), summary(dropped=5), GeneratorLimits(max_dropped_iterations=5)).problems \
        == ()


def test_k6s_own_warning_about_the_generator_is_starved_unless_allowed() -> None:
    found = generator_warnings(f"running...\n{INSUFFICIENT}\n{INSUFFICIENT}\ndone\n")
    assert found == (INSUFFICIENT,)  # each line once
    assert generator_warnings('level=warning msg="Request Failed" error="EOF"') == ()
    warned = judge_generator(watch(1, 1, 1, warnings=found), summary(), GeneratorLimits())
    assert warned.problems[0].startswith("k6 warned about the generator 1 time(s): time=")
    assert judge_generator(watch(1, 1, 1, warnings=found), summary(), GeneratorLimits(allow_warnings=True)).problems \
        == ()


def test_a_starved_run_is_an_error_that_keeps_the_facts_and_never_blames_the_service() -> None:
    parsed = K6Parsed(summary(p95=350.0), 99, False, watch=watch(150, 150, 150))
    result = evaluate_k6(parsed, k6_settings())
    assert result.status is Status.ERROR and result.findings == ()
    assert result.summary.startswith("The measurement is not trustworthy: k6 used more than 90% of a core or waited")
    assert any("Crossed under a starved generator, so not held against the service: http_req_duration "
               "p(95)<200" in r for r in result.reasons)
    assert {"latency p95", "k6 CPU median", "http_req_duration p(95)<200"} <= {m.name for m in result.measurements}
    facts = next(v for v in result.views if isinstance(v, Facts))
    assert dict(facts.items)["k6 CPU (% of one core)"] == "median 150.0, max 150.0"
    # The same numbers from a generator that kept up: the service is to blame, and fails.
    assert evaluate_k6(K6Parsed(summary(p95=350.0), 99, False, watch=watch(20, 20, 20)), k6_settings()).status \
        is Status.FAIL


def test_an_abnormal_exit_stays_the_error_and_mentions_the_generator() -> None:
    result = evaluate_k6(K6Parsed(summary(), 107, False, watch=watch(150, 150, 150)), k6_settings())
    assert result.status is Status.ERROR and "107" in result.summary
    assert any(r.startswith("Besides: k6 used more than 90% of a core") for r in result.reasons)


def test_docker_and_ingest_say_the_cpu_was_not_watched_but_judge_what_they_can() -> None:
    docker = _watched(None, (INSUFFICIENT,))
    assert not docker.watched and "mode docker" in docker.why_not
    result = evaluate_k6(K6Parsed(summary(), 0, False, watch=docker), k6_settings())
    assert result.status is Status.ERROR and "k6 warned about the generator" in result.summary
    assert any(r.startswith("The load generator's CPU was not watched: k6 ran in a container") for r in result.reasons)
    ingested = not_watched("ingested")
    assert evaluate_k6(K6Parsed(summary(dropped=3), None, False, watch=ingested), k6_settings()).status is Status.ERROR
    passed = evaluate_k6(K6Parsed(summary(), None, False, watch=ingested), k6_settings())
    assert passed.status is Status.PASS and dict(next(
        v for v in passed.views if isinstance(v, Facts)).items)["load generator"] == "not watched"


def test_machine_summary_of_samples() -> None:
    numbers = machine_summary(watch(10, 30, 20, 40))
    assert (numbers["k6_cpu_median"], numbers["k6_cpu_max"], numbers["samples"]) == (25.0, 40.0, 4)
    assert machine_summary(not_watched("x"))["k6_cpu_median"] is None


def test_the_summary_never_shows_a_median_above_the_peak() -> None:
    """Seen on a release run: the median wait was rounded to 0.1 ms while the peak stayed 0.06 ms."""
    from pipeline.checks.k6.loadwatch import machine_summary
    numbers = machine_summary(watch(10, 10, 10, wait_ms=0.05))
    assert numbers["k6_wait_ms_median"] is not None and numbers["k6_wait_ms_max"] is not None
    assert numbers["k6_wait_ms_median"] <= numbers["k6_wait_ms_max"]
