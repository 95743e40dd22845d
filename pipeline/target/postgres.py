"""The throwaway PostgreSQL a target runs on: initdb in the target's folder, a loopback port, one database.

Its programs come from PATH, else Debian's versioned folder, else the pgserver package.
Under root it runs as an unprivileged account (PostgreSQL refuses root). The password
is random and registered as a secret; the logs stay in the evidence folder.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pipeline import proc
from pipeline.errors import CheckError
from pipeline.redact import register_secret
from pipeline.target.owned import Target, TargetError, free_port, wait_ready

DEBIAN_POSTGRES_BIN = "/usr/lib/postgresql/*/bin"
PG_USER = "readiness"
PG_DATABASE = "app"
INITDB_TIMEOUT_S = 120.0
START_TIMEOUT_S = 60.0
# Durability is worth nothing in a database thrown away after the run; speed is.
FAST_SETTINGS = ("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off")


def start_postgres(target: Target, logs: Path, fixed: Mapping[str, Any] | None = None) -> str:
    """Start PostgreSQL in the target's folder and create the database; returns its DSN.

    ``fixed`` is ``service.start.postgres``: the port, user, password and database a service's code
    has hard-wired (its docker-compose test database); each one left out is chosen here as usual.
    """
    fixed = fixed or {}
    bin_dir = postgres_bin_dir()
    data, sockets, pwfile = target.workspace / "pgdata", target.workspace / "sockets", target.workspace / "pwfile"
    sockets.mkdir()
    user, name = str(fixed.get("user", PG_USER)), str(fixed.get("database", PG_DATABASE))
    password = register_secret(str(fixed.get("password") or secrets.token_urlsafe(24)))
    pwfile.write_text(password)
    as_user = _run_as(target.workspace, sockets, pwfile)
    _initdb(bin_dir, data, pwfile, logs / "initdb.log", as_user, user)
    port = free_port(fixed.get("port"))
    log_path = logs / "postgres.log"
    process = target.spawn("postgres", [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                                        "-k", str(sockets), *FAST_SETTINGS], log_path, **as_user)
    admin = make_conninfo(host="127.0.0.1", port=port, user=user, password=password, dbname="postgres")
    wait_ready(process, lambda: _connection_refused(admin), what="PostgreSQL", timeout_s=START_TIMEOUT_S,
               log_path=log_path, step_s=0.1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}/{quote(name, safe='')}"


def connection_variables(dsn: str) -> tuple[dict[str, str], dict[str, str]]:
    """libpq's variables (PGHOST...) and the ``{db_host}``-style placeholders, from one DSN.

    Services that read PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE, or their own names mapped
    through ``{db_*}`` in ``service.start.env`` and the commands, need no wrapper. The password
    was registered as a secret when it was made, so every log and report masks it.
    """
    parts = conninfo_to_dict(dsn)
    values = {key: str(parts.get(key) or "") for key in ("host", "port", "user", "password", "dbname")}
    libpq = {"PGHOST": values["host"], "PGPORT": values["port"], "PGUSER": values["user"],
             "PGPASSWORD": values["password"], "PGDATABASE": values["dbname"]}
    placeholders = {"{db_host}": values["host"], "{db_port}": values["port"], "{db_user}": values["user"],
                    "{db_password}": values["password"], "{db_name}": values["dbname"]}
    return libpq, placeholders


def postgres_bin_dir() -> Path:
    """PostgreSQL's programs: on PATH, else Debian's versioned folder, else the pgserver package's."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("postgres"):
        return Path(initdb).parent
    debian = sorted(Path(p) for p in glob.glob(DEBIAN_POSTGRES_BIN))
    if debian:
        return max(debian, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    try:
        from pgserver import _commands
    except ImportError:
        raise TargetError("no PostgreSQL to start: initdb and postgres are not on PATH and the pgserver "
                          "package is not installed; apt install postgresql, or pip install pgserver") from None
    return Path(_commands.POSTGRES_BIN_PATH)


def _run_as(*owned: Path) -> dict[str, Any]:
    """Under root: the unprivileged account PostgreSQL runs as (it is given ``owned``); else nothing."""
    if os.geteuid() != 0:
        return {}
    user = _unprivileged_user()
    for path in owned:
        os.chown(path, user.pw_uid, user.pw_gid)
    return {"user": user.pw_uid, "group": user.pw_gid}


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise TargetError("running as root, and neither a 'postgres' nor a 'nobody' account exists to run "
                      "PostgreSQL as")


def _initdb(bin_dir: Path, data: Path, pwfile: Path, log_path: Path, as_user: dict[str, Any], user: str) -> None:
    """A new cluster in ``data`` with a password-protected superuser; its output goes to ``log_path``."""
    try:
        code, out, err = proc.run_captured([str(bin_dir / "initdb"), "-D", str(data), "-U", user, "-E", "UTF8",
                                            "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-sync"],
                                           INITDB_TIMEOUT_S, **as_user)
    except CheckError as exc:
        raise TargetError(f"initdb in {bin_dir}: {exc.reason}") from None
    log_path.write_text(out + err)
    if code != 0:
        raise TargetError(f"initdb failed (exit {code}):\n{proc.last_lines(out + err)}")


def _connection_refused(url: str) -> str | None:
    """None once PostgreSQL accepts a connection, else why it did not."""
    try:
        with psycopg.connect(url, connect_timeout=2):
            return None
    except psycopg.OperationalError as exc:
        return type(exc).__name__
