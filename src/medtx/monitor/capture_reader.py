"""Incremental reading of capture records (SageMaker format) for a monitoring window.

:class:`CaptureReader` lists ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`` (a folder
or an ``s3://`` prefix) and remembers, in a SQLite file under ``state_dir``, how far it has read
each file (its size, etag and the byte offset of the last complete line consumed) and which
eventIds it has seen. A second run reads only new files and the new tail of grown files.
Bad JSON, a missing field or a record whose notes and predictions disagree is *corrupt*
(skipped, counted); an unfinished last line of a file still being written is *truncated*
(counted and left unconsumed, so the next run reads it once complete); an eventId already seen
(in this run or an earlier one) is a *duplicate*. A record before the window start is consumed
and counted *outside*; one at or after its end stops the file there (*later*), so the next
window starts with it. Note text stays in memory: only counts and
file names are logged.
"""
from __future__ import annotations

import base64
import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from medtx.config import AwsSettings
from medtx.errors import IngestError

log = logging.getLogger("medtx.monitor.capture")
STATE_FILE = "capture_state.sqlite"
COLUMNS = ["event_id", "inference_id", "position", "time", "text", "label", "confidence",
           "probabilities", "model_version"]
_TIME_FMT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class CaptureCounts:
    """``read``: records accepted; ``rows``: their notes; ``files``: files with new bytes read."""

    read: int = 0
    rows: int = 0
    corrupt: int = 0
    truncated: int = 0
    duplicates: int = 0
    outside: int = 0  # before the window start: consumed, not judged
    later: int = 0  # files whose next record is after the window end: left for the next run
    files: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Pending:
    """What a read consumed: ``files`` (path, size, etag, offset, lines), ``events``
    (eventId, time). No note text: safe to keep as an artifact until it is committed."""

    files: tuple = ()
    events: tuple = ()


@dataclass(frozen=True)
class CaptureWindow:
    """The notes and predictions read for a window (``rows``, one per note) and the counts."""

    rows: pd.DataFrame = field(repr=False)
    counts: CaptureCounts
    since: Optional[datetime] = None
    until: Optional[datetime] = None
    pending: Pending = field(default_factory=Pending)

    def __len__(self) -> int:
        return len(self.rows)

    def enough(self, min_rows: int) -> bool:
        return len(self.rows) >= int(min_rows)

    def message(self, min_rows: int) -> str:
        """``"not enough traffic: 12 note(s) in the window, minimum 200"`` (or ``""``)."""
        if self.enough(min_rows):
            return ""
        return f"not enough traffic: {len(self.rows)} note(s) in the window, minimum {int(min_rows)}"


def _utc(when: Optional[datetime]) -> Optional[datetime]:
    if when is None:
        return None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _hour_of(rel: str) -> Optional[datetime]:
    """The hour of ``.../yyyy/mm/dd/hh/file.jsonl`` (None when the path has no such layout)."""
    parts = rel.split("/")
    if len(parts) < 5:
        return None
    try:
        y, m, d, h = (int(p) for p in parts[-5:-1])
        return datetime(y, m, d, h, tzinfo=timezone.utc)
    except ValueError:
        return None


def _in_hours(name: str, lo: Optional[datetime], hi: Optional[datetime]) -> bool:
    hour = _hour_of(name)
    if hour is None:
        return True
    if lo is not None and hour + timedelta(hours=1) <= lo:
        return False
    return not (hi is not None and hour >= hi)


def _version(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ValueError("model_version")
    return int(value)


def record_rows(record: Any) -> list[dict]:
    """The rows of one capture record; raises KeyError/TypeError/ValueError when malformed."""
    from medtx.serving.capture import capture_rows

    data = record["captureData"]
    inp, out = dict(data["endpointInput"]), dict(data["endpointOutput"])
    for part in (inp, out):
        if str(part.get("encoding", "")).upper() == "BASE64":
            part["data"], part["encoding"] = base64.b64decode(part["data"]).decode("utf-8"), "JSON"
    meta = record["eventMetadata"]
    if not isinstance(meta["eventId"], str) or not meta["eventId"]:
        raise ValueError("eventId")
    datetime.strptime(meta["inferenceTime"], _TIME_FMT)
    predictions = json.loads(out["data"])["predictions"]
    rows = capture_rows({"captureData": {"endpointInput": inp, "endpointOutput": out},
                         "eventMetadata": meta})
    if not rows or len(rows) != len(predictions):
        raise ValueError("notes and predictions differ in number")
    result = []
    for i, r in enumerate(rows):
        pred = r["prediction"]
        probs = {str(k): float(v) for k, v in dict(pred.get("probabilities") or {}).items()}
        label = str(pred["label"])
        conf = probs.get(label, max(probs.values()) if probs else float("nan"))
        result.append({"event_id": r["event_id"], "inference_id": r["inference_id"],
                       "position": i, "time": r["time"], "text": r["note"], "label": label,
                       "confidence": float(conf), "probabilities": probs,
                       "model_version": _version(pred.get("model_version"))})
    return result


class _State:
    def __init__(self, state_dir: Path):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(state_dir / STATE_FILE))
        self.db.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER,"
                        " etag TEXT, offset INTEGER, lines INTEGER)")
        self.db.execute("CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, time TEXT)")

    def file(self, path: str) -> Optional[tuple[int, str, int, int]]:
        return self.db.execute("SELECT size, etag, offset, lines FROM files WHERE path = ?",
                               (path,)).fetchone()

    def seen(self, event_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone() is not None


class CaptureReader:
    """Reads what is new under ``prefix[/endpoint[/variant]]``; state kept in ``state_dir``."""

    def __init__(self, prefix: str, state_dir: str | Path, endpoint: Optional[str] = None,
                 variant: Optional[str] = None, aws: Optional[AwsSettings] = None, keep_events_days: float = 30.0,
                 account: Optional[str] = None):
        self.root = "/".join([str(prefix).rstrip("/")] + [p for p in (endpoint, variant) if p])
        self.state_dir, self.aws = Path(state_dir), aws
        self.keep_events_days = float(keep_events_days)
        self.account = account  # aws.accounts entry whose session reads s3:// capture

    # -- listing and fetching -------------------------------------------------------------
    def _list(self, lo: Optional[datetime], hi: Optional[datetime]) -> Iterator[tuple[str, int, str]]:
        if self.root.startswith("s3://"):
            from medtx.aws.s3 import split_s3_uri
            from medtx.aws.session import client

            bucket, key = split_s3_uri(self.root + "/")
            self._s3 = client(self.aws, "s3", account=self.account, max_attempts=5)
            kw: dict = {"Bucket": bucket, "Prefix": key}
            if lo is not None:  # keys sort by hour: skip the hours before the window
                kw["StartAfter"] = key + lo.strftime("%Y/%m/%d/%H")
            for page in self._s3.get_paginator("list_objects_v2").paginate(**kw):
                for o in page.get("Contents", []):
                    if o["Key"].endswith(".jsonl") and _in_hours(o["Key"], lo, hi):
                        yield f"s3://{bucket}/{o['Key']}", int(o["Size"]), str(o.get("ETag", ""))
        else:
            root = Path(self.root)
            if not root.is_dir():
                return
            for path in sorted(root.rglob("*.jsonl")):
                if _in_hours(path.relative_to(root).as_posix(), lo, hi):
                    st = path.stat()
                    yield str(path), int(st.st_size), str(st.st_ino)

    def _fetch(self, path: str, offset: int) -> bytes:
        try:
            if path.startswith("s3://"):
                from medtx.aws.s3 import split_s3_uri

                bucket, key = split_s3_uri(path)
                kw = {"Range": f"bytes={offset}-"} if offset else {}
                return self._s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()
            with open(path, "rb") as fh:
                fh.seek(offset)
                return fh.read()
        except IngestError:
            raise
        except Exception as exc:  # noqa: BLE001 - named, with the file, as an IngestError
            raise IngestError(f"capture file {path} cannot be read: {type(exc).__name__}") from exc

    # -- reading --------------------------------------------------------------------------
    def read(self, since: Optional[datetime] = None, until: Optional[datetime] = None,
             commit: bool = True) -> CaptureWindow:
        """The new records with ``since <= inferenceTime < until``; ``commit`` saves the state
        (offsets and eventIds) so the next call starts after them."""
        lo, hi = _utc(since), _utc(until)
        lo_s = lo.strftime(_TIME_FMT) if lo else None
        hi_s = hi.strftime(_TIME_FMT) if hi else None
        state = _State(self.state_dir)
        c = dict(read=0, rows=0, corrupt=0, truncated=0, duplicates=0, outside=0, later=0, files=0)
        rows: list[dict] = []
        new_events: dict[str, str] = {}
        file_updates: list[tuple] = []
        try:
            for path, size, etag in self._list(lo, hi):
                known = state.file(path)
                offset, lines = 0, 0
                if known is not None:
                    _, k_etag, k_off, k_lines = known
                    if k_etag == etag and size >= k_off:
                        offset, lines = k_off, k_lines
                if size <= offset:
                    continue
                data = self._fetch(path, offset)
                c["files"] += 1
                consumed = 0
                for raw in data.splitlines(keepends=True):
                    complete = raw.endswith(b"\n")
                    text = raw.strip()
                    if not text:
                        consumed += len(raw) if complete else 0
                        continue
                    try:
                        rec = json.loads(text.decode("utf-8"))
                        got = record_rows(rec)
                    except Exception:  # noqa: BLE001 - any malformed line is counted, never raised
                        if complete:
                            c["corrupt"] += 1
                            consumed += len(raw)
                            lines += 1
                        else:
                            c["truncated"] += 1  # left for the next run
                        continue
                    event_id, t = got[0]["event_id"], got[0]["time"]
                    if hi_s and t >= hi_s:  # after the window: this and the rest wait for the next
                        c["later"] += 1
                        break
                    consumed += len(raw)
                    lines += 1
                    if event_id in new_events or state.seen(event_id):
                        c["duplicates"] += 1
                        continue
                    if lo_s and t < lo_s:
                        c["outside"] += 1
                        continue
                    new_events[event_id] = t
                    c["read"] += 1
                    rows.extend(got)
                file_updates.append((path, size, etag, offset + consumed, lines))
        except sqlite3.Error as exc:
            raise IngestError(f"capture reader state {self.state_dir / STATE_FILE} cannot be "
                              f"used: {type(exc).__name__}") from exc
        finally:
            state.db.close()
        pending = Pending(files=tuple(file_updates), events=tuple(new_events.items()))
        if commit:
            self.commit(pending)
        c["rows"] = len(rows)
        counts = CaptureCounts(**c)
        log.info("capture %s: %s", self.root, counts.to_dict())
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame["time"] = pd.to_datetime(frame["time"], format=_TIME_FMT, utc=True)
        frame["model_version"] = frame["model_version"].astype("Int64")
        return CaptureWindow(rows=frame, counts=counts, since=lo, until=hi, pending=pending)

    def commit(self, pending: Pending) -> None:
        """Record what a read consumed (``read(commit=False)`` leaves it to the caller, e.g. to
        commit only once the window was judged, so a failed run re-reads the same records)."""
        state = _State(self.state_dir)
        try:
            with state.db:
                state.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                                     list(pending.files))
                state.db.executemany("INSERT OR IGNORE INTO events VALUES (?, ?)",
                                     list(pending.events))
                oldest = datetime.now(timezone.utc) - timedelta(days=self.keep_events_days)
                state.db.execute("DELETE FROM events WHERE time < ?", (oldest.strftime(_TIME_FMT),))
        except sqlite3.Error as exc:
            raise IngestError(f"capture reader state {self.state_dir / STATE_FILE} cannot be "
                              f"updated: {type(exc).__name__}") from exc
        finally:
            state.db.close()


def read_window(prefix: str, state_dir: str | Path, endpoint: Optional[str] = None,
                variant: Optional[str] = None, since: Optional[datetime] = None,
                until: Optional[datetime] = None, aws: Optional[AwsSettings] = None) -> CaptureWindow:
    """One incremental read (see :class:`CaptureReader`)."""
    return CaptureReader(prefix, state_dir, endpoint, variant, aws).read(since, until)
