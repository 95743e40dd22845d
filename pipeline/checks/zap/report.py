"""ZAP baseline evidence: the traditional JSON (-J) and XML (-x) reports, and the rules file (-c).

Everything in a report comes from the scanned site and is hostile until escaped: the
readers keep it as plain text (HTML tags in descriptions stripped to text) and the
reporters escape it. Numbers in both reports are strings (``"riskcode": "3"``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.errors import ParseError
from pipeline.evidence import load_json_file, load_json_text
from pipeline.model import Instance
from pipeline.xmlsafe import parse_xml_file

RISKS = ("informational", "low", "medium", "high")
CONFIDENCES = ("false positive", "low", "medium", "high", "confirmed")
ACTIONS = ("IGNORE", "INFO", "WARN", "FAIL")
MAX_INSTANCES = 20  # instances kept with their details; every instance's URL is kept
MAX_URI = 500
MAX_TEXT = 2000
MAX_REFERENCES = 20


@dataclass(frozen=True)
class Alert:
    """One ZAP alert (a plugin's finding on a site) with every field the check uses, checked and capped."""

    plugin_id: str
    name: str
    risk: int  # 0 informational .. 3 high
    confidence: int  # 0 false positive .. 4 confirmed
    site: str
    instances: tuple[Instance, ...]  # the first MAX_INSTANCES, with method, parameter and evidence
    urls: tuple[str, ...]  # the URL of every listed instance
    count: int
    description: str
    solution: str
    references: tuple[str, ...]  # ZAP's reference links, one per paragraph
    cwe: str
    wasc: str


@dataclass(frozen=True)
class ZapReport:
    """A ZAP traditional report: ZAP's version, the scanned sites and their alerts."""

    version: str
    sites: tuple[str, ...]
    alerts: tuple[Alert, ...]


def read_json_report(path: Path) -> ZapReport:
    """A traditional JSON report (-J): ``site`` a list of objects, each with a list of alert objects."""
    hint = "A report cut short usually means ZAP was killed while writing it."
    document: Any = load_json_file(path, hint)
    if isinstance(document, str):  # early ZAP actions wrote the report as a JSON string
        document = load_json_text(document, path, hint)
    document = evidence.mapping(document, path, "the report")
    if "site" not in document:
        raise ParseError(path, "site", "is missing: not a ZAP traditional JSON report")
    sites, alerts = [], []
    for s, site in evidence.objects(document["site"], path, "site"):
        name = evidence.text(site.get("@name"), path, f"{s}.@name")
        sites.append(name)
        for a, alert in evidence.objects(site.get("alerts"), path, f"{s}.alerts", optional=True):
            instances = [i for _, i in evidence.objects(alert.get("instances"), path, f"{a}.instances", optional=True)]
            alerts.append(_alert({**alert, "instances": instances}, name, path, a))
    return ZapReport(evidence.optional_text(document.get("@version"), path, "@version") or "unknown", tuple(sites),
                     tuple(alerts))


def read_xml_report(path: Path) -> ZapReport:
    """A traditional XML report (-x): OWASPZAPReport / site / alerts / alertitem / instances / instance."""
    root = parse_xml_file(path, "ZAP XML report")
    if root.tag != "OWASPZAPReport":
        raise ParseError(path, root.tag, "is not a ZAP XML report (root is not OWASPZAPReport)")
    sites, alerts = [], []
    for s, site in enumerate(root.findall("site")):
        name = evidence.text(site.get("name"), path, f"site[{s}]@name")
        sites.append(name)
        for a, item in enumerate(site.iter("alertitem")):
            fields: dict[str, Any] = {child.tag: (child.text or "") for child in item if child.tag != "instances"}
            fields["instances"] = [{c.tag: (c.text or "") for c in inst} for inst in item.iter("instance")]
            if not fields["instances"] and fields.get("uri"):  # ZAP 2.4 put one instance on the item itself
                fields["instances"] = [fields]
            alerts.append(_alert(fields, name, path, f"site[{s}]/alertitem[{a}]"))
    return ZapReport(root.get("version", "unknown"), tuple(sites), tuple(alerts))


def _alert(raw: dict[str, Any], site: str, path: Path, place: str) -> Alert:
    """One alert, every field used checked: numbers are ZAP's strings, text is text."""
    risk = evidence.count(raw.get("riskcode"), path, f"{place}.riskcode", text_ok=True)
    confidence = evidence.count(raw.get("confidence"), path, f"{place}.confidence", text_ok=True)
    if risk > 3 or confidence > 4:
        raise ParseError(path, place, f"riskcode {risk} (0-3) or confidence {confidence} (0-4) is out of range")
    plugin_id = evidence.text(raw.get("pluginid"), path, f"{place}.pluginid").strip()
    listed = raw["instances"]
    instances = tuple(_instance(i, path, f"{place}.instances[{n}]") for n, i in enumerate(listed[:MAX_INSTANCES]))
    # Every listed URL, not only the detailed instances: scope rules and URL-narrowed waivers must see them all.
    urls = tuple(_raw(evidence.optional_text(i.get("uri"), path, f"{place}.instances[{n}].uri"), MAX_URI)
                 for n, i in enumerate(listed))
    count = raw.get("count")
    text = {key: evidence.optional_text(raw.get(key), path, f"{place}.{key}")
            for key in ("alert", "name", "desc", "solution", "reference", "cweid", "wascid")}
    return Alert(plugin_id, _raw(text["alert"] or text["name"], 300), risk, confidence, site, instances, urls,
                 len(listed) if count in (None, "") else evidence.count(count, path, f"{place}.count", text_ok=True),
                 _text(text["desc"]), _text(text["solution"]), _references(text["reference"]),
                 text["cweid"].strip(), text["wascid"].strip())


def _instance(raw: dict[str, Any], path: Path, place: str) -> Instance:
    """Where an alert was seen, with what was seen there (literal text from the site, capped)."""
    def field(key: str, cap: int) -> str:
        return _raw(evidence.optional_text(raw.get(key), path, f"{place}.{key}"), cap)
    return Instance(method=field("method", 16), uri=field("uri", MAX_URI), param=field("param", 200),
                    evidence=field("evidence", 500))


def _raw(value: Any, limit: int) -> str:
    """Literal text from the site (evidence, URLs, names): kept as is, escaped only when rendered; capped."""
    text = str(value).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _references(value: str) -> tuple[str, ...]:
    """ZAP's reference field: one link per paragraph (``<p>https://...</p>``), each kept as written."""
    return tuple(line.strip() for line in _text(value).splitlines() if line.strip())[:MAX_REFERENCES]


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    """Plain text: ZAP's HTML paragraphs become lines, every other tag is dropped, length capped."""
    text = re.sub(r"</p>\s*<p>|<br\s*/?>", "\n", str(value))
    text = html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class Rule:
    """One line of a rules file: what to do with a plugin's alerts."""

    plugin_id: str
    action: str
    name: str


@dataclass(frozen=True)
class Rules:
    """A rules file: an action per plugin id, and URL patterns out of scope (per plugin id, or ``*``)."""

    actions: dict[str, Rule]
    out_of_scope: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def in_scope(self, plugin_id: str, uri: str) -> bool:
        """Whether an instance of this plugin's alert at ``uri`` counts (no OUTOFSCOPE pattern matches it)."""
        return not any(pid in ("*", plugin_id) and pattern.search(uri) for pid, pattern in self.out_of_scope)


def read_rules(path: Path) -> Rules:
    """A zap-baseline rules file: ``id<TAB>IGNORE|INFO|WARN|FAIL<TAB>name`` and ``id|*<TAB>OUTOFSCOPE<TAB>regex``.

    A bad line (spaces instead of tabs, an unknown action, a broken regex) names itself.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ParseError(path, f"byte {exc.start}", "is not UTF-8 text") from None
    actions: dict[str, Rule] = {}
    out_of_scope = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) < 2:
            raise ParseError(path, f"line {number}", f"has no tab between its columns: {line[:80]!r}",
                             "zap-baseline needs tab-separated columns; spaces make it exit 3.")
        plugin_id, action = columns[0].strip(), columns[1].strip().upper()
        if action == "OUTOFSCOPE" and (plugin_id == "*" or plugin_id.isdigit()) and len(columns) > 2:
            try:
                out_of_scope.append((plugin_id, re.compile(columns[2].strip())))
            except (re.error, RecursionError, OverflowError) as exc:
                raise ParseError(path, f"line {number}", f"the out-of-scope pattern does not compile: {exc}") from None
            continue
        if not plugin_id.isdigit() or action not in ACTIONS:
            raise ParseError(path, f"line {number}",
                             f"expected '<plugin id>\\t{'|'.join(ACTIONS)}', got {line[:80]!r}")
        actions[plugin_id] = Rule(plugin_id, action, columns[2].strip(" ()") if len(columns) > 2 else "")
    return Rules(actions, tuple(out_of_scope))
