"""Monitoring state of one endpoint: ``<state_dir>/monitor.sqlite`` (SQLite, WAL).

``windows``: one row per MonitorFlow run - its time bounds, status (``judged`` or
``insufficient``), signals, verdict, quality and whether it fired a retrain. ``predictions``:
the window's predictions by capture id (eventId, position, inference id, label, confidence and a
note hash; never the text), so labels that arrive later can still be joined. ``labels``:
ground truth imported by ``medtx labels import``, one per id, with its source file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from medtx.clock import utc_now
from medtx.sqlitedb import connect, inserted_id, transaction

DB_FILE = "monitor.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (
    id INTEGER PRIMARY KEY AUTOINCREMENT, since TEXT, until TEXT NOT NULL, created_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('judged', 'insufficient')),
    model_version INTEGER, n_notes INTEGER NOT NULL, verdict TEXT NOT NULL,
    drifted TEXT NOT NULL, signals TEXT NOT NULL, quality TEXT NOT NULL, counts TEXT NOT NULL,
    retrain TEXT, run TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS predictions (
    window_id INTEGER NOT NULL REFERENCES windows (id), event_id TEXT NOT NULL,
    position INTEGER NOT NULL, inference_id TEXT, label TEXT NOT NULL, confidence REAL,
    note_hash TEXT NOT NULL, time TEXT NOT NULL, PRIMARY KEY (event_id, position));
CREATE INDEX IF NOT EXISTS predictions_inference ON predictions (inference_id);
CREATE INDEX IF NOT EXISTS predictions_window ON predictions (window_id);
CREATE TABLE IF NOT EXISTS labels (
    key TEXT NOT NULL, id TEXT NOT NULL, label TEXT NOT NULL, source TEXT NOT NULL,
    imported_at TEXT NOT NULL, PRIMARY KEY (key, id));
"""
PREDICTION_COLUMNS = ["window_id", "event_id", "position", "inference_id", "label", "confidence",
                      "note_hash", "time"]


@dataclass(frozen=True)
class WindowRecord:
    """One row of ``windows`` with its JSON columns decoded."""

    id: int
    since: Optional[str]
    until: str
    created_at: str
    status: str
    model_version: Optional[int]
    n_notes: int
    verdict: str
    drifted: tuple[str, ...]
    signals: dict
    quality: dict
    counts: dict
    retrain: Optional[dict]
    run: str

    def to_dict(self) -> dict:
        return {**self.__dict__, "drifted": list(self.drifted)}


def _record(row: tuple) -> WindowRecord:
    (wid, since, until, created, status, version, n, verdict, drifted, signals, quality,
     counts, retrain, run) = row
    return WindowRecord(int(wid), since, until, created, status,
                        None if version is None else int(version), int(n), verdict,
                        tuple(json.loads(drifted)), json.loads(signals), json.loads(quality),
                        json.loads(counts), json.loads(retrain) if retrain else None, run)


class MonitorStore:
    """The state file of one monitored endpoint (created on first write)."""

    def __init__(self, state_dir: str | Path, timeout_s: float = 30.0):
        self.path = Path(state_dir) / DB_FILE
        self.timeout_s = timeout_s
        with transaction(self.path, timeout_s, SCHEMA):
            pass

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        conn = connect(self.path, self.timeout_s)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    # -- windows --------------------------------------------------------------------------
    def add_window(self, *, since: Optional[str], until: str, status: str,
                   model_version: Optional[int], n_notes: int, verdict: str, drifted: list[str],
                   signals: dict, quality: dict, counts: dict, retrain: Optional[dict] = None,
                   run: str = "", predictions: Optional[pd.DataFrame] = None) -> int:
        """Insert a window (and its predictions, text-free) in one transaction; its id."""
        with transaction(self.path, self.timeout_s) as conn:
            cur = conn.execute(
                "INSERT INTO windows (since, until, created_at, status, model_version, n_notes, "
                "verdict, drifted, signals, quality, counts, retrain, run) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (since, until, utc_now(), status, model_version, int(n_notes), verdict,
                 json.dumps(list(drifted)), json.dumps(signals), json.dumps(quality),
                 json.dumps(counts), json.dumps(retrain) if retrain else None, run))
            wid = inserted_id(cur)
            if predictions is not None and not predictions.empty:
                p = predictions
                conn.executemany(
                    "INSERT OR IGNORE INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(wid, str(e), int(pos), None if inf is None or inf != inf else str(inf),
                      str(lab), float(c), str(h), str(t))
                     for e, pos, inf, lab, c, h, t in zip(
                         p["event_id"], p["position"], p["inference_id"], p["label"],
                         p["confidence"], p["note_hash"],
                         pd.to_datetime(p["time"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))])
        return wid

    def windows(self, last: Optional[int] = None, status: Optional[str] = None) -> list[WindowRecord]:
        """Windows oldest first (the ``last`` n when given), optionally of one status."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        limit = f" LIMIT {int(last)}" if last else ""
        rows = self._read(f"SELECT * FROM windows {where} ORDER BY id DESC{limit}", args)
        return [_record(r) for r in reversed(rows)]

    def last_judged(self) -> Optional[WindowRecord]:
        got = self.windows(last=1, status="judged")
        return got[0] if got else None

    def update_quality(self, window_id: int, quality: dict) -> None:
        with transaction(self.path, self.timeout_s) as conn:
            conn.execute("UPDATE windows SET quality = ? WHERE id = ?",
                         (json.dumps(quality), int(window_id)))

    def predictions(self, window_ids: list[int]) -> pd.DataFrame:
        if not window_ids:
            return pd.DataFrame(columns=PREDICTION_COLUMNS)
        marks = ",".join("?" * len(window_ids))
        rows = self._read(f"SELECT * FROM predictions WHERE window_id IN ({marks})",
                          tuple(int(w) for w in window_ids))
        return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)

    def predictions_for(self, ids: list[str]) -> pd.DataFrame:
        """Stored predictions whose inference id or eventId is one of ``ids``."""
        frames = []
        for start in range(0, len(ids), 400):
            chunk = [str(i) for i in ids[start:start + 400]]
            marks = ",".join("?" * len(chunk))
            rows = self._read(f"SELECT * FROM predictions WHERE inference_id IN ({marks}) OR "
                              f"event_id IN ({marks})", tuple(chunk) * 2)
            frames.append(pd.DataFrame(rows, columns=PREDICTION_COLUMNS))
        if not frames:
            return pd.DataFrame(columns=PREDICTION_COLUMNS)
        return pd.concat(frames, ignore_index=True).drop_duplicates(["event_id", "position"])

    # -- labels ---------------------------------------------------------------------------
    def add_labels(self, labels: pd.DataFrame) -> dict[str, int]:
        """Insert or replace labels (``key``, ``id``, ``label``, ``source``); counts of new,
        replaced (a later file wins) and already-known predictions they match."""
        known = {(k, i) for k, i in self._read("SELECT key, id FROM labels")}
        rows = [(str(k), str(i), str(lab), str(src), utc_now()) for k, i, lab, src in
                zip(labels["key"], labels["id"], labels["label"], labels["source"])]
        with transaction(self.path, self.timeout_s) as conn:
            conn.executemany("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?)", rows)
        replaced = sum(1 for k, i, *_ in rows if (k, i) in known)
        return {"added": len(rows) - replaced, "replaced": replaced,
                "matching_predictions": self._matching(rows)}

    def _matching(self, rows: list[tuple]) -> int:
        """How many distinct ids (``<id>#<position>`` counted as ``<id>``) of ``rows`` name a
        stored prediction, by inference id or eventId."""
        ids = sorted({r[1].split("#")[0] for r in rows})
        found = self.predictions_for(ids)
        hit = set(found["inference_id"].dropna().astype(str)) | set(found["event_id"].astype(str))
        return sum(1 for i in ids if i in hit)

    def unmatched_labels(self) -> pd.DataFrame:
        """Labels whose id (``<id>#<position>`` read as ``<id>``) names no stored prediction."""
        base = "(CASE WHEN instr(l.id, '#') > 0 THEN substr(l.id, 1, instr(l.id, '#') - 1) ELSE l.id END)"
        rows = self._read(f"SELECT id, key, label, source FROM labels l WHERE NOT EXISTS (SELECT 1 "
                          f"FROM predictions p WHERE p.inference_id = {base} OR p.event_id = {base})")
        return pd.DataFrame(rows, columns=["id", "key", "label", "source"])

    def labels(self) -> pd.DataFrame:
        rows = self._read("SELECT id, key, label, source FROM labels")
        return pd.DataFrame(rows, columns=["id", "key", "label", "source"])

    def summary(self) -> dict[str, Any]:
        (n_win,), (n_pred,), (n_lab,) = (self._read(f"SELECT COUNT(*) FROM {t}")[0]
                                         for t in ("windows", "predictions", "labels"))
        return {"path": str(self.path), "windows": n_win, "predictions": n_pred, "labels": n_lab}
