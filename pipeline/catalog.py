"""What a PostgreSQL database holds, read from its catalog: tables, columns, keys, indexes (schema and docs checks).

Read in one READ ONLY transaction that is rolled back. Every definition comes from the
server's own deparsers (``format_type``, ``pg_get_constraintdef``, ``pg_get_indexdef``), so
two snapshots compare equal exactly when the server would create the same objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pipeline.errors import CheckError
from pipeline.redact import redact

CONNECT_TIMEOUT_S = 10

# ON DELETE / ON UPDATE codes of pg_constraint.confdeltype / confupdtype.
FK_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%(schemas)s)
ORDER BY 1, 2"""
_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       coalesce(pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND n.nspname = ANY(%(schemas)s)
ORDER BY 1, 2, a.attnum"""
_CONSTRAINTS = """
SELECT n.nspname, c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid, true),
       (SELECT array_agg(a.attname::text ORDER BY u.ord) FROM unnest(k.conkey) WITH ORDINALITY u(num, ord)
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num),
       k.confdeltype::text, k.confupdtype::text,
       CASE WHEN k.confrelid <> 0 THEN (SELECT relname FROM pg_class WHERE oid = k.confrelid) ELSE '' END
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
ORDER BY 1, 2, 3"""
_INDEXES = """
SELECT n.nspname, c.relname, i.relname, pg_get_indexdef(x.indexrelid),
       (SELECT array_agg(coalesce(a.attname::text, '') ORDER BY u.ord)
        FROM unnest(x.indkey::int2[]) WITH ORDINALITY u(num, ord)
        LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.num AND u.num > 0),
       x.indpred IS NOT NULL
FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
ORDER BY 1, 2, 3"""


@dataclass(frozen=True)
class Column:
    """One column: its type as the server prints it, nullability and default."""

    name: str
    type: str
    not_null: bool
    default: str


@dataclass(frozen=True)
class Constraint:
    """A primary key (p), foreign key (f), unique (u), check (c) or exclusion (x) constraint."""

    name: str
    kind: str
    definition: str
    columns: tuple[str, ...]
    on_delete: str = ""
    on_update: str = ""
    references: str = ""  # the referenced table of a foreign key


@dataclass(frozen=True)
class Index:
    """An index: its definition, its key columns in order ('' for an expression), whether partial."""

    name: str
    definition: str
    columns: tuple[str, ...]
    partial: bool


@dataclass
class Table:
    """One table with everything defined on it."""

    schema: str
    name: str
    columns: list[Column] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        """``schema.table``, or just the table in ``public``."""
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


def read_catalog(dsn: str, schemas: Iterable[str]) -> dict[str, Table]:
    """Every table of ``schemas`` by qualified name; CheckError when the database cannot be read."""
    params = {"schemas": list(schemas)}
    try:
        with psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.read_only = True
            with conn.cursor() as cur:
                tables = {(s, t): Table(s, t) for s, t in _rows(cur, _TABLES, params, 2)}
                for s, t, name, type_, not_null, default in _rows(cur, _COLUMNS, params, 6):
                    _owner(tables, s, t).columns.append(Column(str(name), str(type_), bool(not_null), str(default)))
                for s, t, name, kind, definition, cols, deltype, updtype, parent in _rows(cur, _CONSTRAINTS, params, 9):
                    _owner(tables, s, t).constraints.append(Constraint(
                        str(name), str(kind), str(definition), tuple(cols or ()),
                        FK_ACTIONS.get(str(deltype), "") if kind == "f" else "",
                        FK_ACTIONS.get(str(updtype), "") if kind == "f" else "", str(parent or "")))
                for s, t, name, definition, cols, partial in _rows(cur, _INDEXES, params, 6):
                    _owner(tables, s, t).indexes.append(Index(str(name), str(definition), tuple(cols or ()),
                                                              bool(partial)))
            conn.rollback()
    except psycopg.Error as exc:
        raise CheckError(f"the database's catalog cannot be read: {redact(str(exc)).strip()}",
                         "Check the DSN and that the role may connect and read pg_catalog.") from None
    return {table.qualified: table for table in tables.values()}


def _rows(cur: psycopg.Cursor[Any], query: str, params: dict[str, Any], width: int) -> list[tuple[Any, ...]]:
    cur.execute(query, params)
    rows = cur.fetchall()
    if any(len(row) != width for row in rows):
        raise CheckError(f"the catalog query returned rows of an unexpected width (expected {width})")
    return [tuple(row) for row in rows]


def _owner(tables: dict[tuple[str, str], Table], schema: Any, table: Any) -> Table:
    """The table a catalog row belongs to (views, sequences and foreign tables are not judged)."""
    return tables.get((str(schema), str(table))) or Table(str(schema), str(table))


def fingerprint(tables: dict[str, Table]) -> dict[str, list[str]]:
    """One line per object (column, constraint, index) and table, for comparing two snapshots."""
    lines: dict[str, list[str]] = {}
    for name, table in sorted(tables.items()):
        lines[name] = sorted(
            [f"column {c.name} {c.type}{' NOT NULL' if c.not_null else ''}"
             f"{' DEFAULT ' + c.default if c.default else ''}" for c in table.columns]
            + [f"constraint {k.name} {k.definition}" for k in table.constraints]
            + [f"index {i.definition}" for i in table.indexes])
    return lines


def differences(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per table, what one fingerprint has that the other lacks, in words (tables that match are absent)."""
    found: dict[str, list[str]] = {}
    for table in sorted(set(before) | set(after)):
        if table not in after:
            found[table] = ["the table is missing"]
        elif table not in before:
            found[table] = ["the table is new"]
        else:
            lines = [f"{line} is missing" for line in sorted(set(before[table]) - set(after[table]))]
            lines += [f"{line} is new" for line in sorted(set(after[table]) - set(before[table]))]
            if lines:
                found[table] = lines
    return found
