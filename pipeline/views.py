"""What a check shows a person besides its findings: a few typed pictures the HTML report draws.

A check's ``evaluate`` returns views; the reporters draw them and compute nothing. There
are three kinds, enough for every check so far:

- ``Bars``: one bar per row against a limit (coverage per package against the minimum,
  p95 latency per endpoint against the SLA, with p50/p99 marks);
- ``Plan``: one executed query plan as an indented tree, its median time against a budget;
- ``Facts``: a short list of labelled values (which role ran the plans, say);
- ``Figure``: an SVG drawing kept as evidence (the ERD Mermaid drew), shown as an image.
- ``Table``: rows of cells under column headings (the api check's role matrix, the SLO matrix),
  each row optionally marked ok or not.

Each serialises to JSON (``kind`` says which) and back; the result schema describes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bar:
    """One row: a value against a limit, with optional marks (e.g. p50 and p99 beside p95)."""

    label: str
    value: float
    limit: float | None = None
    ok: bool | None = None
    text: str = ""
    marks: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"label": self.label, "value": self.value, "limit": self.limit, "ok": self.ok, "text": self.text,
                "marks": list(self.marks)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bar:
        """Inverse of ``to_dict``."""
        return cls(data["label"], data["value"], data.get("limit"), data.get("ok"), data.get("text", ""),
                   tuple(data.get("marks", ())))


@dataclass(frozen=True)
class Bars:
    """A bar chart against limits; ``unit`` is ``ratio`` (drawn as %) or a unit of measure such as ``ms``."""

    title: str
    unit: str
    rows: tuple[Bar, ...]
    limit_label: str = ""
    kind: str = "bars"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "title": self.title, "unit": self.unit, "limit_label": self.limit_label,
                "rows": [r.to_dict() for r in self.rows]}


@dataclass(frozen=True)
class PlanNode:
    """One node of an executed plan as the report shows it."""

    depth: int
    label: str
    rows: float | None = None
    loops: float | None = None
    plan_rows: float | None = None
    time_ms: float | None = None
    flagged: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"depth": self.depth, "label": self.label, "rows": self.rows, "loops": self.loops,
                "plan_rows": self.plan_rows, "time_ms": self.time_ms, "flagged": self.flagged}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanNode:
        """Inverse of ``to_dict``."""
        return cls(data["depth"], data["label"], data.get("rows"), data.get("loops"), data.get("plan_rows"),
                   data.get("time_ms"), data.get("flagged", False))


@dataclass(frozen=True)
class Plan:
    """One query (with one parameter set): its median time against its budget and its plan tree."""

    title: str
    params: tuple[tuple[str, str], ...] = ()
    error: str = ""
    median_ms: float | None = None
    budget_ms: float | None = None
    problems: tuple[str, ...] = ()
    nodes: tuple[PlanNode, ...] = ()
    shape: tuple[str, ...] = ()
    previous_shape: tuple[str, ...] | None = None
    kind: str = "plan"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "title": self.title, "params": [list(p) for p in self.params],
                "error": self.error, "median_ms": self.median_ms, "budget_ms": self.budget_ms,
                "problems": list(self.problems), "nodes": [n.to_dict() for n in self.nodes],
                "shape": list(self.shape),
                "previous_shape": None if self.previous_shape is None else list(self.previous_shape)}


@dataclass(frozen=True)
class Facts:
    """Labelled values worth a line in the report."""

    title: str
    items: tuple[tuple[str, str], ...]
    kind: str = "facts"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "title": self.title, "items": [list(i) for i in self.items]}


@dataclass(frozen=True)
class Figure:
    """An SVG drawing in the evidence folder (``path`` relative to the reports folder), shown as an image.

    An image, never inline markup: an SVG shown through ``<img>`` cannot run scripts.
    """

    title: str
    path: str
    alt: str
    kind: str = "figure"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "title": self.title, "path": self.path, "alt": self.alt}


@dataclass(frozen=True)
class Table:
    """A table of text cells; ``ok`` marks each row (True, False, or None for neither)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    ok: tuple[bool | None, ...] = ()
    kind: str = "table"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "title": self.title, "columns": list(self.columns),
                "rows": [list(r) for r in self.rows], "ok": list(self.ok)}


View = Bars | Plan | Facts | Figure | Table


def view_from_dict(data: dict[str, Any]) -> View:
    """Inverse of each view's ``to_dict``; the caller validated the result schema first."""
    kind = data["kind"]
    if kind == "bars":
        return Bars(data["title"], data["unit"], tuple(Bar.from_dict(r) for r in data["rows"]),
                    data.get("limit_label", ""))
    if kind == "plan":
        previous = data.get("previous_shape")
        return Plan(data["title"], tuple((str(k), str(v)) for k, v in data.get("params", ())), data.get("error", ""),
                    data.get("median_ms"), data.get("budget_ms"), tuple(data.get("problems", ())),
                    tuple(PlanNode.from_dict(n) for n in data.get("nodes", ())), tuple(data.get("shape", ())),
                    None if previous is None else tuple(previous))
    if kind == "facts":
        return Facts(data["title"], tuple((str(k), str(v)) for k, v in data["items"]))
    if kind == "figure":
        return Figure(data["title"], data["path"], data["alt"])
    if kind == "table":
        return Table(data["title"], tuple(str(c) for c in data["columns"]),
                     tuple(tuple(str(c) for c in r) for r in data["rows"]), tuple(data.get("ok", ())))
    raise ValueError(f"unknown view kind {kind!r}")
