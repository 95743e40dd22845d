"""The explain check's database side: one connection, every plan in a transaction that is rolled back.

Layers of defence on the server, under the SQL guard (explain_sql):
- the statement goes through the extended protocol (a prepared statement), which the
  server refuses for more than one statement, so no embedded COMMIT can end the
  transaction;
- READ ONLY unless the query is marked ``writes: true``, and always rolled back;
- optionally ``SET LOCAL ROLE`` to a role with read-only grants, for what no guard can
  see (a user-defined function that writes);
- ``standard_conforming_strings`` forced on, so the server lexes strings as the guard did;
- a statement timeout that fits the check's budget, and a cancel request when the gate
  abandons or interrupts the check, so nothing keeps running after the gate exits.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pipeline import proc
from pipeline.checks.explain.sql import Statement
from pipeline.errors import CheckError
from pipeline.redact import redact

CONNECT_TIMEOUT_S = 10
# Share of the check's budget the statements may use; the rest is for connecting and reporting.
BUDGET_SHARE = 0.8
STOP_WAIT_S = 2.0


class ExplainStopped(CheckError):
    """The gate stopped the check (budget exceeded or Ctrl-C); the running query was cancelled."""


@dataclass(frozen=True)
class Timeout:
    """The statement timeout every run gets, and why it may be lower than configured."""

    ms: int
    configured_ms: int
    executions: int
    budget_s: float

    @property
    def capped(self) -> bool:
        """True when the check's budget, not the config, set the timeout."""
        return self.ms < self.configured_ms

    def describe(self) -> str:
        """The timeout in words, for reasons."""
        if not self.capped:
            return f"{self.ms} ms"
        return (f"{self.ms} ms: statement_timeout_ms {self.configured_ms} was capped so that all "
                f"{self.executions} runs fit in the check's {self.budget_s:g} s budget")


def statement_timeout(configured_ms: int, executions: int, budget_s: float) -> Timeout:
    """The configured timeout, lowered so that ``executions`` runs fit in a share of ``budget_s``."""
    share_ms = budget_s * 1000 * BUDGET_SHARE / max(executions, 1)
    capped = max(1, math.floor(share_ms)) if math.isfinite(share_ms) else configured_ms
    return Timeout(min(configured_ms, capped), configured_ms, executions, budget_s)


def explain_in_rolled_back_transaction(conn: psycopg.Connection[Any], text: str, params: Sequence[Any], *,
                                       writes: bool, timeout_ms: int, role: str | None) -> Any:
    """Run ``text`` (an EXPLAIN) with ``params`` for ``$1..$n``; always rolled back; the first column.

    ``prepare=True`` makes psycopg send it as a prepared statement (extended protocol) even
    without parameters: the server then refuses a text holding more than one statement.
    The raw cursor sends ``text`` byte for byte (no client-side ``%`` processing).
    """
    conn.read_only = not writes
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true), "
                        "set_config('standard_conforming_strings', 'on', true)", (str(timeout_ms),))
            if role:
                cur.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
        with psycopg.RawCursor(conn) as raw:
            raw.execute(text, list(params), prepare=True)
            row = raw.fetchone()
    finally:
        conn.rollback()
    return row[0] if row else None


class ExplainSession:
    """One connection for the whole check; ``stop`` cancels what runs and refuses what would follow."""

    def __init__(self, conn: psycopg.Connection[Any], role: str | None, timeout: Timeout) -> None:
        self._conn = conn
        self.role = role
        self.timeout = timeout
        self.server_version = "unknown"
        self.current_user = "unknown"
        self._lock = threading.Lock()
        self._stopped = False
        self._idle = threading.Event()
        self._idle.set()

    def identify(self) -> None:
        """Server version and the role the plans run as (current_user, as the server reports it)."""
        with self._running():
            try:
                row = self._conn.execute("SELECT current_setting('server_version')").fetchone()
                self.server_version = str(row[0]) if row else "unknown"
                self._switch_role()
                user = self._conn.execute("SELECT current_user").fetchone()
                self.current_user = str(user[0]) if user else "unknown"
            except psycopg.Error as exc:
                raise CheckError(f"the database refused the check's first query: {redact(str(exc)).strip()}",
                                 "Check that the login user may connect and run SELECT.") from None
            finally:
                with contextlib.suppress(psycopg.Error):
                    self._conn.rollback()

    def _switch_role(self) -> None:
        if not self.role:
            return
        try:
            self._conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(self.role)))
        except psycopg.Error as exc:
            raise CheckError(f"cannot switch to the role {self.role!r}: {redact(str(exc)).strip()}",
                             "Create the role and GRANT it to the login user (see the README's explain "
                             "section), or remove checks.explain.role.") from None

    def explain(self, statement: Statement, params: Mapping[str, Any], writes: bool) -> Any:
        """EXPLAIN output of ``statement``; psycopg errors go up, except a cancel by ``stop``."""
        with self._running():
            try:
                return explain_in_rolled_back_transaction(
                    self._conn, statement.explain_text, [params[name] for name in statement.names],
                    writes=writes, timeout_ms=self.timeout.ms, role=self.role)
            except psycopg.errors.QueryCanceled:
                if self._stopped:
                    raise self._stopped_error() from None
                raise

    def stop(self) -> None:
        """Cancel the running query (again, until it is over or STOP_WAIT_S passed); run nothing more."""
        with self._lock:
            self._stopped = True
        for _ in range(int(STOP_WAIT_S / 0.25)):
            if self._idle.is_set():
                return
            # A cancel that arrives between two statements is lost: send it again until idle.
            with contextlib.suppress(psycopg.Error):
                self._conn.cancel_safe(timeout=1.0)
            self._idle.wait(0.25)

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        with self._lock:
            if self._stopped:
                raise self._stopped_error()
            self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    @staticmethod
    def _stopped_error() -> ExplainStopped:
        return ExplainStopped("the gate stopped the check (time budget or Ctrl-C); the running query was "
                              "cancelled on the server and no further query was run",
                              "Raise checks.explain.timeout_s, or look for the query that runs too long.")


@contextlib.contextmanager
def open_session(dsn: str, role: str | None, timeout: Timeout) -> Iterator[ExplainSession]:
    """A session on ``dsn``, registered so that the runner can stop it; always closed."""
    connect_timeout = max(2, min(CONNECT_TIMEOUT_S, math.ceil(timeout.budget_s / 4)))
    try:
        conn = psycopg.connect(dsn, connect_timeout=connect_timeout, application_name="readiness-gate explain",
                               client_encoding="utf8")
    except psycopg.Error as exc:
        raise CheckError(f"cannot connect to the database: {redact(str(exc)).strip()}",
                         "Check READINESS_DATABASE_URL (host, port, database, user) and that the server runs."
                         ) from None
    session = ExplainSession(conn, role, timeout)
    try:
        with proc.stoppable(session.stop, session.stop):
            session.identify()
            yield session
    finally:
        # Never leave anything to commit (psycopg would commit on a clean `with` exit); a broken
        # connection must not hide the error that broke it.
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        conn.close()
