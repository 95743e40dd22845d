"""The ``docs`` check: the three documents the standard mandates, complete and true to the live system.

collect: read and parse the API, database and security documents (Markdown, with markdown-it-py),
         read the migrated database's catalog, and have Mermaid itself (in headless Chromium)
         validate every diagram.
parse:   the OpenAPI spec's operations, error codes, quotas, SLAs and scopes, validated.
evaluate: required sections with content; every operation, error code, quota and SLA of the spec
          in the API document; every table, column, type, index and relation of the database in
          the schema document (and nothing it lacks); the OWASP Top 10 with a test each; the
          access-control matrix against the spec's scopes; diagrams Mermaid accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import markdown_it

from pipeline.catalog import Table, read_catalog
from pipeline.checks.docs.facts import read_spec
from pipeline.checks.docs.markdown import Document, parse
from pipeline.checks.docs.mermaid import Verdict, bundle_version, find_browser, find_bundle, validate
from pipeline.checks.docs.policy import DocsFacts, evaluate_docs
from pipeline.checks.docs.settings import DocsSettings
from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.errors import ArtifactMissing, ParseError
from pipeline.model import ToolInfo

__all__ = ["DocsCheck", "DocsSettings"]

ERD_FILE = "docs-erd.svg"
INSTALL_MERMAID = "npm install mermaid (in the project), or set READINESS_MERMAID_JS to mermaid.min.js"


@dataclass(frozen=True)
class DocsRaw:
    """The parsed documents, the spec file, the catalog and Mermaid's verdicts (None: not validated)."""

    documents: dict[str, Document | None]
    paths: dict[str, str]
    spec: Path
    tables: dict[str, Table]
    diagrams: dict[tuple[str, int], Verdict] | None
    diagrams_note: str
    erd: str = ""  # the ERD Mermaid drew, as an SVG in the evidence folder (relative to the reports folder)


class DocsCheck(Check[DocsSettings, DocsRaw, DocsFacts]):
    """The API, database and security documents: present, complete, and true to the spec and the database."""

    name = "docs"
    title = "Documents (API, database, security) against the live system"
    order = 80  # last: it compares the documents with what the other checks judged
    needs_target = True
    Settings = DocsSettings
    findings = {
        "document-missing": FindingKind("a mandated document does not exist", "Write it (readiness docs --write "
                                        "drafts the API and database documents from the live system)."),
        "section-missing": FindingKind("a required section is missing", "Add the section with its content."),
        "section-empty": FindingKind("a required section has a heading but no content (or only TODO)",
                                     "Write the section."),
        "operation-undocumented": FindingKind("an operation of the spec is not in the API document",
                                              "Describe it (method, path, errors, quota, SLA)."),
        "operation-not-in-spec": FindingKind("the API document describes an operation the spec does not have",
                                             "Remove it from the document, or add it to the spec."),
        "error-code-undocumented": FindingKind("an error status the spec documents is not explained",
                                               "Add it to the error-codes section with its remediation."),
        "rate-limit": FindingKind("an operation's quota (x-rate-limit) is missing from the document or differs "
                                  "(rate-limit-undocumented, rate-limit-mismatch)", "State the spec's quota."),
        "sla": FindingKind("an operation's x-sla is missing from the document or differs (sla-undocumented, "
                           "sla-mismatch)", "State the spec's p95 and error rate in the SLA table."),
        "diagram-missing": FindingKind("a required Mermaid diagram (ERD, authentication sequence) is missing",
                                       "Add the diagram as a ```mermaid block."),
        "diagram-invalid": FindingKind("Mermaid cannot parse a diagram", "Fix the diagram (the message is Mermaid's)."),
        "table-undocumented": FindingKind("a table of the database is not documented", "Document it."),
        "table-not-in-database": FindingKind("a documented table does not exist", "Remove it or migrate it."),
        "column-undocumented": FindingKind("a column of the database is not documented", "Add its row."),
        "column-not-in-database": FindingKind("a documented column does not exist", "Remove its row."),
        "column-type-mismatch": FindingKind("a column's documented type differs", "Write the database's type."),
        "index-undocumented": FindingKind("an index is not mentioned under its table", "Mention it."),
        "relation-undocumented": FindingKind("a foreign key has no relation in the ERD",
                                             "Add the relation with its cardinalities."),
        "backup-objectives-missing": FindingKind("the backup section states no RTO and RPO", "State both."),
        "owasp-missing": FindingKind("an OWASP Top 10 category has no checklist row", "Add its row and test."),
        "owasp-untested": FindingKind("an OWASP checklist row names no test", "Name the test that proves it."),
        "role-undocumented": FindingKind("a scope the spec requires is not in the access-control matrix",
                                         "Add its row."),
        "role-not-in-spec": FindingKind("a role of the access-control matrix is in no security requirement",
                                        "Remove it, or require it in the spec."),
    }

    def collect(self, settings: DocsSettings, ctx: CheckContext) -> DocsRaw:
        """The documents (kept as evidence), the catalog, and Mermaid's verdict on every diagram."""
        if not settings.spec:
            raise ArtifactMissing("checks.docs.spec is empty, so the documents cannot be compared with the API",
                                  "Set checks.docs.spec to the OpenAPI file.")
        dsn = ctx.database(settings.dsn, "compare the schema document with")
        docs = settings.documents
        paths = {"api": docs.api, "database": docs.database, "security": docs.security}
        documents = {key: _read(ctx, path) for key, path in paths.items()}
        tables = {name: t for name, t in read_catalog(dsn, settings.schemas).items()
                  if t.name not in settings.ignore_tables}
        ctx.tool = ToolInfo("markdown-it-py", markdown_it.__version__, "run")
        diagrams, note = _validate_diagrams(documents, settings, ctx)
        return DocsRaw(documents, paths, ctx.resolve(settings.spec), tables, diagrams, note, _keep_erd(diagrams, ctx))

    def parse(self, raw: DocsRaw) -> DocsFacts:
        """The spec's operations, validated, beside what collect read."""
        return DocsFacts(raw.documents, raw.paths, read_spec(raw.spec), raw.tables, raw.diagrams, raw.diagrams_note,
                         raw.erd)

    def evaluate(self, parsed: DocsFacts, settings: DocsSettings) -> Evaluation:
        """Every rule over every document."""
        return evaluate_docs(parsed, settings)


def _read(ctx: CheckContext, configured: str) -> Document | None:
    path = ctx.resolve(configured)
    if not path.is_file():
        return None
    kept = ctx.add_evidence(path)
    try:
        return parse(kept.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ParseError(path, f"byte {exc.start}", "is not UTF-8 text") from None


def _validate_diagrams(documents: dict[str, Document | None], settings: DocsSettings,
                       ctx: CheckContext) -> tuple[dict[tuple[str, int], Verdict] | None, str]:
    blocks = [(key, block) for key, doc in documents.items() if doc for block in doc.blocks("mermaid")]
    if not blocks:
        return {}, ""
    browser = find_browser(settings.chromium)
    bundle = find_bundle(settings.mermaid_js, ctx.env, ctx.project_dir)
    if browser is None or bundle is None:
        missing = "Chromium" if browser is None else f"Mermaid's bundle ({INSTALL_MERMAID})"
        return None, (f"{len(blocks)} Mermaid diagram(s) were NOT validated: {missing} is not available here; "
                      "the report shows them unchecked.")
    verdicts = validate([block.text for _, block in blocks], browser, bundle, ctx.evidence_dir, ctx.deadline_s)
    ctx.tool = ToolInfo("mermaid", bundle_version(bundle), "run", (browser, bundle.name))
    return {(key, block.line): verdict for (key, block), verdict in zip(blocks, verdicts, strict=True)}, ""


def _keep_erd(diagrams: dict[tuple[str, int], Verdict] | None, ctx: CheckContext) -> str:
    """The database document's first ERD as Mermaid drew it, kept as evidence; its path, or ''."""
    drawn = next((v.svg for (key, _), v in sorted((diagrams or {}).items()) if key == "database" and v.svg), "")
    if not drawn:
        return ""
    path = ctx.evidence_dir / ERD_FILE
    path.write_text(drawn, encoding="utf-8")
    ctx.add_evidence(path)
    return f"evidence/{ERD_FILE}"
