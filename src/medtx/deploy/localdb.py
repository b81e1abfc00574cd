"""The local endpoints table: ``<registry.path>/endpoints.db`` (SQLite, WAL).

``backends`` has one row per server process ever started for a stage (its version, pid, private
port, state, package folder); ``routers`` one row per stage whose stable port has a router.
"""
from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from medtx.clock import utc_now
from medtx.sqlitedb import inserted_id, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS backends (
    id INTEGER PRIMARY KEY AUTOINCREMENT, stage TEXT NOT NULL, version INTEGER NOT NULL,
    pid INTEGER, pid_start TEXT, port INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('starting', 'ready', 'serving', 'draining', 'stopped', 'failed')),
    started_at TEXT NOT NULL, served_at TEXT, stopped_at TEXT,
    package TEXT NOT NULL, log TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS backends_stage ON backends (stage, state);
CREATE TABLE IF NOT EXISTS routers (
    stage TEXT PRIMARY KEY, pid INTEGER NOT NULL, pid_start TEXT, port INTEGER NOT NULL UNIQUE,
    control_port INTEGER NOT NULL, started_at TEXT NOT NULL, log TEXT NOT NULL);
"""


@dataclass(frozen=True)
class BackendRow:
    id: int
    stage: str
    version: int
    pid: Optional[int]
    pid_start: Optional[str]
    port: int
    state: str
    started_at: str
    served_at: Optional[str]
    stopped_at: Optional[str]
    package: str
    log: str
    reason: str


@dataclass(frozen=True)
class RouterRow:
    stage: str
    pid: int
    pid_start: Optional[str]
    port: int
    control_port: int
    started_at: str
    log: str


_B = ("id, stage, version, pid, pid_start, port, state, started_at, served_at, stopped_at, "
      "package, log, reason")


class EndpointDB:
    """Rows of ``endpoints.db``; every write is its own short transaction."""

    def __init__(self, path: Path, timeout_s: float = 30.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._tx() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path, self.timeout_s)

    def add_backend(self, stage: str, version: int, port: int, package: str, log: str) -> int:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO backends (stage, version, port, state, started_at, package, log) "
                "VALUES (?, ?, ?, 'starting', ?, ?, ?)", (stage, version, port, utc_now(), package, log))
            return inserted_id(cur)

    def update_backend(self, row_id: int, **fields: object) -> None:
        if fields.get("state") == "serving":
            fields.setdefault("served_at", utc_now())
        if fields.get("state") in ("stopped", "failed"):
            fields.setdefault("stopped_at", utc_now())
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as conn:
            conn.execute(f"UPDATE backends SET {cols} WHERE id = ?", (*fields.values(), row_id))

    def swap(self, stage: str, new_id: int) -> list[int]:
        """One transaction: ``new_id`` serves ``stage``; the ids that served before now drain."""
        with self._tx() as conn:
            old = [r[0] for r in conn.execute(
                "SELECT id FROM backends WHERE stage = ? AND state = 'serving' AND id != ?",
                (stage, new_id))]
            conn.execute("UPDATE backends SET state = 'draining' WHERE stage = ? AND "
                         "state = 'serving' AND id != ?", (stage, new_id))
            conn.execute("UPDATE backends SET state = 'serving', served_at = ? WHERE id = ?",
                         (utc_now(), new_id))
            return old

    def backends(self, stage: Optional[str] = None, states: tuple[str, ...] = ()) -> list[BackendRow]:
        sql, args = f"SELECT {_B} FROM backends WHERE 1 = 1", []
        if stage is not None:
            sql, args = sql + " AND stage = ?", [stage]
        if states:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args += list(states)
        with self._tx() as conn:
            return [BackendRow(*r) for r in conn.execute(sql + " ORDER BY id", args)]

    def backend(self, row_id: int) -> BackendRow:
        with self._tx() as conn:
            return BackendRow(*conn.execute(f"SELECT {_B} FROM backends WHERE id = ?",
                                            (row_id,)).fetchone())

    def router(self, stage: str) -> Optional[RouterRow]:
        with self._tx() as conn:
            row = conn.execute("SELECT stage, pid, pid_start, port, control_port, started_at, log "
                               "FROM routers WHERE stage = ?", (stage,)).fetchone()
        return RouterRow(*row) if row else None

    def set_router(self, stage: str, info: dict, log: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM routers WHERE stage = ? OR port = ?", (stage, info["port"]))
            conn.execute("INSERT INTO routers VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (stage, info["pid"], info.get("pid_start"), info["port"],
                          info["control_port"], utc_now(), log))

    def drop_router(self, stage: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM routers WHERE stage = ?", (stage,))

    def stages(self) -> list[str]:
        with self._tx() as conn:
            rows = conn.execute("SELECT stage FROM backends UNION SELECT stage FROM routers")
            return sorted(r[0] for r in rows)
