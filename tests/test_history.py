"""``--history DIR``: one line per run appended atomically, unreadable lines reported and kept, trends drawn."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import history
from pipeline._cli import main
from pipeline.deltas import key_figures
from pipeline.model import Finding, Status
from pipeline.reporters import html
from pipeline.verdict import decide
from tests.conftest import MANDATORY, result, write_results
from tests.fuzzing import fuzz


def run_verdict(reports: Path, folder: Path) -> int:
    return main(["verdict", "--reports-dir", str(reports), "--history", str(folder)])


def entry(n: int) -> dict[str, object]:
    report = decide([result("coverage", Status.PASS)], mandatory=("coverage",))
    return history.entry(report, {"coverage: line rate": 0.9 + n / 1000})


def test_each_run_appends_one_line_and_the_html_draws_the_trend_over_the_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    reports, folder = tmp_path / "reports", tmp_path / "history"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    for _ in range(3):
        assert run_verdict(reports, folder) == 0
    lines = (folder / history.HISTORY_FILE).read_text().splitlines()
    assert [json.loads(line)["verdict"] for line in lines] == ["ready"] * 3
    page = (reports / "readiness.html").read_text()
    assert "Trends (last 3 runs)" in page
    polyline = re.search(r'aria-label="findings: coverage".*?<polyline points="([^"]+)"', page, re.S)
    assert polyline is not None and len(polyline.group(1).split()) == 3


def test_a_corrupt_and_a_truncated_line_are_reported_skipped_and_kept(tmp_path: Path) -> None:
    history.append(tmp_path, entry(1))
    path = tmp_path / history.HISTORY_FILE
    with path.open("ab") as handle:
        handle.write(b"{not json}\n")
    history.append(tmp_path, entry(2))
    with path.open("ab") as handle:
        handle.write(b'{"schema": "readiness.history/1", "verd')  # a writer that died mid-line
    before = path.read_bytes()
    warnings = history.append(tmp_path, entry(3))
    assert "its last line was cut short" in warnings[0] and str(path) in warnings[0]
    assert path.read_bytes().startswith(before)  # nothing lost
    loaded = history.load(tmp_path)
    assert [r["figures"]["coverage: line rate"] for r in loaded.runs] == [0.901, 0.902, 0.903]
    assert loaded.warnings == (f"{path}: line(s) 2, 4 are corrupt or truncated and were skipped "
                               "(they stay in the file)",)
    tail = history.load(tmp_path, last=2)  # what the trends read: only the end of a long history
    assert [r["figures"]["coverage: line rate"] for r in tail.runs] == [0.902, 0.903]
    assert "line(s) 4 " in tail.warnings[0]


def test_runs_appending_at_once_all_land(tmp_path: Path) -> None:
    def append_many() -> None:
        for n in range(25):
            history.append(tmp_path, entry(n))

    threads = [threading.Thread(target=append_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loaded = history.load(tmp_path)
    assert len(loaded.runs) == 100 and not loaded.warnings


def test_trends_keep_the_last_runs_and_leave_gaps_where_a_figure_is_missing() -> None:
    runs = tuple({"schema": history.HISTORY_SCHEMA, "generated_at": f"t{i}", "verdict": "ready",
                  "figures": {"a": i} if i % 2 else {"a": i, "b": 1}} for i in range(30))
    trends = {t.name: t for t in history.trends(runs, last=4)}
    assert trends["a"].values == (26.0, 27.0, 28.0, 29.0)
    assert trends["b"].values == (1.0, None, 1.0, None)


def test_a_hostile_figure_name_is_escaped_in_the_html() -> None:
    report = decide([result("coverage", Status.PASS)], mandatory=("coverage",))
    trend = history.Trend('<script>alert(1)</script>"', (1.0, 2.0), ("a", "b"))
    page = html.render(replace(report, trends=(trend,)))
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@fuzz(60)
@given(st.lists(st.binary(max_size=60) | st.sampled_from([b"{}", b"[]", b'{"schema": "readiness.history/1"}',
                                                           b"\xff\xfe", b"NaN", b'{"figures": 1e400}']),
                max_size=6))
def test_any_bytes_between_good_lines_never_stop_the_history_or_lose_a_run(tmp_path_factory: pytest.TempPathFactory,
                                                                          junk: list[bytes]) -> None:
    folder = tmp_path_factory.mktemp("history")
    path = folder / history.HISTORY_FILE
    good = [json.dumps(entry(n)).encode() for n in range(2)]
    path.write_bytes(b"\n".join([good[0], *junk, good[1]]) + b"\n")
    loaded = history.load(folder)
    assert loaded.runs[0]["figures"] == entry(0)["figures"]
    assert loaded.runs[-1]["figures"] == entry(1)["figures"]
    before = path.read_bytes()
    history.append(folder, entry(2))
    assert path.read_bytes().startswith(before) and len(history.load(folder).runs) == len(loaded.runs) + 1


def test_key_figures_count_open_vulnerabilities_by_severity_and_open_findings_per_check() -> None:
    findings = (Finding("vulnerability:A", "high", "a"), Finding("vulnerability:B", "moderate", "b"),
                Finding("vulnerability:C", "high", "c", waived_by="audit:C"))
    audit = replace(result("audit", Status.FAIL), findings=findings)
    figures = key_figures([audit, result("coverage", Status.PASS)])
    assert figures["vulnerabilities: high"] == 1 and figures["vulnerabilities: moderate"] == 1
    assert figures["vulnerabilities: critical"] == 0 and figures["findings: audit"] == 2
    assert figures["gate: duration s"] == 3.0
