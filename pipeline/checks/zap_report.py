"""ZAP baseline evidence: the traditional JSON (-J) and XML (-x) reports, and the rules file (-c).

Everything in a report comes from the scanned site and is hostile until escaped: the
readers keep it as plain text (HTML tags in descriptions stripped to text) and the
reporters escape it. Numbers in both reports are strings (``"riskcode": "3"``).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ParseError
from pipeline.xmlsafe import parse_xml_file

RISKS = ("informational", "low", "medium", "high")
CONFIDENCES = ("false positive", "low", "medium", "high", "confirmed")
ACTIONS = ("IGNORE", "INFO", "WARN", "FAIL")
MAX_INSTANCES = 20
MAX_TEXT = 2000


@dataclass(frozen=True)
class Instance:
    method: str
    uri: str
    param: str
    evidence: str


@dataclass(frozen=True)
class Alert:
    plugin_id: str
    name: str
    risk: int  # 0 informational .. 3 high
    confidence: int  # 0 false positive .. 4 confirmed
    site: str
    instances: tuple[Instance, ...]
    count: int
    description: str
    solution: str
    reference: str
    cwe: str
    wasc: str


@dataclass(frozen=True)
class ZapReport:
    version: str
    sites: tuple[str, ...]
    alerts: tuple[Alert, ...]


def read_json_report(path: Path) -> ZapReport:
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, str):  # early ZAP actions wrote the report as a JSON string
            document = json.loads(document)
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(path, f"line {exc.lineno} column {exc.colno}", f"is not valid JSON ({exc.msg})",
                         "A report cut short usually means ZAP was killed while writing it.") from exc
    if not isinstance(document, dict) or not isinstance(document.get("site", []), list):
        raise ParseError(path, "", "is not a ZAP traditional JSON report (no 'site' list)")
    alerts = []
    for s, site in enumerate(document.get("site") or []):
        for a, alert in enumerate(site.get("alerts") or []):
            alerts.append(_alert(alert, str(site.get("@name", "")), path, f"site[{s}].alerts[{a}]"))
    return ZapReport(str(document.get("@version", "unknown")),
                     tuple(str(site.get("@name", "")) for site in document.get("site") or []), tuple(alerts))


def read_xml_report(path: Path) -> ZapReport:
    root = parse_xml_file(path, "ZAP XML report")
    if root.tag != "OWASPZAPReport":
        raise ParseError(path, root.tag, "is not a ZAP XML report (root is not OWASPZAPReport)")
    alerts = []
    for s, site in enumerate(root.findall("site")):
        for a, item in enumerate(site.iter("alertitem")):
            fields: dict[str, Any] = {child.tag: (child.text or "") for child in item if child.tag != "instances"}
            fields["instances"] = [{c.tag: (c.text or "") for c in inst} for inst in item.iter("instance")]
            if not fields["instances"] and fields.get("uri"):  # ZAP 2.4 put one instance on the item itself
                fields["instances"] = [fields]
            alerts.append(_alert(fields, site.get("name", ""), path, f"site[{s}]/alertitem[{a}]"))
    return ZapReport(root.get("version", "unknown"), tuple(s.get("name", "") for s in root.findall("site")),
                     tuple(alerts))


def _alert(raw: dict[str, Any], site: str, path: Path, place: str) -> Alert:
    try:
        risk, confidence = int(str(raw["riskcode"])), int(str(raw.get("confidence", "2")))
    except (KeyError, ValueError):
        raise ParseError(path, place, f"has no numeric riskcode/confidence ({raw.get('riskcode')!r})") from None
    if not 0 <= risk <= 3 or not 0 <= confidence <= 4:
        raise ParseError(path, place, f"riskcode {risk} or confidence {confidence} is out of range")
    if not str(raw.get("pluginid", "")).strip():
        raise ParseError(path, place, "has no pluginid")
    instances = tuple(Instance(_raw(i.get("method", ""), 16), _raw(i.get("uri", ""), 500),
                               _raw(i.get("param", ""), 200), _raw(i.get("evidence", ""), 500))
                      for i in (raw.get("instances") or [])[:MAX_INSTANCES] if isinstance(i, dict))
    count = str(raw.get("count", "")).strip()
    return Alert(str(raw["pluginid"]).strip(), _raw(raw.get("alert") or raw.get("name") or "", 300), risk,
                 confidence, site, instances, int(count) if count.isdigit() else len(raw.get("instances") or []),
                 _text(raw.get("desc", "")), _text(raw.get("solution", "")), _text(raw.get("reference", "")),
                 str(raw.get("cweid", "")), str(raw.get("wascid", "")))


def _raw(value: Any, limit: int) -> str:
    """Literal text from the site (evidence, URLs, names): kept as is, escaped only when rendered; capped."""
    text = str(value).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    """Plain text: ZAP's HTML paragraphs become lines, every other tag is dropped, length capped."""
    text = re.sub(r"</p>\s*<p>|<br\s*/?>", "\n", str(value))
    text = html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class Rule:
    plugin_id: str
    action: str
    name: str


@dataclass(frozen=True)
class Rules:
    """A rules file: an action per plugin id, and URL patterns out of scope (per plugin id, or ``*``)."""

    actions: dict[str, Rule]
    out_of_scope: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def in_scope(self, plugin_id: str, uri: str) -> bool:
        return not any(pid in ("*", plugin_id) and pattern.search(uri) for pid, pattern in self.out_of_scope)


def read_rules(path: Path) -> Rules:
    """A zap-baseline rules file: ``id<TAB>IGNORE|INFO|WARN|FAIL<TAB>name`` and ``id|*<TAB>OUTOFSCOPE<TAB>regex``.

    A bad line (spaces instead of tabs, an unknown action, a broken regex) names itself.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror}") from exc
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
            except re.error as exc:
                raise ParseError(path, f"line {number}", f"the out-of-scope pattern does not compile: {exc}") from None
            continue
        if not plugin_id.isdigit() or action not in ACTIONS:
            raise ParseError(path, f"line {number}",
                             f"expected '<plugin id>\\t{'|'.join(ACTIONS)}', got {line[:80]!r}")
        actions[plugin_id] = Rule(plugin_id, action, columns[2].strip(" ()") if len(columns) > 2 else "")
    return Rules(actions, tuple(out_of_scope))
