"""``readiness docs --write``: draft the API and database documents from the live facts.

What the gate knows is written as fact (operations, error codes, quotas, SLAs, tables, columns,
keys, indexes, the ERD); what only people know is a marked TODO, which the docs check counts as
no content, so a draft never passes by itself.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.catalog import Table, read_catalog
from pipeline.checks.docs.facts import Operation, read_spec
from pipeline.checks.docs.settings import BOOKKEEPING

TODO = "TODO:"


def draft_api(operations: tuple[Operation, ...], spec_name: str) -> str:
    """The API document: operations, authentication (sequence diagram), errors, quotas, SLAs."""
    lines = ["# API documentation", "", "## OpenAPI specification", "",
             f"The contract is `{spec_name}`. Its operations:", "", "| operation | method and path | errors |",
             "|---|---|---|"]
    lines += [f"| `{op.label}` | `{op.method} {op.path}` | {', '.join(op.error_codes)} |" for op in operations]
    lines += ["", "### Examples", "", f"{TODO} a request and its response for each operation.", "",
              "## Authentication", "", f"{TODO} how a client gets a token, what it carries, when it expires.", "",
              "```mermaid", "sequenceDiagram", "    participant Client", "    participant API",
              "    Client->>API: request with Authorization: Bearer token",
              "    API-->>Client: 401 without a valid token, 403 without the scope", "```", "",
              "## Error codes", "", "| status | meaning | remediation |", "|---|---|---|"]
    codes = sorted({code for op in operations for code in op.error_codes})
    lines += [f"| {code} | {TODO} | {TODO} |" for code in codes]
    limited = [op for op in operations if op.rate_limit]
    lines += ["", "## Rate limits", ""]
    if limited:
        lines += ["| operation | quota |", "|---|---|"]
        lines += [f"| `{op.label}` | {', '.join(f'{k} {v:g}' for k, v in op.rate_limit)} |" for op in limited]
    else:
        lines.append("No operation declares a quota (`x-rate-limit`).")
    lines += ["", "## SLA commitments", "", "| operation | p95 (ms) | error rate | monitored by |", "|---|---|---|---|"]
    lines += [f"| `{op.label}` | {_num(op.p95_ms)} | {_num(op.error_rate)} | {TODO} the alert and the panel |"
              for op in operations]
    return "\n".join(lines) + "\n"


def draft_database(tables: dict[str, Table]) -> str:
    """The database document: the ERD, every table's columns, keys and indexes, and the human sections."""
    lines = ["# Database schema", "", "## Entity-relationship diagram", "", "```mermaid", *erd(tables), "```", "",
             "## Table schemas", ""]
    for name, table in sorted(tables.items()):
        lines += [f"### {name}", "", "| column | type | null | default |", "|---|---|---|---|"]
        lines += [f"| {c.name} | {c.type} | {'not null' if c.not_null else 'null'} | {_cell(c.default)} |"
                  for c in table.columns]
        lines += ["", "Constraints:", ""] + [f"- `{k.name}`: {_cell(k.definition)}" for k in table.constraints]
        lines += ["", "Indexes:", ""] + [f"- `{i.name}`: {_cell(i.definition)}" for i in table.indexes] + [""]
    lines += ["## Migration strategy", "", f"{TODO} how migrations are versioned, applied and reverted.", "",
              "## Backup and restore", "", f"{TODO} the procedure, with the RTO and the RPO.", "",
              "## Performance notes", "", f"{TODO} the critical queries and their plans.", ""]
    return "\n".join(lines)


def erd(tables: dict[str, Table]) -> list[str]:
    """A Mermaid erDiagram: one relation per foreign key (cardinality from nullability), then the entities."""
    lines = ["erDiagram"]
    for table in sorted(tables.values(), key=lambda t: t.name):
        nullable = {c.name for c in table.columns if not c.not_null}
        for key in (k for k in table.constraints if k.kind == "f"):
            parent = "|o" if set(key.columns) & nullable else "||"
            lines.append(f'    {key.references} {parent}--o{{ {table.name} : "{", ".join(key.columns)}"')
    for table in sorted(tables.values(), key=lambda t: t.name):
        keys = {col: "PK" for k in table.constraints if k.kind == "p" for col in k.columns}
        keys.update({col: "FK" for k in table.constraints if k.kind == "f" for col in k.columns if col not in keys})
        lines.append(f"    {table.name} {{")
        lines += [f"        {_word(c.type)} {c.name}{' ' + keys[c.name] if c.name in keys else ''}"
                  for c in table.columns]
        lines.append("    }")
    return lines


def _word(type_name: str) -> str:
    """A type as one Mermaid word (``timestamp with time zone`` -> ``timestamp_with_time_zone``)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", type_name).strip("_") or "unknown"


def _num(value: float | None) -> str:
    return f"{value:g}" if value is not None else TODO


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no pipe, no line break."""
    return " ".join(text.replace("|", "\\|").split())


def write_drafts(api_path: Path, database_path: Path, spec: Path, dsn: str, *, force: bool) -> list[Path]:
    """Write both drafts from the spec and the database; FileExistsError (naming it) rather than overwrite."""
    existing = [p for p in (api_path, database_path) if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} exists; --force overwrites it")
    tables = read_catalog(dsn, ["public"])
    texts = {api_path: draft_api(read_spec(spec), spec.name),
             database_path: draft_database({n: t for n, t in tables.items() if t.name not in BOOKKEEPING})}
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(texts)
