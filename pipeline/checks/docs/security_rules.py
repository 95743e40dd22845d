"""The security document: the OWASP Top 10 checklist with a test per line, and the access-control matrix."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pipeline.checks.docs.facts import Operation
from pipeline.checks.docs.markdown import Document
from pipeline.model import Finding

_UNTESTED = re.compile(r"^\s*(?:|-|—|todo|tbd|n/?a|none)\s*$", re.IGNORECASE)


def security_findings(document: Document, path: str, operations: tuple[Operation, ...], owasp: tuple[str, ...],
                      public_roles: tuple[str, ...]) -> Iterator[Finding]:
    """Each OWASP id has a row naming its test; the matrix's roles are the spec's scopes."""
    checklist = document.find("OWASP")
    rows = checklist.rows() if checklist else []
    for wanted in owasp:
        row = next((r for r in rows if any(re.search(rf"\b{re.escape(wanted)}\b", cell) for cell in r.cells)), None)
        if row is None:
            yield Finding(f"owasp-missing:{wanted}", "medium", f"{path}: the OWASP Top 10 checklist has no row "
                          f"for {wanted}", path, file=path, line=checklist.line if checklist else None)
        elif len(row.cells) < 2 or _UNTESTED.match(row.cells[-1]):
            yield Finding(f"owasp-untested:{wanted}", "medium", f"{path}:{row.line}: {wanted} names no test "
                          "(the last column says which test proves it)", path, file=path, line=row.line)
    matrix = document.find("Access control")
    documented = {r.cells[0]: r for r in (matrix.rows() if matrix else []) if r.cells and r.cells[0]}
    scopes = sorted({s for op in operations for s in op.scopes})
    for scope in scopes:
        if scope not in documented:
            yield Finding(f"role-undocumented:{scope}", "medium", f"{path}: the access-control matrix has no row "
                          f"for {scope}, which the spec requires", path, file=path,
                          line=matrix.line if matrix else None)
    for role, row in sorted(documented.items()):
        if role not in scopes and role not in public_roles:
            yield Finding(f"role-not-in-spec:{role}".replace(" ", "_"), "medium", f"{path}:{row.line}: role {role} "
                          "is in no security requirement of the spec", path, file=path, line=row.line)
