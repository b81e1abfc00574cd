"""The one way medtx writes its SQLite files (registry, local endpoints, monitoring state).

WAL journal (readers never block the writer), a busy timeout instead of "database is locked",
and ``BEGIN IMMEDIATE`` write transactions committed on success and rolled back on any error.
"""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Iterator, Optional


def connect(path: Path, timeout_s: float = 30.0) -> sqlite3.Connection:
    """An autocommit connection with WAL and a busy timeout (the folder is created)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


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
