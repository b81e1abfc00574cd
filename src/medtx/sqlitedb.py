"""The one way medtx writes its SQLite files (registry, local endpoints, monitoring state).

WAL journal (readers never block the writer), a busy timeout instead of "database is locked",
and ``BEGIN IMMEDIATE`` write transactions committed on success and rolled back on any error.
"""
from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional


def connect(path: Path, timeout_s: float = 30.0) -> sqlite3.Connection:
    """An autocommit connection with WAL and a busy timeout (the folder is created)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    try:
        _use_wal(conn, Path(path), timeout_s)
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, path: Path, timeout_s: float) -> None:
    """Put the file in WAL mode (it stays so), retrying while other connections hold it.

    Changing the journal mode needs the file to itself, and SQLite answers a contended change
    with "database is locked" at once, without waiting on the busy timeout; a fresh file opened
    by several processes together hits that. So the change is retried until ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.002
    while True:
        try:  # on a file already in WAL this returns at once, whoever holds it
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                return  # an unchanged mode comes back when the switch could not be made
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise sqlite3.OperationalError(
                    f"could not switch {path} to WAL within {timeout_s:g} s: {exc}") from exc
        if time.monotonic() >= deadline:
            return  # still usable in rollback-journal mode: writers serialise on the busy timeout
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid of the row that ``cur``'s INSERT just added."""
    if cur.lastrowid is None:
        raise sqlite3.InterfaceError("the statement inserted no row")
    return cur.lastrowid


@contextlib.contextmanager
def transaction(path: Path, timeout_s: float = 30.0, schema: Optional[str] = None,
                conn: Optional[sqlite3.Connection] = None) -> Iterator[sqlite3.Connection]:
    """A write transaction on ``path`` (``schema`` statements run first, idempotently)."""
    own = conn is None
    conn = conn if conn is not None else connect(path, timeout_s)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema:
                for statement in schema.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        if own:
            conn.close()
