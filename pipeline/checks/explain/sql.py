"""The explain check's SQL guard: PostgreSQL's own lexer and parser decide what may run.

EXPLAIN ANALYZE really executes the statement, against the user's database. The guard
refuses, before anything is sent, what could change that database or escape the
transaction the check rolls back: anything but one SELECT (or, with ``writes: true``,
one INSERT / UPDATE / DELETE / MERGE), locking clauses, SELECT INTO, data-modifying CTEs,
and calls to built-in functions with side effects. It reads the SQL with pglast (the
parser of PostgreSQL itself, with ``standard_conforming_strings`` on, which the check also
forces on the server), finds the ``:name`` / ``%(name)s`` placeholders among the lexer's
tokens, and hands back the exact text the server will parse, placeholders as ``$1..$n``.
It is one layer of several: the server also runs each statement through the extended
protocol (one statement only), in a READ ONLY transaction that is always rolled back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast, parser

EXPLAIN_PREFIX = "EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) "
READING = (ast.SelectStmt,)
WRITING = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Built-in functions that change something outside the rolled-back transaction (signals,
# sequences, settings, locks, files, large objects, other servers, notifications, WAL) or
# run SQL text the guard cannot see. Matched on the function's own name, any schema.
SIDE_EFFECT_FUNCTIONS = frozenset({
    "pg_terminate_backend", "pg_cancel_backend", "pg_signal_backend", "setval", "nextval", "set_config",
    "pg_notify", "pg_reload_conf", "pg_rotate_logfile", "pg_switch_wal", "pg_create_restore_point",
    "pg_start_backup", "pg_stop_backup", "pg_backup_start", "pg_backup_stop", "pg_promote",
    "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_log_backend_memory_contexts",
    "pg_import_system_collations", "pg_logical_emit_message", "pg_replication_slot_advance",
    "pg_drop_replication_slot", "pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
    "pg_copy_physical_replication_slot", "pg_copy_logical_replication_slot", "loread", "lowrite",
    "cursor_to_xml", "cursor_to_xmlschema", "ts_stat", "ts_rewrite", "brin_summarize_new_values",
    "brin_summarize_range", "brin_desummarize_range", "gin_clean_pending_list", "pg_file_write",
    "pg_file_rename", "pg_file_unlink", "pg_file_sync", "pg_current_xact_id", "txid_current",
    "pg_stat_statements_reset", "setseed",
})
SIDE_EFFECT_PREFIXES = ("pg_advisory_", "pg_try_advisory_", "lo_", "dblink", "query_to_xml", "pg_stat_reset",
                        "pg_replication_origin_", "pg_logical_slot_", "pg_background", "postgres_fdw_disconnect")
_KIND_WHY = {
    "TransactionStmt": "transaction control would end the rolled-back transaction",
    "CopyStmt": "COPY reads or writes files and tables",
    "VariableSetStmt": "SET/RESET would change settings, the role or the session authorization",
    "DoStmt": "a DO block runs code the guard cannot see",
    "CallStmt": "CALL runs a procedure, which may commit",
    "ExplainStmt": "the check adds EXPLAIN itself; a nested EXPLAIN is refused",
}


class UnsafeStatement(Exception):
    """The SQL is refused before it reaches the server; the message says why."""


@dataclass(frozen=True)
class Statement:
    """One guarded statement: the text the server parses and the parameter behind each ``$n``."""

    text: str
    names: tuple[str, ...]
    kind: str

    @property
    def explain_text(self) -> str:
        """What is sent: the statement under the check's own EXPLAIN."""
        return EXPLAIN_PREFIX + self.text


@dataclass(frozen=True)
class _Placeholder:
    start: int
    end: int  # exclusive
    name: str
    style: str  # ":" or "%"


def guard(sql: str, *, writes: bool) -> Statement:
    """The statement the server may run, or UnsafeStatement saying why not.

    Placeholders: ``:name`` or ``%(name)s`` (not both). With ``%(name)s`` the file follows
    psycopg's rule (``%%`` is one literal ``%``); otherwise every ``%`` is literal.
    """
    if "\x00" in sql:
        raise UnsafeStatement("the SQL holds a NUL character, which PostgreSQL would cut the text at")
    tokens = _scan(sql)
    if any(token.name == "PARAM" for token in tokens):
        raise UnsafeStatement("it uses $n parameters; write :name or %(name)s placeholders instead")
    holders = _placeholders(sql, tokens)
    if len({h.style for h in holders}) > 1:
        raise UnsafeStatement("it mixes :name and %(name)s placeholders; use one style")
    text, names = _server_text(sql, holders)
    stmt, body = _only_statement(text)
    kind = _first_word(body)
    _refuse(stmt, kind, writes)
    # Judge again what the server will parse: the statement under the check's EXPLAIN.
    wrapped = _parse(EXPLAIN_PREFIX + body)
    if len(wrapped) != 1 or not isinstance(wrapped[0].stmt, ast.ExplainStmt):
        raise UnsafeStatement("it does not read as one statement once EXPLAIN is put in front of it")
    _refuse(wrapped[0].stmt.query, kind, writes)
    return Statement(body, names, kind)


def _scan(sql: str) -> list[Any]:
    try:
        sql.encode("utf-8")
        return list(parser.scan(sql))
    except UnicodeEncodeError:
        raise UnsafeStatement("the SQL is not valid text (it holds unpaired surrogates)") from None
    except (parser.ParseError, RecursionError, MemoryError) as exc:
        raise UnsafeStatement(f"PostgreSQL's lexer cannot read it: {_short(exc)}") from None


def _parse(text: str) -> tuple[Any, ...]:
    try:
        return tuple(parser.parse_sql(text))
    except (parser.ParseError, RecursionError, MemoryError) as exc:
        raise UnsafeStatement(f"PostgreSQL's parser cannot read it: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    message = str(exc) or type(exc).__name__
    return message if len(message) <= 200 else message[:200] + "…"


def _placeholders(sql: str, tokens: list[Any]) -> list[_Placeholder]:
    """``:name`` and ``%(name)s`` where the lexer sees SQL (never inside strings, identifiers, comments)."""
    found = []
    for i, token in enumerate(tokens):
        if token.name == "ASCII_58":  # ':' (a '::' cast is its own TYPECAST token)
            holder = _colon(sql, tokens, i)
        elif sql[token.end] == "%" and token.name in ("ASCII_37", "Op"):
            holder = _percent(sql, tokens, i)
        else:
            holder = None
        if holder is not None:
            found.append(holder)
    return found


def _adjacent(tokens: list[Any], i: int, count: int) -> list[Any] | None:
    following = tokens[i + 1:i + 1 + count]
    if len(following) < count:
        return None
    ends = [tokens[i].end, *(t.end for t in following[:-1])]
    return following if all(t.start == end + 1 for t, end in zip(following, ends, strict=True)) else None


def _colon(sql: str, tokens: list[Any], i: int) -> _Placeholder | None:
    start = tokens[i].start
    if start > 0 and (sql[start - 1].isalnum() or sql[start - 1] in "_:$"):
        return None  # an array slice a[lo:hi]
    after = _adjacent(tokens, i, 1)
    if after is None or not _NAME.match(sql[after[0].start:after[0].end + 1]):
        return None
    return _Placeholder(start, after[0].end + 1, sql[after[0].start:after[0].end + 1], ":")


def _percent(sql: str, tokens: list[Any], i: int) -> _Placeholder | None:
    # The lexer glues a '%' to the operator characters before it (a=%(x)s lexes '=%'); psycopg
    # pairs '%%' from the left, so only an odd run of '%' at the operator's end opens a placeholder.
    operator = sql[tokens[i].start:tokens[i].end + 1]
    run = len(operator) - len(operator.rstrip("%"))
    after = _adjacent(tokens, i, 4)
    if run % 2 == 0 or after is None:
        return None
    opening, name, closing, suffix = (sql[t.start:t.end + 1] for t in after)
    if opening != "(" or closing != ")" or suffix != "s" or not _NAME.match(name):
        return None
    return _Placeholder(tokens[i].end, after[3].end + 1, name, "%")


def _server_text(sql: str, holders: list[_Placeholder]) -> tuple[str, tuple[str, ...]]:
    """The text with ``$n`` for each placeholder (one number per name) and the name of each ``$n``."""
    names: list[str] = []
    parts: list[str] = []
    percent_style = any(h.style == "%" for h in holders)
    last = 0
    for holder in holders:
        parts.append(_literal(sql[last:holder.start], percent_style))
        if holder.name not in names:
            names.append(holder.name)
        parts.append(f"${names.index(holder.name) + 1}")
        last = holder.end
    parts.append(_literal(sql[last:], percent_style))
    return "".join(parts), tuple(names)


def _literal(segment: str, percent_style: bool) -> str:
    if not percent_style:
        return segment
    pieces = segment.split("%%")
    if any("%" in piece for piece in pieces):
        raise UnsafeStatement("a '%' that is not a %(name)s placeholder; with %(name)s placeholders write "
                              "'%%' for a literal '%' (psycopg's rule)")
    return "%".join(pieces)


def _only_statement(text: str) -> tuple[Any, str]:
    """The one statement in ``text`` and its text (leading comments and the final ';' dropped)."""
    statements = _parse(text)
    if not statements:
        raise UnsafeStatement("the file holds no SQL statement")
    if len(statements) > 1:
        raise UnsafeStatement(f"more than one statement ({len(statements)}); one query per file")
    raw = statements[0]
    start = raw.stmt_location or 0
    return raw.stmt, (text[start:start + raw.stmt_len] if raw.stmt_len else text[start:]).strip()


def _refuse(stmt: Any, kind: str, writes: bool) -> None:
    """UnsafeStatement unless ``stmt`` is of an allowed kind and holds nothing refused."""
    if isinstance(stmt, WRITING) and not writes:
        raise UnsafeStatement(f"{_a(kind)} statement changes data; mark the query `writes: true` to explain it "
                              "(it is still rolled back)")
    if not isinstance(stmt, READING + WRITING):
        why = _KIND_WHY.get(type(stmt).__name__, "DDL and utility statements are never run")
        raise UnsafeStatement(f"{_a(kind)} statement ({type(stmt).__name__}): {why}; only SELECT, and "
                              "INSERT/UPDATE/DELETE/MERGE with `writes: true`, can be explained")
    for node in nodes(stmt):
        _refuse_node(node, writes, stmt)


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'AEIOU' else 'a'} {word}"


def _first_word(body: str) -> str:
    match = re.search(r"[A-Za-z]+", body)
    return match.group(0).upper() if match else "?"


def nodes(root: Any) -> Iterator[Any]:
    """Every AST node under ``root`` (iterative: expressions can nest very deep)."""
    stack = [root]
    while stack:
        value = stack.pop()
        if isinstance(value, ast.Node):
            yield value
            stack.extend(getattr(value, attr) for attr in value)
        elif isinstance(value, tuple | list):
            stack.extend(value)


def _refuse_node(node: Any, writes: bool, top: Any) -> None:
    if isinstance(node, ast.SelectStmt) and node.intoClause is not None:
        raise UnsafeStatement("SELECT ... INTO creates a table; select the rows without INTO")
    if isinstance(node, ast.FuncCall):
        name = _function_name(node)
        if not writes and (name in SIDE_EFFECT_FUNCTIONS or name.startswith(SIDE_EFFECT_PREFIXES)):
            raise UnsafeStatement(f"it calls {name}(), a function with side effects (or one that runs SQL "
                                  "text); only a query marked `writes: true` may call it")
    if writes:
        return
    if isinstance(node, ast.SelectStmt) and node.lockingClause:
        raise UnsafeStatement("FOR UPDATE/SHARE locks rows; mark the query `writes: true` to explain it")
    if isinstance(node, WRITING) and node is not top:
        raise UnsafeStatement("a data-modifying WITH clause changes data; mark the query `writes: true`")


def _function_name(node: Any) -> str:
    """The function's own name, lower case (schema dropped: pg_catalog.setval is setval)."""
    parts = node.funcname or ()
    last = parts[-1] if parts else None
    return str(getattr(last, "sval", "") or "").lower()
