"""Monitoring as code: Prometheus text exposition, Grafana dashboard JSON, Prometheus rule files.

Readers only: each returns what the file or endpoint holds, or raises ParseError naming
the file (or URL) and the line. The dashboards check judges.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipeline.errors import ParseError

# Series Prometheus itself makes for every target or alert; an expression may use them.
SYNTHETIC_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added",
                    "scrape_samples_post_metric_relabeling", "ALERTS", "ALERTS_FOR_STATE"}
_PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                 "offset", "bool", "inf", "nan", "atan2", "start", "end"}


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    labels: frozenset[str]
    sample_names: frozenset[str]


def read_exposition(text: str, where: str) -> dict[str, Family]:
    """Metric families of a /metrics body; a bad line is a ParseError with its number."""
    try:
        parsed = list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError) as exc:
        raise ParseError(where, *_bad_line(text), "is not Prometheus text exposition "
                         f"({exc})") from None
    families = {}
    for family in parsed:
        labels = frozenset(k for s in family.samples for k in s.labels if k not in ("le", "quantile"))
        families[family.name] = Family(family.name, family.type, labels, frozenset(s.name for s in family.samples))
    return families


def _bad_line(text: str) -> tuple[str, str]:
    """The first line the parser refuses on its own (comments need their context, so skip them)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            list(text_string_to_metric_families(line + "\n"))
        except (ValueError, IndexError, KeyError):
            return f"line {number}", f"{line[:120]!r}"
    return "", "the body"


_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
             "summary": ("_count", "_sum", "_created"), "gauge": (), "info": ("_info",)}


def exposed_series(families: dict[str, Family]) -> set[str]:
    """Every name an expression may select: family names, their samples, and the sample names a declared
    family of that type has once it is observed (a labelled counter shows no sample before its first event)."""
    names = set(SYNTHETIC_SERIES)
    for family in families.values():
        names |= {family.name, *family.sample_names, *(family.name + s for s in _SUFFIXES.get(family.type, ()))}
    return names


@dataclass(frozen=True)
class Dashboard:
    path: str
    uid: str
    title: str
    panels: tuple[dict[str, Any], ...]
    expressions: tuple[str, ...]
    variables: frozenset[str]
    problems: tuple[str, ...] = field(default_factory=tuple)


def read_dashboard(path: Path) -> Dashboard:
    """A Grafana dashboard JSON (plain model, or the API's {"dashboard": ...} wrapper)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(path, f"line {exc.lineno} column {exc.colno}", f"is not valid JSON ({exc.msg})") from exc
    if isinstance(document, dict) and isinstance(document.get("dashboard"), dict):
        document = document["dashboard"]
    if not isinstance(document, dict) or not isinstance(document.get("title"), str):
        raise ParseError(path, "", "is not a Grafana dashboard (no 'title')")
    panels = tuple(_panels(document))
    if not panels:
        raise ParseError(path, "panels", "holds no panel (neither 'panels' nor legacy 'rows')")
    variables = frozenset(
        [str(v.get("name")) for v in (document.get("templating") or {}).get("list", []) if isinstance(v, dict)]
        + [str(i.get("name")) for i in document.get("__inputs") or () if isinstance(i, dict)])
    expressions = tuple(str(t.get("expr") or t.get("query") or "") for p in panels for t in p.get("targets") or ()
                        if isinstance(t, dict) and (t.get("expr") or t.get("query")))
    problems = []
    for index, panel in enumerate(panels):
        name = panel.get("title") or f"panel #{index + 1} (id {panel.get('id', '?')})"
        if not str(panel.get("title") or "").strip():
            problems.append(f"{name} has no title")
        for ref in _datasource_refs(panel):
            variable = re.fullmatch(r"\$\{?([A-Za-z0-9_]+)\}?", ref)
            if variable and variable.group(1) not in variables and variable.group(1) != "__all":
                problems.append(f"{name} uses datasource {ref}, which the dashboard does not define")
    return Dashboard(str(path), str(document.get("uid") or ""), document["title"], panels, expressions, variables,
                     tuple(problems))


def _panels(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    containers = [document.get("panels") or []] + [row.get("panels") or [] for row in document.get("rows") or []
                                                    if isinstance(row, dict)]
    for container in containers:
        for panel in container:
            if not isinstance(panel, dict):
                continue
            if panel.get("type") == "row":
                found += [p for p in panel.get("panels") or [] if isinstance(p, dict)]
            else:
                found.append(panel)
    return found


def _datasource_refs(panel: dict[str, Any]) -> list[str]:
    refs = []
    for holder in (panel, *[t for t in panel.get("targets") or () if isinstance(t, dict)]):
        ds = holder.get("datasource")
        if isinstance(ds, str):
            refs.append(ds)
        elif isinstance(ds, dict) and isinstance(ds.get("uid"), str):
            refs.append(ds["uid"])
    return refs


def metric_names(expression: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords, labels and strings removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expression)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text):
        word = match.group(1)
        if word.lower() not in _PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]", word):
            names.add(word)
    return names


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]
    source: str  # file:line


def read_rules(path: Path) -> list[AlertRule]:
    """The alerting rules of a Prometheus rule file; a structural problem names the line."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ParseError(path, f"line {mark.line + 1}" if mark else "", f"is not valid YAML ({_first(exc)})") from None
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise ParseError(path, "line 1", "has no 'groups' list (not a Prometheus rule file)")
    lines = _rule_lines(node)
    rules = []
    for g, group in enumerate(document["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
            raise ParseError(path, f"groups[{g}]", "has no 'rules' list")
        for r, rule in enumerate(group["rules"]):
            where = f"line {lines.get((g, r), '?')}"
            if not isinstance(rule, dict) or not ("alert" in rule or "record" in rule):
                raise ParseError(path, where, "is neither an alerting nor a recording rule")
            if not str(rule.get("expr") or "").strip():
                raise ParseError(path, where, f"rule {rule.get('alert') or rule.get('record')} has no 'expr'")
            if "alert" in rule:
                rules.append(AlertRule(str(rule["alert"]), str(rule["expr"]),
                                       {str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                                       {str(k): str(v) for k, v in (rule.get("annotations") or {}).items()},
                                       f"{path.name}:{lines.get((g, r), '?')}"))
    return rules


def _rule_lines(node: Any) -> dict[tuple[int, int], int]:
    """(group index, rule index) -> line number, from the YAML node tree."""
    found: dict[tuple[int, int], int] = {}
    if not isinstance(node, yaml.MappingNode):
        return found
    for key, value in node.value:
        if key.value == "groups" and isinstance(value, yaml.SequenceNode):
            for g, group in enumerate(value.value):
                for gkey, gvalue in getattr(group, "value", []):
                    if getattr(gkey, "value", None) == "rules" and isinstance(gvalue, yaml.SequenceNode):
                        for r, rule in enumerate(gvalue.value):
                            found[(g, r)] = rule.start_mark.line + 1
    return found


def promtool_check(path: Path) -> str | None:
    """promtool's verdict on a rule file: None when it passes or is not installed, else its message."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return None
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)
    if done.returncode == 0:
        return None
    return (done.stderr or done.stdout).strip()


def _first(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
