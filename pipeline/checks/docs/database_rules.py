"""The database document against the live catalog: every table, column, type, index and relation.

Tables are documented as sub-sections of the table-schemas section, one per table (its name
as the heading), with a table whose first column names the columns and whose second, when
present, gives the type. The relations are lines of the ERD's Mermaid ``erDiagram``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pipeline.catalog import Table
from pipeline.checks.docs.markdown import Document, Section
from pipeline.model import Finding

# How a type may be written in a document, and how PostgreSQL prints it (format_type).
TYPE_ALIASES = {"int8": "bigint", "int4": "integer", "int": "integer", "int2": "smallint", "bool": "boolean",
                "timestamptz": "timestamp with time zone", "timestamp": "timestamp without time zone",
                "varchar": "character varying", "float8": "double precision", "float4": "real"}
_RELATION = re.compile(r"^\s*\"?([\w.]+)\"?\s+\S*(?:--|\.\.)\S*\s+\"?([\w.]+)\"?")


def database_findings(document: Document, path: str, tables: dict[str, Table]) -> Iterator[Finding]:
    """The ERD's relations, each table's columns, types and indexes, and RTO/RPO stated."""
    yield from _relation_findings(document, path, tables)
    documented = _documented_tables(document)
    for name in sorted(set(tables) - set(documented)):
        yield Finding(f"table-undocumented:{name}", "medium",
                      f"{path} does not document table {name}, which the database has", path, file=path)
    for name, section in sorted(documented.items()):
        table = tables.get(name)
        if table is None:
            yield Finding(f"table-not-in-database:{name}", "medium", f"{path}:{section.line} documents table "
                          f"{name}, which the database does not have", path, file=path, line=section.line)
            continue
        yield from _column_findings(section, path, table)
    backup = document.find("Backup")
    if backup is not None and not {"RTO", "RPO"} <= set(re.findall(r"\bRTO\b|\bRPO\b", backup.text())):
        yield Finding("backup-objectives-missing:database", "medium", f"{path}:{backup.line}: the backup section "
                      "states no RTO and RPO", path, file=path, line=backup.line)


def _documented_tables(document: Document) -> dict[str, Section]:
    schemas = document.find("Table schemas")
    return {section.title.split()[0]: section for section in (schemas.children if schemas else []) if section.title}


def _column_findings(section: Section, path: str, table: Table) -> Iterator[Finding]:
    rows = {row.cells[0]: row for row in section.rows() if row.cells and row.cells[0]}
    live = {column.name: column for column in table.columns}
    where = table.qualified
    for name in sorted(set(live) - set(rows)):
        yield Finding(f"column-undocumented:{where}.{name}", "medium", f"{path}:{section.line}: table {where} "
                      f"lacks column {name} ({live[name].type}), which the database has", path, file=path,
                      line=section.line)
    for name, row in sorted(rows.items()):
        column = live.get(name)
        if column is None:
            yield Finding(f"column-not-in-database:{where}.{name}", "medium", f"{path}:{row.line} documents "
                          f"column {where}.{name}, which the database does not have", path, file=path, line=row.line)
        elif len(row.cells) > 1 and row.cells[1] and _type(row.cells[1]) != column.type:
            yield Finding(f"column-type-mismatch:{where}.{name}", "medium", f"{path}:{row.line} says {where}.{name} "
                          f"is {row.cells[1]}; the database has {column.type}", path, file=path, line=row.line)
    text = section.text()
    for index in table.indexes:
        if index.name not in text:
            yield Finding(f"index-undocumented:{where}.{index.name}", "low", f"{path}:{section.line}: table "
                          f"{where} does not mention index {index.name}", path, file=path, line=section.line,
                          message=index.definition)


def _type(written: str) -> str:
    words = " ".join(written.casefold().split())
    return TYPE_ALIASES.get(words, words)


def _relation_findings(document: Document, path: str, tables: dict[str, Table]) -> Iterator[Finding]:
    erd = document.find("Entity-relationship")
    diagrams = [block for section in (erd.walk() if erd else []) for block in section.blocks
                if block.language == "mermaid" and block.text.lstrip().startswith("erDiagram")]
    if not diagrams:
        yield Finding("diagram-missing:database:erd", "medium", f"{path} has no Mermaid erDiagram in its "
                      "entity-relationship section", path, file=path, line=erd.line if erd else None)
        return
    related = {frozenset(m.groups()) for block in diagrams for line in block.text.splitlines()
               if (m := _RELATION.match(line))}
    for name, table in sorted(tables.items()):
        for key in (c for c in table.constraints if c.kind == "f"):
            if frozenset((table.name, key.references)) not in related and table.name != key.references:
                yield Finding(f"relation-undocumented:{name}.{key.name}", "medium",
                              f"{path}: the ERD has no relation between {table.name} and {key.references} "
                              f"({key.name})", path, file=path, line=diagrams[0].line)
