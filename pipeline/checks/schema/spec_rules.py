"""What the API promises about stored fields: required fields and bounds from the OpenAPI spec.

A component schema named in ``spec_tables`` maps onto a table: each required property that is a
column must be ``NOT NULL``, and each bounded property (minimum, maximum, exclusive bounds,
lengths, an enum) must be guarded by a ``CHECK`` constraint on that column, so the database
holds what the API promises even when a write bypasses the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.checks.openapi.document import load
from pipeline.errors import ParseError
from pipeline.evidence import mapping, texts

BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "enum")


@dataclass(frozen=True)
class Promise:
    """One stored field the spec constrains."""

    schema: str
    table: str
    column: str
    required: bool
    bounds: tuple[str, ...]  # which of BOUNDS the spec sets


def read_promises(path: Path, spec_tables: Mapping[str, str]) -> tuple[Promise, ...]:
    """The promises of every mapped component schema; a mapped schema the spec lacks is a ParseError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(path, "", f"cannot be read ({exc})", "Point checks.schema.spec at the OpenAPI file.") from None
    spec = mapping(load(text, str(path)), path, "the document")
    schemas = mapping(mapping(spec.get("components", {}), path, "components").get("schemas", {}), path,
                      "components.schemas")
    found = []
    for name, table in sorted(spec_tables.items()):
        if name not in schemas:
            raise ParseError(path, f"components.schemas.{name}", "does not exist (checks.schema.spec_tables names it)")
        schema = mapping(schemas[name], path, f"components.schemas.{name}")
        required = set(texts(schema.get("required"), path, f"components.schemas.{name}.required"))
        for column, spec_property in mapping(schema.get("properties", {}), path, f"{name}.properties").items():
            spec_property = mapping(spec_property, path, f"components.schemas.{name}.properties.{column}")
            found.append(Promise(name, table, column, column in required,
                                 tuple(b for b in BOUNDS if b in spec_property)))
    return tuple(found)
