"""The columns the critical queries search and join on, read with PostgreSQL's own parser (pglast).

A query file is first put through the explain check's guard (one SELECT, placeholders turned
into ``$n``), then each SELECT's WHERE clause and JOIN conditions are walked for column
references, resolved to tables through the FROM clause's names and aliases. A reference that
cannot be resolved (an unqualified column with several tables in FROM) is not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pglast import ast, parser

from pipeline.checks.explain.sql import UnsafeStatement, guard, nodes
from pipeline.errors import ParseError


@dataclass(frozen=True)
class Searched:
    """A column a query filters or joins on."""

    table: str
    column: str
    query: str  # the query file, relative to the project


def searched_columns(path: Path, name: str) -> set[Searched]:
    """Every (table, column) the query in ``path`` searches or joins on."""
    try:
        statement = guard(path.read_text(encoding="utf-8"), writes=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(path, "", f"cannot be read ({exc})") from None
    except UnsafeStatement as exc:
        raise ParseError(path, "", f"is not one read-only query: {exc}") from None
    found: set[Searched] = set()
    for select in (n for n in nodes(parser.parse_sql(statement.text)) if isinstance(n, ast.SelectStmt)):
        tables = _tables_in(select.fromClause or ())
        conditions = [select.whereClause, *(j.quals for j in nodes(select.fromClause or ())
                                            if isinstance(j, ast.JoinExpr))]
        for ref in (n for c in conditions if c is not None for n in nodes(c) if isinstance(n, ast.ColumnRef)):
            resolved = _resolve(ref, tables)
            if resolved:
                found.add(Searched(*resolved, name))
    return found


def _tables_in(from_clause: Any) -> dict[str, str]:
    """Names a FROM clause gives its tables (alias or table name) -> table name."""
    named: dict[str, str] = {}
    for var in (n for n in nodes(from_clause) if isinstance(n, ast.RangeVar) and n.relname):
        alias = var.alias.aliasname if var.alias else None
        named[alias or str(var.relname)] = str(var.relname)
    return named


def _resolve(ref: ast.ColumnRef, tables: dict[str, str]) -> tuple[str, str] | None:
    parts = [str(f.sval) for f in ref.fields or () if isinstance(f, ast.String)]
    if len(parts) == 2 and parts[0] in tables:
        return tables[parts[0]], parts[1]
    if len(parts) == 1 and len(set(tables.values())) == 1:
        return next(iter(tables.values())), parts[0]
    return None
