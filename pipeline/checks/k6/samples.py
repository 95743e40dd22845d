"""Read k6's raw samples (``--out json=FILE`` or ``--out csv=FILE``, k6 v1.x), streaming and validated.

JSON output is one object per line: ``{"type": "Metric", "data": {"name", "type", "contains", ...}}``
declares a metric before its first sample, and ``{"type": "Point", "metric": ..., "data": {"time",
"value", "tags"}}`` is one sample. CSV output is a header (``metric_name,timestamp,metric_value,``
then one column per system tag, ``extra_tags``, ``metadata``) and one row per sample; it carries no
metric types, so only k6's own metrics are typed from it.

Every line is checked: a truncated or garbled line, a sample of an undeclared metric, a value that
is not a finite number in its metric's range is a ParseError naming the file and the line, never
skipped, because a dropped sample silently moves every percentile.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.checks.k6.metrics import BUILTIN_NON_NEGATIVE, METRIC_TYPES, TIME_METRICS
from pipeline.errors import ParseError

Tags = tuple[tuple[str, str], ...]  # sorted (key, value) pairs, hashable and shared between samples
# The types of k6's own metrics, for CSV output (which does not say).
BUILTIN_TYPES = {**dict.fromkeys(TIME_METRICS, "trend"), "http_req_failed": "rate", "checks": "rate",
                 **dict.fromkeys(BUILTIN_NON_NEGATIVE - {"vus", "vus_max"}, "counter"), "vus": "gauge",
                 "vus_max": "gauge"}
_CSV_FIXED = ("metric_name", "timestamp", "metric_value")
_HINT = "k6 writes every line whole when it ends normally; a killed or crashed k6 leaves a cut file."


@dataclass(frozen=True)
class Sample:
    """One sample: when (Unix seconds), the value, and its tags."""

    time: float
    value: float
    tags: Tags


@dataclass
class Samples:
    """The samples of the wanted metrics, with every declared metric's type."""

    types: dict[str, str | None] = field(default_factory=dict)
    points: dict[str, list[Sample]] = field(default_factory=dict)

    def add(self, metric: str, sample: Sample) -> None:
        """Keep one sample of ``metric``."""
        self.points.setdefault(metric, []).append(sample)

    def merge(self, other: Samples, source: str) -> None:
        """Add ``other``'s samples (another instance's); a metric typed differently is refused."""
        for metric, kind in other.types.items():
            if self.types.get(metric, kind) != kind:
                raise ParseError(source, metric, f"is a {kind} here but a {self.types[metric]} in another instance")
            self.types[metric] = kind
        for metric, points in other.points.items():
            self.points.setdefault(metric, []).extend(points)


def read_samples(path: Path, wanted: Collection[str] | None = None) -> Samples:
    """The samples in ``path`` (JSON or CSV, told from the suffix), only of the ``wanted`` metrics if given."""
    csv_file = path.suffix == ".csv"
    try:
        # JSON lines are decoded one by one (a bad byte names its line); the csv module wants text.
        handle = path.open(encoding="utf-8", newline="") if csv_file else path.open("rb")
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror or exc}", _HINT) from None
    with handle:
        try:
            reader = _csv_samples if csv_file else _json_samples
            found = Samples()
            for metric, kind, sample in reader(path, handle):
                if kind is not None or metric not in found.types:
                    found.types[metric] = kind
                if sample is not None and (wanted is None or metric in wanted):
                    found.add(metric, sample)
            return found
        except UnicodeDecodeError:
            raise ParseError(path, "", "is not UTF-8 text", _HINT) from None


Row = tuple[str, str | None, Sample | None]  # (metric, its type when declared, a sample or None)


def _json_samples(path: Path, lines: Any) -> Iterator[Row]:
    declared: dict[str, str] = {}
    interned: dict[Tags, Tags] = {}
    for number, raw in enumerate(lines, start=1):
        place = f"line {number}"
        if not raw.endswith(b"\n"):
            raise ParseError(path, place, "is cut short (no end of line)", _HINT)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError(path, place, "is not UTF-8 text", _HINT) from None
        if not line.strip():
            continue
        entry = evidence.mapping(evidence.load_json_text(line, f"{path} {place}", _HINT), path, place)
        data = evidence.mapping(entry.get("data"), path, f"{place} data")
        if entry.get("type") == "Metric":
            name, kind = _declaration(data, path, place)
            declared[name] = kind
            yield name, kind, None
        elif entry.get("type") == "Point":
            metric = evidence.text(entry.get("metric"), path, f"{place} metric")
            if metric not in declared:
                raise ParseError(path, place, f"is a sample of {metric!r}, which no Metric line declared", _HINT)
            tags = _tags(evidence.mapping(data.get("tags") or {}, path, f"{place} tags"), path, place, interned)
            yield metric, declared[metric], Sample(_time(data.get("time"), path, place),
                                                   _value(metric, declared[metric], data.get("value"), path, place),
                                                   tags)
        else:
            raise ParseError(path, f"{place} type", f"is {entry.get('type')!r}, neither Metric nor Point")


def _declaration(data: dict[str, Any], path: Path, place: str) -> tuple[str, str]:
    name = evidence.text(data.get("name"), path, f"{place} name")
    kind = data.get("type")
    if kind not in METRIC_TYPES:
        raise ParseError(path, f"{place} type", f"is {kind!r}, not one of {', '.join(METRIC_TYPES)}")
    return name, str(kind)


def _csv_samples(path: Path, handle: Any) -> Iterator[Row]:
    rows = csv.reader(handle)
    header = next(rows, None)
    if header is None or tuple(header[:3]) != _CSV_FIXED:
        raise ParseError(path, "line 1", f"is not k6's CSV header ({','.join(_CSV_FIXED)},...)")
    interned: dict[Tags, Tags] = {}
    for row in rows:
        place = f"line {rows.line_num}"
        if len(row) != len(header):
            raise ParseError(path, place, f"has {len(row)} fields, the header {len(header)}: it is cut or garbled",
                             _HINT)
        metric, stamp, value = row[0], row[1], row[2]
        if not metric:
            raise ParseError(path, place, "names no metric")
        kind = BUILTIN_TYPES.get(metric)
        pairs = {key: cell for key, cell in zip(header[3:], row[3:], strict=True)
                 if cell and key not in ("extra_tags", "metadata")}
        pairs.update(_extra_tags(row[header.index("extra_tags")] if "extra_tags" in header else "", path, place))
        moment = evidence.non_negative(stamp, path, f"{place} timestamp", text_ok=True)
        yield metric, kind, Sample(moment, _value(metric, kind, value, path, place, text_ok=True),
                                   _tags(pairs, path, place, interned))
    if not _ends_with_newline(path):
        raise ParseError(path, f"line {rows.line_num}", "is cut short (no end of line)", _HINT)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as raw:
        raw.seek(0, 2)
        if raw.tell() == 0:
            return True
        raw.seek(-1, 2)
        return raw.read(1) == b"\n"


def _extra_tags(cell: str, path: Path, place: str) -> dict[str, str]:
    pairs = {}
    for item in filter(None, cell.split("&")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParseError(path, f"{place} extra_tags", f"holds {item!r}, not key=value")
        pairs[key] = value
    return pairs


def _tags(raw: dict[str, Any], path: Path, place: str, interned: dict[Tags, Tags]) -> Tags:
    tags = tuple(sorted((key, evidence.text(value, path, f"{place} tags.{key}", required=False))
                        for key, value in raw.items()))
    return interned.setdefault(tags, tags)


def _time(raw: Any, path: Path, place: str) -> float:
    text = evidence.text(raw, path, f"{place} time")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ParseError(path, f"{place} time", f"is {text!r}, not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ParseError(path, f"{place} time", f"is {text!r}, a time without its offset")
    return moment.timestamp()


def _value(metric: str, kind: str | None, raw: Any, path: Path, place: str, *, text_ok: bool = False) -> float:
    where = f"{place} value"
    if kind == "rate":
        return evidence.number(raw, path, where, text_ok=text_ok)  # k6 counts any non-zero as a pass
    if metric in TIME_METRICS or metric in BUILTIN_NON_NEGATIVE:
        return evidence.non_negative(raw, path, where, text_ok=text_ok)
    return evidence.number(raw, path, where, text_ok=text_ok)


def dumps_sample(metric: str, sample: Sample) -> str:
    """One JSON output line for ``sample`` (the tests write files with it)."""
    stamp = dt.datetime.fromtimestamp(sample.time, dt.UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"metric": metric, "type": "Point",
                       "data": {"time": stamp, "value": sample.value, "tags": dict(sample.tags)}})
