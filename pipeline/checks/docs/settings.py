"""``checks.docs``: the three documents, their required sections, and the facts they are held to.

The defaults are the readiness standard's: three documents under ``docs/`` and the sections it
names for each. A section is found by a heading whose text contains the name (case-insensitive).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.checks.interface import CheckSettings

_CLOSED = ConfigDict(frozen=True, extra="forbid", strict=True)

# A migration tool's bookkeeping tables: no document needs them.
BOOKKEEPING = ("schema_migrations", "alembic_version", "django_migrations", "flyway_schema_history")
OWASP_TOP_10 = ("A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A09", "A10")  # the 2021 list


class Documents(BaseModel):
    """Where each document lives and the sections it must have (with content under them)."""

    model_config = _CLOSED

    api: str = Field("docs/api-documentation.md", description="the API document")
    database: str = Field("docs/database-schema.md", description="the database document")
    security: str = Field("docs/security-implementation.md", description="the security document")
    api_sections: tuple[str, ...] = Field(
        ("OpenAPI", "Authentication", "Error codes", "Rate limit", "SLA"),
        description="sections of the API document")
    database_sections: tuple[str, ...] = Field(
        ("Entity-relationship diagram", "Table schemas", "Migration strategy", "Backup", "Performance"),
        description="sections of the database document")
    security_sections: tuple[str, ...] = Field(
        ("OWASP Top 10", "Threat model", "Security testing", "Encryption", "Access control"),
        description="sections of the security document")


class DocsSettings(CheckSettings):
    """``checks.docs``: the documents, and where the facts they are compared with come from."""

    documents: Documents = Field(Documents.model_validate({}), description="the three documents")
    spec: str = Field("", description="the OpenAPI file the API and security documents are compared with")
    dsn: str | None = Field(None, description="the migrated database the schema document is compared with "
                                              "(default, also when empty: READINESS_DATABASE_URL)")
    schemas: tuple[str, ...] = Field(("public",), description="the schemas whose tables must be documented")
    ignore_tables: tuple[str, ...] = Field(BOOKKEEPING, json_schema_extra={"stricter": "fewer"},
        description="tables that need no documentation")
    owasp: tuple[str, ...] = Field(OWASP_TOP_10, json_schema_extra={"stricter": "more"},
        description="OWASP Top 10 ids the checklist must cover")
    public_roles: tuple[str, ...] = Field(("anonymous", "authenticated"),
                                          json_schema_extra={"stricter": "fewer"},
        description="rows of the access-control matrix that are no scope")
    mermaid_js: str | None = Field(None, description="mermaid.min.js (default: READINESS_MERMAID_JS, then "
                                                     "node_modules/mermaid/dist/ in the project)")
    chromium: str | None = Field(None, description="the browser that runs Mermaid (default: chromium on PATH)")
