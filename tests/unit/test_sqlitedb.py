"""The shared SQLite connection: WAL even when a fresh file is opened under contention."""
import sqlite3
import threading
import time

import pytest

from medtx.sqlitedb import connect, transaction


def _writer_holding(path):
    """A rollback-journal connection inside a write transaction, as a second process would be."""
    holder = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    return holder


def test_wal_switch_waits_for_a_writer_instead_of_failing_at_once(tmp_path):
    # SQLite refuses a contended journal-mode change at once, without its busy timeout;
    # connect() must wait the writer out and still come back in WAL mode.
    path = tmp_path / "state.db"
    holder = _writer_holding(path)
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    conn = connect(path, timeout_s=10)
    waited = time.monotonic() - started
    release.join()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert waited >= 0.25
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]  # the writer's row survived
    conn.close()
    holder.close()


def test_wal_switch_names_the_file_when_the_writer_never_lets_go(tmp_path):
    path = tmp_path / "state.db"
    holder = _writer_holding(path)
    with pytest.raises(sqlite3.OperationalError, match=r"state\.db.*WAL"):
        connect(path, timeout_s=0.3)
    holder.execute("ROLLBACK")
    holder.close()


def test_transaction_rolls_back_on_error_and_commits_on_success(tmp_path):
    path = tmp_path / "state.db"
    with transaction(path, schema="CREATE TABLE IF NOT EXISTS t (x)") as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), transaction(path) as conn:
        conn.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("boom")
    conn = connect(path)
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    conn.close()
