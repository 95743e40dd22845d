"""The zap check's policy and readers on reports written here; the real reports are in tests/compat."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import tempfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline import docker_run
from pipeline.checks.zap import ZapParsed, ZapSettings, baseline_arguments, evaluate_zap
from pipeline.checks.zap.report import Rules, read_json_report, read_rules, read_xml_report
from pipeline.errors import ParseError, ToolFailed
from pipeline.model import Status
from pipeline.reporters import write_all
from pipeline.results import load_results
from pipeline.runner import run_check
from pipeline.verdict import decide
from tests.conftest import config_from
from tests.fuzzing import fuzz, mutated


def typed(**keys: Any) -> ZapSettings:
    """Settings as the gate builds them: from the JSON form of a config section."""
    return ZapSettings.model_validate_json(json.dumps(keys))


def alert(plugin: str, risk: int, confidence: int = 2, uris: tuple[str, ...] = ("http://127.0.0.1/a",),
          name: str = "An alert", **extra: Any) -> dict[str, Any]:
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
    assert actions == {"alert:10038": "IGNORE", "alert:10021": "FAIL", "alert:90004": "WARN"}
    assert result.status is Status.FAIL and [f.id for f in result.findings if f.failing] == ["alert:10021"]


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
    assert {f.id: f.details["action"] for f in result.findings} == {"alert:10020": "OUT OF SCOPE",
                                                                     "alert:10021": "FAIL"}


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
    assert evaluate_zap(parsed, typed()).status is Status.ERROR


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
    options = typed(minutes=2, ajax_spider=True, alpha_rules=True, extra_options="-config api.disablekey=true")
    argv = baseline_arguments("http://127.0.0.1:8000", options, True)
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


@fuzz(100)
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

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((tmp_path / "reports" / "readiness.html").as_uri())
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.wait_for_timeout(300)
    assert dialogs == [] and errors == []
    assert HOSTILE in page.inner_text("#check-zap")  # shown as text, not run
    page.close()


# --- Evidence is validated, not trusted -------------------------------------------------------------


@pytest.mark.parametrize(("document", "place"), [
    ({"site": {"@name": "x", "alerts": []}}, "site"),
    ({"site": ["http://127.0.0.1"]}, "site[0]"),
    ({"site": [{"alerts": []}]}, "site[0].@name"),
    (report(alert("1", 3)) | {"site": [{"@name": "s", "alerts": {"a": 1}}]}, "site[0].alerts"),
    ({"site": [{"@name": "s", "alerts": ["alert"]}]}, "site[0].alerts[0]"),
    (report(alert("1", 3, instances={"uri": "u"})), "site[0].alerts[0].instances"),
    (report(alert("1", 3, instances=["http://x"])), "site[0].alerts[0].instances[0]"),
    (report(alert("1", 3, instances=[{"uri": 5}])), "site[0].alerts[0].instances[0].uri"),
    (report(alert("1", 3, riskcode=True)), "site[0].alerts[0].riskcode"),
    (report(alert("1", 3, riskcode="NaN")), "site[0].alerts[0].riskcode"),
    (report(alert("1", 3, riskcode="2.5")), "site[0].alerts[0].riskcode"),
    (report(alert("1", 3, riskcode="-1")), "site[0].alerts[0].riskcode"),
    (report(alert("1", 3) | {"confidence": None}), "site[0].alerts[0].confidence"),
    (report(alert("1", 3, count="-3")), "site[0].alerts[0].count"),
    (report(alert("1", 3, count="many")), "site[0].alerts[0].count"),
    (report(alert("1", 3, pluginid=10020)), "site[0].alerts[0].pluginid"),
    (report(alert("1", 3, desc=["<p>x</p>"])), "site[0].alerts[0].desc"),
])
def test_malformed_json_report_structures_are_parse_errors_naming_the_place(
        tmp_path: Path, document: dict[str, Any], place: str) -> None:
    (tmp_path / "r.json").write_text(json.dumps(document))
    with pytest.raises(ParseError) as caught:
        read_json_report(tmp_path / "r.json")
    assert caught.value.place == place


def test_a_malformed_report_is_an_error_of_the_check_not_a_crash(tmp_path: Path) -> None:
    result = ingest(tmp_path, {"@version": "2.16.1", "site": [{"@name": "s", "alerts": [["not", "an", "alert"]]}]})
    assert result.status is Status.ERROR
    assert result.summary.endswith("report.json: site[0].alerts[0]: is a list (['not', 'an', 'alert']), not an object")


def test_riskcode_and_count_written_as_numbers_or_strings_read_alike(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps(report(alert("1", 2, riskcode=3, confidence=4, count=7))))
    parsed = read_json_report(tmp_path / "r.json").alerts[0]
    assert (parsed.risk, parsed.confidence, parsed.count) == (3, 4, 7)


def xml_report(*items: str, site: str = ' name="http://127.0.0.1:8000"') -> str:
    return f'<?xml version="1.0"?><OWASPZAPReport version="2.16.1"><site{site}><alerts>{"".join(items)}' \
           "</alerts></site></OWASPZAPReport>"


def xml_alert(risk: str = "2", confidence: str = "2", count: str = "1", plugin: str = "10020") -> str:
    return (f"<alertitem><pluginid>{plugin}</pluginid><alert>A</alert><riskcode>{risk}</riskcode>"
            f"<confidence>{confidence}</confidence><count>{count}</count><instances><instance>"
            "<uri>http://127.0.0.1/a</uri><method>GET</method></instance></instances></alertitem>")


@pytest.mark.parametrize(("document", "place"), [
    (xml_report(xml_alert(risk="")), "site[0]/alertitem[0].riskcode"),
    (xml_report(xml_alert(risk="high")), "site[0]/alertitem[0].riskcode"),
    (xml_report(xml_alert(confidence="inf")), "site[0]/alertitem[0].confidence"),
    (xml_report(xml_alert(count="NaN")), "site[0]/alertitem[0].count"),
    (xml_report(xml_alert(plugin=" ")), "site[0]/alertitem[0].pluginid"),
    (xml_report(xml_alert(), site=""), "site[0]@name"),
    (xml_report(xml_alert(risk="7")), "site[0]/alertitem[0]"),
])
def test_malformed_xml_reports_are_parse_errors_naming_the_place(tmp_path: Path, document: str, place: str) -> None:
    (tmp_path / "r.xml").write_text(document)
    with pytest.raises(ParseError) as caught:
        read_xml_report(tmp_path / "r.xml")
    assert caught.value.place == place
    assert read_xml_report_ok(tmp_path, xml_report(xml_alert())).alerts[0].risk == 2


def read_xml_report_ok(tmp_path: Path, document: str) -> Any:
    (tmp_path / "ok.xml").write_text(document)
    return read_xml_report(tmp_path / "ok.xml")


# --- Hypothesis: hostile reports raise only ParseError ------------------------------------------------


@fuzz(200)
@given(mutated(report(alert("10020", 3, uris=("http://127.0.0.1/a", "http://127.0.0.1/b")), alert("10021", 1))))
def test_mutated_json_reports_raise_only_parse_errors(document: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.json"
        path.write_text(json.dumps(document))
        try:
            parsed = read_json_report(path)
        except ParseError as exc:
            assert exc.path == str(path)
            return
        assert all(0 <= a.risk <= 3 and 0 <= a.confidence <= 4 and a.count >= 0 for a in parsed.alerts)


def _xml_from(value: Any, tag: str) -> str:
    """Any JSON value as XML under ``tag``: objects become children, lists repeat the tag, scalars text."""
    if isinstance(value, dict):
        inner = "".join(_xml_from(v, k if re.fullmatch(r"[A-Za-z_][\w.-]*", k) else "x") for k, v in value.items())
        return f"<{tag}>{inner}</{tag}>"
    if isinstance(value, list):
        return "".join(_xml_from(v, tag) for v in value)
    return f"<{tag}>{xml_escape('' if value is None else str(value))}</{tag}>"


XML_SHAPE = {"site": [{"alerts": {"alertitem": [
    {"pluginid": "10020", "alert": "A", "riskcode": "3", "confidence": "2", "count": "2",
     "instances": {"instance": [{"uri": "http://127.0.0.1/a", "method": "GET"}, {"uri": "http://127.0.0.1/b"}]}},
    {"pluginid": "10021", "alert": "B", "riskcode": "1", "confidence": "3", "uri": "http://127.0.0.1/c"}]}}]}


@fuzz(150)
@given(mutated(XML_SHAPE), st.sampled_from(['name="http://127.0.0.1"', ""]))
def test_mutated_xml_reports_raise_only_parse_errors(document: Any, site_name: str) -> None:
    body = _xml_from(document, "OWASPZAPReport").replace("<site>", f"<site {site_name}>")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.xml"
        path.write_text(body)
        try:
            read_xml_report(path)
        except ParseError as exc:
            assert exc.path == str(path)


@fuzz(150)
@given(st.binary(max_size=300), st.sampled_from(["r.json", "r.xml", "rules.tsv"]))
def test_any_bytes_as_a_zap_file_raise_only_parse_errors(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        reader = {"r.json": read_json_report, "r.xml": read_xml_report, "rules.tsv": read_rules}[name]
        with contextlib.suppress(ParseError):
            reader(path)


_rule_lines = st.one_of(
    st.text(max_size=20),
    st.tuples(st.sampled_from(["10020", "*", "x", "", "1 0"]),
              st.sampled_from(["FAIL", "warn", "IGNORE", "OUTOFSCOPE", "PASS", ""]),
              st.text(max_size=12)).map("\t".join),
)


@fuzz(200)
@given(st.lists(_rule_lines, max_size=6))
def test_rules_tsv_mixtures_raise_only_parse_errors_naming_the_line(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.tsv"
        path.write_text("\n".join(lines))
        try:
            rules = read_rules(path)
        except ParseError as exc:
            assert exc.place.startswith("line ")
            return
        assert all(r.action in ("IGNORE", "INFO", "WARN", "FAIL") and r.plugin_id.isdigit()
                   for r in rules.actions.values())


@pytest.mark.parametrize("outcome", [{"StatusCode": None}, {"StatusCode": "3"}, {"StatusCode": True}, {}, [3],
                                     {"Error": {"Message": "oom"}, "StatusCode": 0}])
def test_an_engine_answer_without_an_exit_code_is_a_tool_failure(tmp_path: Path, outcome: Any) -> None:
    with pytest.raises(ToolFailed):
        docker_run._exit_code(outcome, "zap-image", tmp_path / "zap.log")
    assert docker_run._exit_code({"StatusCode": 3, "Error": None}, "zap-image", tmp_path / "zap.log") == 3
