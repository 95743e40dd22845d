"""The zap check's policy and readers on reports written here; the real reports are in tests/compat."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline.checks.zap import ZapParsed, baseline_arguments, evaluate_zap
from pipeline.checks.zap_report import Rules, read_json_report, read_rules
from pipeline.errors import ParseError
from pipeline.model import Status
from pipeline.reporters import write_all
from pipeline.runner import run_check
from pipeline.verdict import decide, load_results
from tests.conftest import config_from


def alert(plugin: str, risk: int, confidence: int = 2, uris: tuple[str, ...] = ("http://127.0.0.1/a",),
          name: str = "An alert", **extra: str) -> dict[str, Any]:
    return {"pluginid": plugin, "alert": name, "name": name, "riskcode": str(risk), "confidence": str(confidence),
            "riskdesc": "x", "desc": "<p>desc</p>", "count": str(len(uris)),
            "instances": [{"uri": u, "method": "GET", "param": "", "attack": "", "evidence": ""} for u in uris],
            "solution": "<p>fix it</p>", "reference": "<p>https://owasp.org</p>", "cweid": "693", "wascid": "15",
            **extra}


def report(*alerts: dict[str, Any], sites: int = 1) -> dict[str, Any]:
    return {"@version": "2.16.1", "@generated": "now", "site": [
        {"@name": "http://127.0.0.1:8000", "@host": "127.0.0.1", "@port": "8000", "@ssl": "false",
         "alerts": list(alerts)} for _ in range(sites)]}


def ingest(tmp_path: Path, document: Any, rules: str | None = None, today: dt.date | None = None,
           **settings: Any) -> Any:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "report.json").write_text(json.dumps(document))
    zap: dict[str, Any] = {"report": "report.json", **settings}
    if rules is not None:
        (tmp_path / "rules.tsv").write_text(rules)
        zap["rules"] = "rules.tsv"
    waivers = zap.pop("waivers", [])
    body = {"version": 1, "checks": {"zap": zap}, "waivers": waivers}
    return run_check("zap", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path, today=today)


@pytest.mark.parametrize(("risk", "fail_at", "status"), [
    (2, "medium", Status.FAIL), (1, "medium", Status.PASS), (3, "high", Status.FAIL), (2, "high", Status.PASS),
    (0, "informational", Status.FAIL), (0, "low", Status.PASS),
])
def test_fail_at_risk_edges(tmp_path: Path, risk: int, fail_at: str, status: Status) -> None:
    assert ingest(tmp_path, report(alert("10020", risk)), fail_at=fail_at).status is status


def test_rules_file_decides_before_fail_at(tmp_path: Path) -> None:
    document = report(alert("10038", 3, name="CSP"), alert("10021", 1, name="XCTO"), alert("90004", 2))
    rules = "# comment\n10038\tIGNORE\t(CSP Header Not Set)\n10021\tFAIL\t(X-Content-Type-Options)\n90004\tWARN\t(x)\n"
    result = ingest(tmp_path, document, rules)
    actions = {f.id: f.details["action"] for f in result.findings}
    assert actions == {"10038": "IGNORE", "10021": "FAIL", "90004": "WARN"}
    assert result.status is Status.FAIL and [f.id for f in result.findings if f.failing] == ["10021"]


def test_false_positives_and_low_confidence_never_count(tmp_path: Path) -> None:
    document = report(alert("1", 3, confidence=0), alert("2", 3, confidence=1))
    assert ingest(tmp_path / "a", document).status is Status.FAIL  # low confidence counts by default
    result = ingest(tmp_path / "b", document, min_confidence="medium")
    assert result.status is Status.PASS
    assert {f.details["action"] for f in result.findings} == {"NOT COUNTED"}


def test_out_of_scope_urls_from_the_rules_file(tmp_path: Path) -> None:
    document = report(alert("10020", 2, uris=("http://127.0.0.1/robots.txt",)),
                      alert("10021", 2, uris=("http://127.0.0.1/robots.txt", "http://127.0.0.1/orders")))
    result = ingest(tmp_path, document, "*\tOUTOFSCOPE\t.*/robots\\.txt\n")
    assert {f.id: f.details["action"] for f in result.findings} == {"10020": "OUT OF SCOPE", "10021": "FAIL"}


def test_waiver_by_plugin_id_narrowed_to_a_url_pattern(tmp_path: Path) -> None:
    today = dt.date(2026, 11, 27)
    waiver = {"check": "zap", "id": "10020", "url": r"^http://127\.0\.0\.1/docs", "reason": "docs page is framed",
              "owner": "web-team", "expires": "2026-12-31"}
    covered = ingest(tmp_path / "a", report(alert("10020", 2, uris=("http://127.0.0.1/docs/x",))), today=today,
                     waivers=[waiver])
    assert covered.status is Status.WAIVED
    partly = ingest(tmp_path / "b", report(alert("10020", 2, uris=("http://127.0.0.1/docs/x", "http://127.0.0.1/api"))),
                    today=today, waivers=[waiver])
    assert partly.status is Status.FAIL  # one URL outside the pattern: the waiver does not cover the alert


def test_nothing_scanned_is_an_error(tmp_path: Path) -> None:
    assert ingest(tmp_path, {"@version": "2.16.1", "site": []}).status is Status.ERROR
    parsed = ZapParsed(read_json_report(tmp_path / "report.json"), Rules({}), 0, 0)
    assert evaluate_zap(parsed, {}).status is Status.ERROR


def test_rules_file_with_spaces_instead_of_tabs_names_the_line(tmp_path: Path) -> None:
    result = ingest(tmp_path, report(alert("1", 3)), "10020\tFAIL\t(ok)\n10021 FAIL (spaces)\n")
    assert result.status is Status.ERROR
    assert "rules.tsv: line 2: has no tab between its columns" in result.summary


def test_double_encoded_json_and_string_numbers(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps(json.dumps(report(alert("10020", 3)))))
    parsed = read_json_report(tmp_path / "r.json")
    assert parsed.alerts[0].risk == 3 and parsed.alerts[0].plugin_id == "10020"


@pytest.mark.parametrize("broken", ['{"site": [{"alerts": [{"pluginid": "1", "riskcode": "high"}]}]}',
                                    '{"site": [{"alerts": [{"pluginid": "1", "riskcode": "9"}]}]}',
                                    '{"site": "x"}', '{"site": [{"alerts": [{"pl'])
def test_broken_reports_are_parse_errors(tmp_path: Path, broken: str) -> None:
    (tmp_path / "r.json").write_text(broken)
    with pytest.raises(ParseError):
        read_json_report(tmp_path / "r.json")


def test_baseline_command_line() -> None:
    argv = baseline_arguments("http://127.0.0.1:8000", {"minutes": 2, "ajax_spider": True, "alpha_rules": True,
                                                        "extra_options": "-config api.disablekey=true"}, True)
    assert argv == ["zap-baseline.py", "-t", "http://127.0.0.1:8000", "-J", "report.json", "-x", "report.xml",
                    "-m", "2", "-c", "rules.tsv", "-j", "-a", "-z", "-config api.disablekey=true"]


def test_no_docker_and_no_zap_is_an_error_with_the_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    body = {"version": 1, "checks": {"zap": {"target": "http://127.0.0.1:9"}}}
    result = run_check("zap", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR
    hint = " ".join(result.reasons)
    assert "docker pull ghcr.io/zaproxy/zaproxy:stable" in hint and "zap-baseline.py" in hint


@given(st.lists(st.text(max_size=20), max_size=6))
def test_rules_reader_accepts_good_lines_or_names_the_bad_one(lines: list[str]) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as handle:
        handle.write("\n".join(lines))
    try:
        rules = read_rules(Path(handle.name))
        assert all(r.action in ("IGNORE", "INFO", "WARN", "FAIL") for r in rules.actions.values())
    except ParseError as exc:
        assert exc.place.startswith("line ")
    finally:
        Path(handle.name).unlink()


HOSTILE = "<script>alert('zap')</script><img src=x onerror=alert(1)>"


def test_hostile_report_is_escaped_and_runs_no_script_in_chromium(tmp_path: Path, browser: Any) -> None:
    hostile = alert("10020", 3, uris=("javascript:alert(document.cookie)", "http://127.0.0.1/" + "A" * 5000),
                    name=HOSTILE, desc=f"<p>{HOSTILE}</p>", solution="<a href='javascript:alert(2)'>x</a>")
    hostile["instances"][0]["evidence"] = HOSTILE
    hostile["instances"][0]["param"] = "\"><svg onload=alert(3)>"
    result = ingest(tmp_path, report(hostile))
    assert result.status is Status.FAIL
    loaded, merges = load_results([tmp_path / "reports" / "results"])
    write_all(decide(loaded, merges), tmp_path / "reports")
    page_html = (tmp_path / "reports" / "readiness.html").read_text()
    assert "<script>alert" not in page_html and "<svg onload" not in page_html
    assert 'href="javascript:' not in page_html and "href='javascript:" not in page_html
    page = browser.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((tmp_path / "reports" / "readiness.html").as_uri())
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.wait_for_timeout(300)
    assert dialogs == [] and errors == []
    assert HOSTILE in page.inner_text("#check-zap")  # shown as text, not run
    page.close()
