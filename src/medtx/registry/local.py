"""Local registry: a SQLite database plus a content-addressed artifact directory.

Layout under ``root`` (``registry.path`` in config)::

    registry.db                          groups, versions, audit (WAL mode)
    artifacts/sha256/<digest>/           package files, read-only; identical packages dedupe
    evaluations/sha256/<digest>.json     evaluation JSON of a registration

Version numbers are assigned inside ``BEGIN IMMEDIATE`` transactions, so concurrent
registrations from threads or processes get distinct, gap-free versions 1, 2, 3, ...
"""
from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

from medtx.clock import utc_now
from medtx.errors import RegistryError
from medtx.evaluation.document import Evaluation
from medtx.modeling.package import verify_package
from medtx.registry.base import (
    AuditEvent,
    ModelVersion,
    Registry,
    check_status,
    evaluation_document,
    file_listing,
    listing_digest,
    metric_summary,
    missing_version,
    replace_dir,
    transition_allowed,
    verify_listing,
)
from medtx.sqlitedb import connect, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    group_name TEXT NOT NULL REFERENCES groups(name), version INTEGER NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, artifact TEXT NOT NULL,
    evaluation TEXT NOT NULL, package_sha256 TEXT NOT NULL, files_json TEXT NOT NULL,
    metrics_json TEXT NOT NULL, lineage_json TEXT NOT NULL, reasons_json TEXT NOT NULL,
    PRIMARY KEY (group_name, version));
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, group_name TEXT NOT NULL, version INTEGER NOT NULL,
    at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, from_status TEXT,
    to_status TEXT NOT NULL, reason TEXT NOT NULL,
    FOREIGN KEY (group_name, version) REFERENCES versions(group_name, version));
"""
_COLUMNS = ("version, status, created_at, artifact, evaluation, package_sha256, files_json, "
            "metrics_json, lineage_json, reasons_json")


class LocalRegistry(Registry):
    """One model group in a SQLite registry at ``root``."""

    def __init__(self, root: Path, group: str, timeout_s: float = 60.0):
        self.root = Path(root).absolute()
        self.group = group
        self.timeout_s = timeout_s
        self._ready = False

    @property
    def db_path(self) -> Path:
        return self.root / "registry.db"

    def _connect(self) -> sqlite3.Connection:
        """A connection in autocommit mode with WAL, a busy timeout and the schema in place."""
        conn = connect(self.db_path, self.timeout_s)
        if not self._ready:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("COMMIT")
            self._ready = True
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, else rolled back."""
        conn = self._connect()
        try:
            with transaction(self.db_path, conn=conn) as tx:
                yield tx
        finally:
            conn.close()

    def _query(self, sql: str, args: tuple) -> list[tuple]:
        """Rows of one read-only statement; none when the database does not exist yet."""
        if not self.db_path.exists():
            return []
        conn = self._connect()
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def register(
        self, package_dir: Path, evaluation: Evaluation, status: str, reasons: list[str],
        lineage: dict, actor: str,
    ) -> ModelVersion:
        check_status(status)
        metrics = metric_summary(evaluation)
        verify_package(package_dir)
        listing = file_listing(Path(package_dir))
        digest = listing_digest(listing)
        artifact = self._store_artifact(Path(package_dir), listing, digest)
        evaluation_rel = self._store_evaluation(evaluation)
        now = utc_now()
        reason = "; ".join(reasons) if reasons else "registered"
        with self._tx() as conn:
            conn.execute("INSERT OR IGNORE INTO groups VALUES (?, ?)", (self.group, now))
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM versions WHERE group_name = ?", (self.group,)
            ).fetchone()
            version = last + 1
            conn.execute(
                f"INSERT INTO versions (group_name, {_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (self.group, version, status, now, artifact, evaluation_rel, digest,
                 json.dumps(listing), json.dumps(metrics),
                 json.dumps(lineage, default=str), json.dumps(list(reasons))),
            )
            self._audit(conn, AuditEvent(version, now, actor, "register", None, status, reason))
        return self.get(version)

    def _store_artifact(self, package_dir: Path, listing: dict[str, str], digest: str) -> str:
        """Copy the package to ``artifacts/sha256/<digest>`` once; return its relative path."""
        rel = f"artifacts/sha256/{digest}"
        final = self.root / rel
        if final.exists():
            verify_listing(final, listing)
            return rel
        tmp = self.root / "artifacts" / f".tmp-{uuid.uuid4().hex}"
        shutil.copytree(package_dir, tmp, symlinks=True)
        verify_listing(tmp, listing)
        for path in tmp.rglob("*"):
            if path.is_file():
                path.chmod(0o444)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, final)
        except OSError:
            shutil.rmtree(tmp)
            if not final.exists():
                raise
        return rel

    def _store_evaluation(self, evaluation: Evaluation) -> str:
        """Write the evaluation JSON content-addressed; return its relative path."""
        try:
            data = evaluation_document(evaluation)
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"evaluation is not plain JSON: {exc}") from None
        rel = f"evaluations/sha256/{hashlib.sha256(data).hexdigest()}.json"
        path = self.root / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return rel

    def _audit(self, conn: sqlite3.Connection, e: AuditEvent) -> None:
        conn.execute(
            "INSERT INTO audit (group_name, version, at, actor, action, from_status, to_status, "
            "reason) VALUES (?,?,?,?,?,?,?,?)",
            (self.group, e.version, e.at, e.actor, e.action, e.from_status, e.to_status, e.reason),
        )

    def _rows(self, where: str, args: tuple) -> list[tuple]:
        return self._query(
            f"SELECT {_COLUMNS} FROM versions WHERE group_name = ? {where} ORDER BY version",
            (self.group, *args),
        )

    def _to_version(self, row: tuple) -> ModelVersion:
        version, status, created, artifact, evaluation, digest, _, metrics, lineage, reasons = row
        return ModelVersion(
            group=self.group, version=version, status=status, created_at=created,
            artifact_uri=str(self.root / artifact), evaluation_uri=str(self.root / evaluation),
            metrics=json.loads(metrics), lineage=json.loads(lineage),
            reasons=json.loads(reasons), package_sha256=digest, arn=None,
        )

    def _row(self, version: int) -> tuple:
        rows = self._rows("AND version = ?", (int(version),))
        if not rows:
            raise missing_version(version, self.group)
        return rows[0]

    def get(self, version: int) -> ModelVersion:
        return self._to_version(self._row(version))

    def list(self, status: Optional[str] = None) -> list[ModelVersion]:
        if status is None:
            return [self._to_version(r) for r in self._rows("", ())]
        check_status(status)
        return [self._to_version(r) for r in self._rows("AND status = ?", (status,))]

    def set_status(
        self, version: int, status: str, reason: str, actor: str, force: bool = False
    ) -> ModelVersion:
        check_status(status)
        with self._tx() as conn:
            found = conn.execute(
                "SELECT status FROM versions WHERE group_name = ? AND version = ?",
                (self.group, int(version)),
            ).fetchone()
            if found is None:
                raise missing_version(version, self.group)
            action = transition_allowed(found[0], status, force, reason)
            conn.execute(
                "UPDATE versions SET status = ? WHERE group_name = ? AND version = ?",
                (status, self.group, int(version)),
            )
            self._audit(conn, AuditEvent(int(version), utc_now(), actor, action, found[0],
                                         status, reason.strip()))
        return self.get(version)

    def history(self, version: int) -> builtins.list[AuditEvent]:
        self._row(version)
        rows = self._query(
            "SELECT version, at, actor, action, from_status, to_status, reason FROM audit "
            "WHERE group_name = ? AND version = ? ORDER BY id", (self.group, int(version)),
        )
        return [AuditEvent(*row) for row in rows]

    def fetch(self, version: int, dest: Path) -> Path:
        row = self._row(version)
        listing = json.loads(row[6])
        dest = Path(dest)
        if dest.exists() and any(dest.iterdir()):
            verify_listing(dest, listing)
            return dest
        source = self.root / row[3]
        verify_listing(source, listing)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".tmp-{dest.name}-{uuid.uuid4().hex}")
        shutil.copytree(source, tmp)
        for path in tmp.rglob("*"):
            if path.is_file():
                path.chmod(0o644)
        verify_listing(tmp, listing)
        replace_dir(tmp, dest)
        return dest
