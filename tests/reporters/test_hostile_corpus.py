"""The XSS and Markdown-injection corpus through every foreign field into all five reports.

HTML: real Chromium (no script runs, with and without the page's CSP; the DOM holds
exactly the elements and attributes of a benign twin report; every link stays in
the report, in reports/ or on http(s)). Markdown: rendered by markdown-it-py with
GFM tables and linkify (no HTML, link, image, mention, issue reference or autolink
text, the table intact, each summary shown as its text). JUnit parses with
defusedxml; SARIF validates against the SARIF 2.1.0 schema; the console stays on its lines.
"""

from __future__ import annotations

import collections
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import jsonschema
import pytest
from junitparser import JUnitXml

from pipeline.reporters import console, markdown, write_all
from pipeline.reporters.safe import http_url, plain, relative_path
from tests.reporters.corpus import PAYLOADS, every_field_report


def hostile(i: int) -> str:
    return PAYLOADS[i]


def benign(i: int) -> str:
    """A harmless twin of payload ``i``: as many lines, and links where the payload is one."""
    payload = PAYLOADS[i]
    if http_url(payload):
        return f"https://example.org/b{i}"
    if relative_path(payload):
        return f"b{i}"
    lines = max(1, sum(1 for line in plain(payload).splitlines() if line.strip()))
    return "\n".join(f"/b{i}-{k}" for k in range(lines))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile reports as the gate writes them (write_all) in reports/, the benign twin's in twin/."""
    folder = tmp_path_factory.mktemp("corpus")
    write_all(every_field_report(hostile), folder / "reports")
    write_all(every_field_report(benign), folder / "twin")
    return folder / "reports"


def twin(path: Path) -> Path:
    return path.parent.parent / "twin" / path.name


DOM_SHAPE = """() => {
  const shape = {};
  for (const e of document.querySelectorAll('*')) {
    const key = e.tagName.toLowerCase() + '[' + [...e.attributes].map(a => a.name).sort().join(',') + ']';
    shape[key] = (shape[key] || 0) + 1;
  }
  return shape;
}"""
POKE = """() => {
  for (const d of document.querySelectorAll('details')) d.open = !d.open;
  for (const e of document.querySelectorAll('body *')) {
    for (const type of ['mouseover', 'focus', 'click']) e.dispatchEvent(new Event(type, {cancelable: true}));
  }
}"""
LINKS = "() => [...document.querySelectorAll('[href], [src], [action], [formaction], [data]')].map(e => " \
        "[e.tagName.toLowerCase(), e.getAttribute('href') || e.getAttribute('src') || '', e.href || ''])"


def open_page(browser: Any, path: Path, strip_csp: bool = False) -> tuple[Any, list[str]]:
    page_html = path.read_text(encoding="utf-8")
    if strip_csp:  # prove the escaping alone holds, not only the policy
        page_html, count = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page_html)
        assert count == 1
        path = path.with_name(path.stem + ".nocsp.html")
        path.write_text(page_html, encoding="utf-8")
    page = browser.new_page()
    events: list[str] = []

    def on_dialog(dialog: Any) -> None:
        events.append(f"dialog {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: events.append(f"console {m.text}") if "XSS" in m.text else None)
    page.on("pageerror", lambda e: events.append(f"error {e}"))
    page.on("request", lambda r: events.append(f"request {r.url}") if r.url != path.as_uri() else None)
    page.goto(path.as_uri())
    page.wait_for_timeout(300)
    return page, events


@pytest.mark.parametrize("strip_csp", [False, True], ids=["with-csp", "without-csp"])
def test_no_payload_runs_or_becomes_an_element_in_chromium(browser: Any, reports: Path, strip_csp: bool) -> None:
    page, events = open_page(browser, reports / "readiness.html", strip_csp)
    other, twin_events = open_page(browser, twin(reports / "readiness.html"), strip_csp)
    try:
        shape, twin_shape = page.evaluate(DOM_SHAPE), other.evaluate(DOM_SHAPE)
        page.evaluate(POKE)  # ontoggle, onmouseover, onfocus and onclick would fire now
        page.wait_for_timeout(300)
        assert events == [] and twin_events == []
        assert page.evaluate("() => window.__xss") is None
        assert page.title().startswith("Readiness: NOT READY")
        assert shape == twin_shape  # same elements with the same attribute names: nothing injected
        assert not any(key.split("[")[0] in ("script", "iframe", "object", "embed", "base", "form", "img")
                       for key in shape)
        assert not any(re.search(r"[\[,]on", key) for key in shape)
    finally:
        page.close()
        other.close()


def test_every_link_stays_in_the_report_or_on_http(browser: Any, reports: Path) -> None:
    page, _ = open_page(browser, reports / "readiness.html")
    try:
        links = page.evaluate(LINKS)
        ids = set(page.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)"))
    finally:
        page.close()
    inside = reports.as_uri() + "/"
    kinds: collections.Counter[str] = collections.Counter()
    for tag, raw, resolved in links:
        assert tag == "a", (tag, raw)
        if raw.startswith("#"):
            kinds["anchor"] += 1
            assert raw[1:] in ids
        elif resolved.startswith(inside):
            kinds["evidence"] += 1
            assert "/.." not in resolved and not raw.startswith(("/", "\\"))
        else:
            kinds["http"] += 1
            assert re.match(r"https?://[^/]", raw), raw
    # The one well-formed https payload is linked (it is a reference or an advisory URL);
    # javascript:, data:, file:, //host and ../ are never links.
    assert kinds["http"] > 0 and kinds["evidence"] > 0 and kinds["anchor"] > 0
    assert not any(raw.lower().startswith(("javascript", "data", "file", "vbscript", "//")) for _, raw, _ in links)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: collections.Counter[str] = collections.Counter()
        self.rows: list[list[str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th") and self.rows:
            self.rows[-1].append("")

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def rendered_markdown(text: str) -> _Tags:
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("gfm-like", {"html": True, "linkify": True})
    assert renderer.linkify is not None  # linkify-it-py is installed with markdown-it-py[linkify]
    renderer.linkify.set({"fuzzy_link": True, "fuzzy_email": True})
    parsed = _Tags()
    parsed.feed(renderer.render(text))
    return parsed


def test_markdown_renders_every_payload_as_plain_text(reports: Path) -> None:
    source = (reports / "readiness.md").read_text(encoding="utf-8")
    parsed = rendered_markdown(source)
    assert set(parsed.tags) <= {"h2", "p", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "strong", "code"}
    assert parsed.tags["h2"] == 1 and parsed.tags["table"] == 1 and parsed.tags["ul"] == 1
    assert parsed.tags["code"] == 1  # our own `readiness.html`
    assert all(len(row) == 4 for row in parsed.rows)
    report = every_field_report(hostile)
    assert len(parsed.rows) == 1 + len(report.checks) + len(report.missing)
    text = "".join(parsed.text)
    # What GitHub links after rendering: mentions, issue references, URLs, www., addresses.
    assert not re.search(r"(?<![\w])@[A-Za-z0-9]|#\d|://|www\.|\w@\w", text, re.IGNORECASE)
    shown = {row[2].replace("\u200d", "").strip() for row in parsed.rows[1:]}
    for payload in PAYLOADS:
        flat = " ".join(plain(payload).split())
        assert flat[:markdown.MAX_CELL - 1] in shown or flat in shown, payload


def test_markdown_cells_of_a_benign_twin_have_the_same_shape(reports: Path) -> None:
    hostile_md = rendered_markdown((reports / "readiness.md").read_text(encoding="utf-8"))
    benign_md = rendered_markdown(twin(reports / "readiness.md").read_text(encoding="utf-8"))
    assert hostile_md.tags == benign_md.tags
    assert [len(r) for r in hostile_md.rows] == [len(r) for r in benign_md.rows]


def test_junit_parses_and_holds_only_xml_characters(reports: Path) -> None:
    raw = (reports / "readiness.junit.xml").read_bytes()
    text = raw.decode("utf-8")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]", text)
    xml = JUnitXml.fromroot(SafeET.fromstring(raw))
    names = [suite.name for suite in xml]
    assert len(names) == len(every_field_report(hostile).checks)
    assert "<script>window.__xss=1;console.log('XSS-MARKER');alert(1)</script>" in names  # text, not markup
    assert not any("\x1b" in (name or "") for name in names)


def test_sarif_validates_and_carries_plain_text_and_safe_uris(reports: Path, sarif_schema: dict[str, Any]) -> None:
    document = json.loads((reports / "readiness.sarif").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(sarif_schema).validate(document)
    results = [result for run in document["runs"] for result in run["results"]]
    rules = [rule for run in document["runs"] for rule in run["tool"]["driver"]["rules"]]
    assert len(results) == 2 * len(PAYLOADS)
    for result in results:
        message = result["message"]["text"]
        assert not re.search(r"(?<!\\)[\[\]]", message)  # no embedded link
        assert not re.search(r"[{}]", message.replace("{{", "").replace("}}", ""))  # no placeholder
        assert "\x1b" not in message and "markdown" not in result["message"]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert re.match(r"https?://[^/]", uri) or (relative_path(uri) is not None and ".." not in uri.split("/")), uri
    for rule in rules:
        assert "helpUri" not in rule or rule["helpUri"].startswith(("http://", "https://"))
    assert any("helpUri" in rule for rule in rules)


def test_json_is_strict_and_keeps_the_text(reports: Path) -> None:
    def refuse(constant: str) -> None:
        raise ValueError(constant)

    data = json.loads((reports / "readiness.json").read_text(encoding="utf-8"), parse_constant=refuse)
    summaries = {c["summary"] for c in data["checks"]}
    assert "<script>window.__xss=1;console.log('XSS-MARKER');alert(1)</script>" in summaries


def test_console_lines_carry_no_escape_or_line_break() -> None:
    report = every_field_report(hostile)
    stream = io.StringIO()
    lines = [console.check_line(r, stream) for r in report.checks] + console.verdict_lines(report, stream)
    lines += [line for r in report.checks for line in console.reason_lines(r)]
    for line in lines:
        assert "\n" not in line and "\r" not in line
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]", line), repr(line)
    assert lines[len(report.checks)] == "VERDICT: NOT_READY (exit code 1)"
    assert not any(line.startswith("VERDICT") for line in lines[len(report.checks) + 1:])
