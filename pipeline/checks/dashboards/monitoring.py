"""Monitoring as code: Prometheus text exposition, Grafana dashboard JSON, Prometheus rule files.

Readers only: each returns what the file or endpoint holds, or raises ParseError naming
the file (or URL) and the line. The dashboards check judges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipeline import evidence, yamlsafe
from pipeline.checks.dashboards import promql
from pipeline.errors import ParseError
from pipeline.evidence import load_json_file

# Series Prometheus itself makes for every target or alert; an expression may use them.
SYNTHETIC_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added",
                    "scrape_samples_post_metric_relabeling", "ALERTS", "ALERTS_FOR_STATE"}


@dataclass(frozen=True)
class Family:
    """A metric family of a /metrics body: its type, the labels its samples carry, its sample names."""

    name: str
    type: str
    labels: frozenset[str]
    sample_names: frozenset[str]


def read_exposition(text: str, where: str) -> dict[str, Family]:
    """Metric families of a /metrics body; a bad line is a ParseError with its number."""
    try:
        parsed = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parser raises ValueError mostly, other types on odd input
        raise ParseError(where, *_bad_line(text), "is not Prometheus text exposition "
                         f"({_first(exc)})") from None
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
        except Exception:  # as above
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
    """A Grafana dashboard as the check uses it, with the problems found in its panels."""

    path: str
    uid: str
    title: str
    panels: tuple[dict[str, Any], ...]
    expressions: tuple[str, ...]
    variables: frozenset[str]
    problems: tuple[str, ...] = field(default_factory=tuple)


def read_dashboard(path: Path) -> Dashboard:
    """A Grafana dashboard JSON file (plain model, or the API's {"dashboard": ...} wrapper)."""
    return dashboard_model(load_json_file(path), path)


def dashboard_model(document: Any, source: Path | str) -> Dashboard:
    """A dashboard model with every field the check uses checked; a malformed one names the place."""
    document = evidence.mapping(document, source, "the dashboard")
    if isinstance(document.get("dashboard"), dict):
        document = evidence.mapping(document["dashboard"], source, "dashboard")
    if not isinstance(document.get("title"), str):
        raise ParseError(source, "title", "is missing: not a Grafana dashboard")
    panels = _panels(document, source)
    if not panels:
        raise ParseError(source, "panels", "holds no panel (neither 'panels' nor legacy 'rows')")
    variables = frozenset(
        [evidence.text(v.get("name"), source, f"{at}.name")
         for at, v in evidence.objects(evidence.mapping(document.get("templating") or {}, source, "templating").get(
             "list"), source, "templating.list", optional=True)]
        + [evidence.text(i.get("name"), source, f"{at}.name")
           for at, i in evidence.objects(document.get("__inputs"), source, "__inputs", optional=True)])
    expressions, problems = [], []
    for index, (at, panel) in enumerate(panels):
        title = evidence.optional_text(panel.get("title"), source, f"{at}.title")
        name = title or f"panel #{index + 1} (id {panel.get('id', '?')})"
        if not title.strip():
            problems.append(f"{name} has no title")
        targets = list(evidence.objects(panel.get("targets"), source, f"{at}.targets", optional=True))
        for where, target in targets:
            query = target.get("query") if isinstance(target.get("query"), str) else None  # other datasources
            expression = evidence.optional_text(target.get("expr"), source, f"{where}.expr") or query
            if expression:
                expressions.append(expression)
        for ref in _datasource_refs([(at, panel), *targets], source):
            variable = re.fullmatch(r"\$\{?([A-Za-z0-9_]+)\}?", ref)
            if variable and variable.group(1) not in variables and variable.group(1) != "__all":
                problems.append(f"{name} uses datasource {ref}, which the dashboard does not define")
    return Dashboard(str(source), evidence.optional_text(document.get("uid"), source, "uid"), document["title"],
                     tuple(panel for _, panel in panels), tuple(expressions), variables, tuple(problems))


def _panels(document: dict[str, Any], source: Path | str) -> list[tuple[str, dict[str, Any]]]:
    """(place, panel) of every panel: top level, inside rows (legacy layout) and inside row panels."""
    containers = [("panels", document.get("panels"))]
    containers += [(f"{at}.panels", row.get("panels"))
                   for at, row in evidence.objects(document.get("rows"), source, "rows", optional=True)]
    found = []
    for place, container in containers:
        for at, panel in evidence.objects(container, source, place, optional=True):
            if panel.get("type") == "row":
                found += list(evidence.objects(panel.get("panels"), source, f"{at}.panels", optional=True))
            else:
                found.append((at, panel))
    return found


def _datasource_refs(holders: list[tuple[str, dict[str, Any]]], source: Path | str) -> list[str]:
    """Datasource references of a panel and its targets: a name or variable, or an object's uid."""
    refs = []
    for at, holder in holders:
        ds = holder.get("datasource")
        if isinstance(ds, str):
            refs.append(ds)
        elif isinstance(ds, dict):
            uid = evidence.optional_text(ds.get("uid"), source, f"{at}.datasource.uid")
            refs += [uid] if uid else []
        elif ds is not None:
            raise ParseError(source, f"{at}.datasource", f"is {ds!r}, neither a name nor an object")
    return refs


def metric_names(expression: str) -> set[str]:
    """Metric names a PromQL expression selects, read by a PromQL parser (empty when it is not PromQL)."""
    return promql.metric_names(expression)


@dataclass(frozen=True)
class AlertRule:
    """An alerting rule of a rule file, and where it stands (for annotations on that line)."""

    name: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]
    file: Path
    line: int | None  # None: the YAML tree did not say (never for a file the gate read itself)
    for_: str = ""  # how long the condition must hold before the alert fires (empty: at once)

    @property
    def source(self) -> str:
        """``file-name:line``, what the reports show as the location."""
        return f"{self.file.name}:{self.line if self.line is not None else '?'}"


@dataclass(frozen=True)
class RuleFile:
    """The alerting rules of a rule file, and how many rules (alerting and recording) it holds."""

    alerts: tuple[AlertRule, ...]
    total: int


def read_rules(path: Path) -> list[AlertRule]:
    """The alerting rules of a Prometheus rule file; a structural problem names the line."""
    return list(read_rule_file(path).alerts)


def read_rule_file(path: Path) -> RuleFile:
    """A Prometheus rule file, checked the way Prometheus loads it; a problem names the line."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yamlsafe.load(text, path)
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ParseError(path, f"byte {exc.start}", "is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ParseError(path, f"line {mark.line + 1}" if mark else "", f"is not valid YAML ({_first(exc)})") from None
    except RecursionError:
        raise ParseError(path, "", "is nested too deeply to be a rule file") from None
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise ParseError(path, "line 1", "has no 'groups' list (not a Prometheus rule file)")
    lines = _rule_lines(node)
    alerts, total = [], 0
    for index, (g, group) in enumerate(evidence.objects(document["groups"], path, "groups")):
        evidence.text(group.get("name"), path, f"{g}.name")
        for r, rule in enumerate(evidence.sequence(group.get("rules"), path, f"{g}.rules")):
            alert = _rule(rule, path, lines.get((index, r)))
            total += 1
            if alert is not None:
                alerts.append(alert)
    return RuleFile(tuple(alerts), total)


def _rule(rule: Any, path: Path, line: int | None) -> AlertRule | None:
    """An alerting rule (None for a recording rule); Prometheus reads scalars where it wants text."""
    where = f"line {line if line is not None else '?'}"
    if not isinstance(rule, dict) or ("alert" in rule) == ("record" in rule):
        raise ParseError(path, where, "is neither an alerting nor a recording rule (exactly one of alert/record)")
    kind = "alert" if "alert" in rule else "record"
    name = evidence.text(rule[kind], path, f"{where}: {kind}")
    expr = rule.get("expr")
    if isinstance(expr, dict | list) or not str(expr if expr is not None else "").strip():
        raise ParseError(path, where, f"rule {name} has no 'expr' (or not a PromQL text)")
    if "record" in rule:
        return None
    return AlertRule(name, str(expr), _scalars(rule.get("labels"), path, f"{where}: labels of {name}"),
                     _scalars(rule.get("annotations"), path, f"{where}: annotations of {name}"), path, line,
                     str(rule.get("for") or ""))


def _scalars(value: Any, path: Path, place: str) -> dict[str, str]:
    """A mapping of names to text (numbers and booleans read as text, as Prometheus does)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(path, place, f"is {value!r}, not a mapping")
    found = {}
    for key, item in value.items():
        if isinstance(key, dict | list | tuple) or isinstance(item, dict | list):
            raise ParseError(path, place, f"{key!r}: {item!r} is not a name with a text value")
        found[str(key)] = "" if item is None else str(item)
    return found


def _rule_lines(node: Any) -> dict[tuple[int, int], int]:
    """(group index, rule index) -> line number, from the YAML node tree."""
    found: dict[tuple[int, int], int] = {}
    if not isinstance(node, yaml.MappingNode):
        return found
    for key, value in node.value:
        if key.value == "groups" and isinstance(value, yaml.SequenceNode):
            for g, group in enumerate(value.value):
                if not isinstance(group, yaml.MappingNode):
                    continue
                for gkey, gvalue in group.value:
                    if getattr(gkey, "value", None) == "rules" and isinstance(gvalue, yaml.SequenceNode):
                        for r, rule in enumerate(gvalue.value):
                            found[(g, r)] = rule.start_mark.line + 1
    return found


def _first(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
