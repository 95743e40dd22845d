"""The docs check's rules: each document against the facts. Pure: no files, no database, no browser.

A finding says which document, which line and which fact disagree, so the fix is obvious.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from pipeline.catalog import Table
from pipeline.checks.docs.api_rules import api_findings
from pipeline.checks.docs.database_rules import database_findings
from pipeline.checks.docs.facts import Operation
from pipeline.checks.docs.markdown import Document, Section
from pipeline.checks.docs.mermaid import Verdict
from pipeline.checks.docs.security_rules import security_findings
from pipeline.checks.docs.settings import DocsSettings
from pipeline.checks.interface import Evaluation
from pipeline.model import Finding, Measurement, Status
from pipeline.views import Facts, Figure, View

_TODO = re.compile(r"TODO\b", re.IGNORECASE)


@dataclass(frozen=True)
class DocsFacts:
    """What collect gathered: the documents (None: the file is missing), the spec, the catalog, Mermaid's word."""

    documents: dict[str, Document | None]  # "api", "database", "security"
    paths: dict[str, str]  # the same keys: each document's path, for findings
    operations: tuple[Operation, ...] = ()
    tables: dict[str, Table] = field(default_factory=dict)
    diagrams: dict[tuple[str, int], Verdict] | None = None  # (document, line) -> Mermaid's verdict; None: not run
    diagrams_note: str = ""  # why the diagrams were not validated
    erd: str = ""  # the ERD drawn by Mermaid, relative to the reports folder ('' when not drawn)


def evaluate_docs(facts: DocsFacts, settings: DocsSettings) -> Evaluation:
    """Every rule over every document: a failing finding fails the check."""
    findings = [*section_findings(facts, settings), *_fact_findings(facts, settings), *diagram_findings(facts)]
    present = sum(1 for d in facts.documents.values() if d is not None)
    diagrams = "not validated" if facts.diagrams is None else f"{len(facts.diagrams)} validated by Mermaid"
    measurements = (
        Measurement("documents present", present, "", f"== {len(facts.documents)}", present == len(facts.documents)),
        Measurement("disagreements with the system", len(findings), "", "== 0", not findings),
        Measurement("diagrams", diagrams),
    )
    notes = (facts.diagrams_note,) if facts.diagrams_note else ()
    view = Facts("Documents against the live system", (
        *((facts.paths[k], "present" if d is not None else "missing") for k, d in facts.documents.items()),
        ("operations compared", str(len(facts.operations))), ("tables compared", str(len(facts.tables))),
        ("Mermaid diagrams", diagrams)))
    views = (view, *erd_views(facts))
    if findings:
        return Evaluation(Status.FAIL, f"{len(findings)} disagreement(s) between the documents and the system.",
                          (*(f.title for f in findings), *notes), measurements, tuple(findings), views=views)
    return Evaluation(Status.PASS, f"The {present} documents are complete and true to the spec and the database.",
                      notes, measurements, (), views=views)


def erd_views(facts: DocsFacts) -> tuple[View, ...]:
    """The ERD Mermaid drew, else the live entities and relations in words."""
    if facts.erd:
        return (Figure("Entity-relationship diagram (the database document's, drawn by Mermaid)", facts.erd,
                       "The ERD of the database document"),)
    relations = [(f"{t.name} → {k.references}", f"{', '.join(k.columns)} ({k.name}, ON DELETE {k.on_delete})")
                 for t in facts.tables.values() for k in t.constraints if k.kind == "f"]
    return (Facts("Live entities and relations (no Mermaid drawing here)",
                  (("tables", ", ".join(sorted(facts.tables)) or "none"), *relations)),)


def _fact_findings(facts: DocsFacts, settings: DocsSettings) -> Iterator[Finding]:
    api, database, security = (facts.documents.get(k) for k in ("api", "database", "security"))
    if api is not None:
        yield from api_findings(api, facts.paths["api"], facts.operations)
        auth = api.find("Authentication")
        if auth is None or not any(b.text.lstrip().startswith("sequenceDiagram") for s in auth.walk()
                                   for b in s.blocks if b.language == "mermaid"):
            yield Finding("diagram-missing:api:authentication", "medium", f"{facts.paths['api']} has no Mermaid "
                          "sequenceDiagram of the authentication flow", facts.paths["api"], file=facts.paths["api"])
    if database is not None:
        yield from database_findings(database, facts.paths["database"], facts.tables)
    if security is not None:
        yield from security_findings(security, facts.paths["security"], facts.operations, settings.owasp,
                                     settings.public_roles)


def diagram_findings(facts: DocsFacts) -> Iterator[Finding]:
    """Each Mermaid block that Mermaid refused, with its line and Mermaid's message."""
    for (key, line), verdict in sorted((facts.diagrams or {}).items()):
        if not verdict.ok:
            path = facts.paths[key]
            yield Finding(f"diagram-invalid:{key}:{line}", "medium", f"{path}:{line}: Mermaid cannot parse "
                          "this diagram", path, file=path, line=line, message=verdict.error)


def section_findings(facts: DocsFacts, settings: DocsSettings) -> Iterator[Finding]:
    """Each document exists and has each required section, with content under it."""
    required = {"api": settings.documents.api_sections, "database": settings.documents.database_sections,
                "security": settings.documents.security_sections}
    for key, document in facts.documents.items():
        path = facts.paths[key]
        if document is None:
            yield Finding(f"document-missing:{key}", "high", f"{path} does not exist", path, file=path)
            continue
        for name in required[key]:
            section = document.find(name)
            slug = _slug(name)
            if section is None:
                yield Finding(f"section-missing:{key}:{slug}", "medium",
                              f"{path} has no section '{name}'", path, file=path)
            elif not _has_substance(section):
                yield Finding(f"section-empty:{key}:{slug}", "medium",
                              f"{path}:{section.line}: section '{section.title}' has a heading but no content",
                              path, file=path, line=section.line)


def _has_substance(section: Section) -> bool:
    """Content beyond the heading that is not a TODO note (a line that starts with TODO is a placeholder)."""
    body = section.text().splitlines()[1:]
    return any(line.strip() and not _TODO.match(line.strip()) for line in body)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")
