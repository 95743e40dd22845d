"""The docs check: documents parsed with a real Markdown parser, held to a real spec and a real database."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.catalog import read_catalog
from pipeline.checks.docs.api_rules import names_operation
from pipeline.checks.docs.draft import draft_database
from pipeline.checks.docs.facts import Operation
from pipeline.checks.docs.markdown import parse
from pipeline.checks.docs.mermaid import read_answer
from pipeline.checks.schema.roundtrip import scratch_database
from pipeline.errors import ParseError
from pipeline.model import CheckResult, Status
from pipeline.reporters.html import _view as _html_view
from pipeline.runner import run_check
from pipeline.views import Facts, Figure
from tests.conftest import REPO, config_from, others_off
from tests.true_docs import write_true_documents

SPEC = {
    "openapi": "3.1.0", "info": {"title": "items", "version": "1"},
    "paths": {
        "/items": {"post": {"operationId": "create_item", "security": [{"bearer": ["items:write"]}],
                            "x-rate-limit": {"limit": 30, "window_s": 60},
                            "x-sla": {"p95_ms": 150, "error_rate": 0.01},
                            "responses": {"201": {"description": "created"}, "401": {"description": "no token"},
                                          "429": {"description": "slow down"}}}},
        "/items/{item_id}": {"get": {"operationId": "get_item", "security": [{"bearer": []}, {}],
                                     "x-sla": {"p95_ms": 80},
                                     "responses": {"200": {"description": "ok"}, "404": {"description": "none"}}}},
    },
}
DDL = """
CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE item_tags (id bigint PRIMARY KEY, item_id bigint NOT NULL REFERENCES items (id) ON DELETE CASCADE,
                        tag text);
CREATE INDEX item_tags_item_idx ON item_tags (item_id);
"""
@pytest.fixture(scope="session")
def mermaid_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mermaid.min.js from the npm package (READINESS_MERMAID_JS when set), with its package.json."""
    configured = os.environ.get("READINESS_MERMAID_JS")
    if configured and Path(configured).is_file():
        return Path(configured)
    npm = shutil.which("npm")
    if npm is None or shutil.which("chromium") is None:
        pytest.skip("npm or chromium is not installed, so Mermaid cannot run here (.ci/run installs both)")
    folder = tmp_path_factory.mktemp("mermaid")
    done = subprocess.run([npm, "pack", "mermaid@11.12.1"], cwd=folder, capture_output=True, text=True,
                          timeout=180, check=False)
    if done.returncode != 0:
        pytest.skip(f"the npm registry did not give the mermaid package: {done.stderr.strip()[:200]}")
    with tarfile.open(next(folder.glob("*.tgz"))) as archive:
        archive.extractall(folder, members=[archive.getmember(n) for n in
                                            ("package/dist/mermaid.min.js", "package/package.json")], filter="data")
    return folder / "package" / "dist" / "mermaid.min.js"


@pytest.fixture
def system(tmp_path: Path, postgres_dsn: str) -> Iterator[tuple[Path, str]]:
    """A folder with the spec and three true documents (drafted from the facts, then completed), and the database."""
    with scratch_database(postgres_dsn) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(DDL.encode())
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps(SPEC))
        write_true_documents(tmp_path / "docs", spec, dsn, ("items:write", "anonymous"))
        yield tmp_path, dsn


def _run(folder: Path, dsn: str, mermaid: Path | None = None) -> CheckResult:
    config = config_from(folder / "cfg", f"""version: 1
checks:
{others_off('docs')}  docs:
    documents: {{api: {folder}/docs/api-documentation.md, database: {folder}/docs/database-schema.md,
                security: {folder}/docs/security-implementation.md}}
    spec: {folder}/spec.json
    dsn: {json.dumps(dsn)}
    mermaid_js: {json.dumps(str(mermaid or folder / "no-mermaid.js"))}
""")
    return run_check("docs", config, folder / "reports", REPO)


def _edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / "docs" / name
    text = path.read_text()
    assert old in text, (old, text)
    path.write_text(text.replace(old, new, 1))


def _ids(result: CheckResult) -> set[str]:
    return {f.id for f in result.findings}


def test_true_documents_pass_and_say_the_diagrams_were_not_validated(system: tuple[Path, str]) -> None:
    folder, dsn = system
    result = _run(folder, dsn)
    assert result.status is Status.PASS, [f.title for f in result.findings]
    assert any("NOT validated" in reason for reason in result.reasons)


def test_without_a_drawing_the_report_lists_the_live_relations(system: tuple[Path, str]) -> None:
    folder, dsn = system
    facts = [v for v in _run(folder, dsn).views if isinstance(v, Facts) and "relations" in v.title]
    assert facts and ("item_tags → items", "item_id (item_tags_item_id_fkey, ON DELETE CASCADE)") in facts[0].items


def test_a_figure_is_shown_only_from_inside_the_reports_folder() -> None:
    assert _html_view(Figure("ERD", "evidence/docs-erd.svg", "alt"))["src"] == "evidence/docs-erd.svg"
    for hostile in ("javascript:alert(1)", "/etc/passwd", "../x.svg", "data:image/svg+xml,<svg onload=x>"):
        assert _html_view(Figure("ERD", hostile, "alt"))["src"] is None


def test_a_draft_never_passes_by_itself(system: tuple[Path, str]) -> None:
    folder, dsn = system
    draft = draft_database(read_catalog(dsn, ["public"]))
    (folder / "docs" / "database-schema.md").write_text(draft)
    result = _run(folder, dsn)
    assert result.status is Status.FAIL
    assert {"section-empty:database:migration-strategy", "section-empty:database:backup",
            "section-empty:database:performance"} <= _ids(result)


def test_mermaid_itself_validates_every_diagram(system: tuple[Path, str], mermaid_bundle: Path) -> None:
    folder, dsn = system
    drawn = _run(folder, dsn, mermaid_bundle)
    assert drawn.status is Status.PASS
    figure = next(v for v in drawn.views if isinstance(v, Figure))
    svg = (folder / "reports" / figure.path).read_text()
    assert svg.startswith("<svg") and "item_tags" in svg
    _edit(folder, "database-schema.md", "erDiagram\n", "erDiagram\n    items ||--o{ : broken\n")
    result = _run(folder, dsn, mermaid_bundle)
    invalid = [f for f in result.findings if f.id.startswith("diagram-invalid:database:")]
    assert result.status is Status.FAIL and invalid and "Parse error" in invalid[0].message
    assert result.tool.name == "mermaid"


def test_a_column_added_without_documenting_it_is_named(system: tuple[Path, str]) -> None:
    folder, dsn = system
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE items ADD COLUMN note text")
    result = _run(folder, dsn)
    assert result.status is Status.FAIL and _ids(result) == {"column-undocumented:items.note"}


def test_a_documented_column_the_database_lacks_and_a_wrong_type_name_their_line(system: tuple[Path, str]) -> None:
    folder, dsn = system
    _edit(folder, "database-schema.md", "| name | text |", "| name | integer |")
    _edit(folder, "database-schema.md", "| tag | text |", "| tag | text |\n| colour | text | null |  |")
    result = _run(folder, dsn)
    assert _ids(result) == {"column-type-mismatch:items.name", "column-not-in-database:item_tags.colour"}
    mismatch = next(f for f in result.findings if f.id.startswith("column-type-mismatch"))
    assert mismatch.line is not None and "the database has text" in mismatch.title


def test_a_foreign_key_missing_from_the_erd_is_named(system: tuple[Path, str]) -> None:
    folder, dsn = system
    _edit(folder, "database-schema.md", '    items ||--o{ item_tags : "item_id"\n', "")
    assert _ids(_run(folder, dsn)) == {"relation-undocumented:item_tags.item_tags_item_id_fkey"}


def test_a_removed_owasp_line_and_an_untested_one_are_named(system: tuple[Path, str]) -> None:
    folder, dsn = system
    _edit(folder, "security-implementation.md", "| A03 | category 3 | addressed | tests/test_security.py::test_a03 |\n",
          "")
    _edit(folder, "security-implementation.md", "tests/test_security.py::test_a05", "TODO")
    assert _ids(_run(folder, dsn)) == {"owasp-missing:A03", "owasp-untested:A05"}


def test_a_stale_sla_and_quota_say_which_line_disagrees(system: tuple[Path, str]) -> None:
    folder, dsn = system
    _edit(folder, "api-documentation.md", "| `create_item` | 150 | 0.01 |", "| `create_item` | 100 | 1% |")
    _edit(folder, "api-documentation.md", "limit 30, window_s 60", "limit 60, window_s 60")
    result = _run(folder, dsn)
    assert _ids(result) == {"sla-mismatch:create_item", "rate-limit-mismatch:create_item"}
    sla = next(f for f in result.findings if f.id == "sla-mismatch:create_item")
    assert "p95_ms 150" in sla.title and "error_rate" not in sla.title  # 1% states 0.01 as a percentage


def test_operations_errors_and_roles_follow_the_spec(system: tuple[Path, str]) -> None:
    folder, dsn = system
    _edit(folder, "api-documentation.md", "| `get_item` | `GET /items/{item_id}` | 404 |",
          "| `delete_item` | `DELETE /items/{item_id}` | 404 |")
    _edit(folder, "api-documentation.md", "| 429 |", "| 499 |")
    _edit(folder, "security-implementation.md", "| items:write |", "| items:admin |")
    assert _ids(_run(folder, dsn)) == {
        "operation-not-in-spec:DELETE_/items/{item_id}", "error-code-undocumented:429",
        "role-undocumented:items:write", "role-not-in-spec:items:admin"}


def test_missing_documents_and_empty_sections_are_named(system: tuple[Path, str]) -> None:
    folder, dsn = system
    (folder / "docs" / "security-implementation.md").unlink()
    text = (folder / "docs" / "database-schema.md").read_text()
    start = text.index("## Migration strategy\n") + len("## Migration strategy\n")
    end = text.index("## Backup")
    (folder / "docs" / "database-schema.md").write_text(text[:start] + "\nTODO: write it\n\n" + text[end:])
    result = _run(folder, dsn)
    assert result.status is Status.FAIL
    assert {"document-missing:security", "section-empty:database:migration-strategy"} <= _ids(result)


def test_without_a_spec_or_a_database_the_check_is_an_error(tmp_path: Path) -> None:
    config = config_from(tmp_path, f"version: 1\nchecks:\n{others_off('docs')}", READINESS_DATABASE_URL="")
    result = run_check("docs", config, tmp_path / "reports", REPO)
    assert result.status is Status.ERROR and "checks.docs.spec" in " ".join(result.reasons)


def test_markdown_is_read_as_a_renderer_reads_it() -> None:
    document = parse("# Title\n\nintro\n\n## Error `codes`\nline one\nline two\n\n| a | b |\n|---|---|\n"
                     "| `401` | x \\| y |\n\n```mermaid\nerDiagram\n```\n\n### Deeper\n\n- item\n\n## Next\n")
    section = document.find("error codes")
    assert section is not None and section.title == "Error codes" and section.line == 5
    assert section.texts[0] == ("line one line two", 6)
    assert [r.cells for r in section.rows()] == [("401", "x | y")]
    assert [b.line for b in document.blocks("mermaid")] == [13] and section.children[0].title == "Deeper"
    assert "item" in section.text() and document.find("Next") is not None
    only = parse("## Heading only\n").find("Heading")
    assert only is not None and only.title == "Heading only" and not only.has_content()


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("#|`-*>\n ab1\\[]()!<")), max_size=300))
def test_any_text_parses_into_sections(text: str) -> None:
    document = parse(text)
    assert document.root.walk()[0] is document.root
    for section in document.root.walk():
        assert section.line >= 1


@pytest.mark.parametrize(("answer", "expected", "problem"), [
    ("not base64!", 1, "base64"), (base64.b64encode(b'[{"ok": "yes"}]').decode(), 1, "true or false"),
    (base64.b64encode(b'[{"ok": true, "error": ""}]').decode(), 2, "1 verdicts for 2"),
    (base64.b64encode(b'{"ok": true}').decode(), 1, "not a list")])
def test_a_damaged_mermaid_answer_is_refused(tmp_path: Path, answer: str, expected: int, problem: str) -> None:
    with pytest.raises(ParseError, match=problem):
        read_answer(answer, expected, tmp_path / "dom.html")


def test_readiness_docs_write_drafts_and_never_overwrites_without_force(system: tuple[Path, str]) -> None:
    folder, dsn = system
    drafts = folder / "drafts"
    config = folder / "docs.yaml"
    config.write_text(f"""version: 1
checks:
  docs:
    documents: {{api: {drafts}/api.md, database: {drafts}/db.md}}
    spec: {folder}/spec.json
    dsn: {json.dumps(dsn)}
""")

    def write(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pipeline", "docs", "--write", "--config", str(config), *extra],
                              cwd=folder, capture_output=True, text=True, timeout=120, check=False)

    first = write()
    assert first.returncode == 0, first.stderr
    database = (drafts / "db.md").read_text()
    assert "### item_tags" in database and "items ||--o{ item_tags" in database
    assert "`POST /items`" in (drafts / "api.md").read_text()
    (drafts / "db.md").write_text("kept")
    refused = write()
    assert refused.returncode == 3 and "--force" in refused.stderr and (drafts / "db.md").read_text() == "kept"
    assert write("--force").returncode == 0 and (drafts / "db.md").read_text() == database


def test_an_operation_is_named_whole_never_as_a_prefix_of_another() -> None:
    listing = Operation("GET", "/orders", "list_orders", (), None, None, (), ())
    assert names_operation("| `GET /orders` | 400 |", listing) and names_operation("see list_orders.", listing)
    for other in ("`GET /orders/{order_id}`", "GET /orders_archive", "list_orders_v2", "POST /orders"):
        assert not names_operation(other, listing), other


def test_a_section_is_found_by_whole_words() -> None:
    document = parse("## Translations\n\ntext\n\n## SLA commitments\n\n| a |\n|---|\n| 1 |\n")
    found = document.find("SLA")
    assert found is not None and found.title == "SLA commitments"
    assert parse("## Translations\n\ntext\n").find("SLA") is None
