"""Labelled captured notes as training data, with their provenance.

When ``monitor.labels_to_training`` is on, ``medtx labels import`` looks up the captured notes
its labels name (only the capture hours those notes were predicted in are read) and writes them
to ``<state_dir>/labelled/labels-<time>.csv`` in the training CSV layout, with the capture id,
the label file and the imported-at time beside each note. TrainFlow's ingest appends every such
file to its data (:func:`labelled_notes`), so they pass the same data checks as the rest; the
files hold clinical text and are written readable by their owner only.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from medtx.config import Settings
from medtx.monitor.target import Target

log = logging.getLogger("medtx.monitor.training")
LABELLED_DIR = "labelled"
SOURCE_COLUMN, LABEL_SOURCE_COLUMN = "medtx_source", "medtx_label_source"


def _captured(settings: Settings, target: Target, hours: set[str]) -> pd.DataFrame:
    """Rows (with text) of the capture files of the given ``YYYY-mm-ddTHH`` hours."""
    from medtx.monitor.capture_reader import CaptureReader

    frames = []
    with tempfile.TemporaryDirectory(prefix="medtx-lookup-") as tmp:
        for hour in sorted(hours):
            lo = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)
            reader = CaptureReader(target.capture_prefix, Path(tmp) / hour, target.endpoint,
                                   target.variant, aws=settings.aws, account=settings.monitor.account)
            frames.append(reader.read(lo, lo + timedelta(hours=1), commit=False).rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def export_labelled(settings: Settings, target: Target, labels: pd.DataFrame, label_file: str) -> int:
    """Write the captured notes that ``labels`` name as a training CSV; the number written."""
    from medtx.monitor.state import local_state

    with local_state(target.state_dir, settings.aws, write=True) as root:
        return _export(settings, target, labels, label_file, root)


def _export(settings: Settings, target: Target, labels: pd.DataFrame, label_file: str, root: Path) -> int:
    from medtx.monitor.labels import join_labels
    from medtx.monitor.store import MonitorStore

    ids = sorted({str(i).split("#")[0] for i in labels["id"]})
    known = MonitorStore(root).predictions_for(ids)
    if known.empty:
        return 0
    rows = _captured(settings, target, {str(t)[:13] for t in known["time"]})
    if rows.empty:
        return 0
    joined, _ = join_labels(rows, labels)
    if joined.empty:
        return 0
    data = settings.data
    out = pd.DataFrame({
        data.text_field: joined["text"], data.label_field: joined["true_label"],
        SOURCE_COLUMN: [f"capture:{target.endpoint}:{e}#{int(p)}"
                        for e, p in zip(joined["event_id"], joined["position"])],
        LABEL_SOURCE_COLUMN: [f"{Path(label_file).name}:{s}" for s in joined["label_source"]]})
    folder = root / LABELLED_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"labels-{stamp}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        out.to_csv(fh, index=False)
    log.info("%d labelled captured notes written to %s", len(out), path)
    return len(out)


def labelled_notes(settings: Settings) -> tuple[pd.DataFrame, list[dict]]:
    """Every labelled-notes file of the monitored endpoint, newest label per capture id wins;
    with one ``{"path", "rows", "sha256"}`` per file (empty when there are none)."""
    from medtx.data.ingest import parse_csv_bytes
    from medtx.monitor.state import local_state
    from medtx.monitor.target import target_of

    state_dir = target_of(settings).state_dir
    frames, files = [], []
    with local_state(state_dir, settings.aws, pull=[f"{LABELLED_DIR}/"]) as root:
        folder = root / LABELLED_DIR
        for path in sorted(folder.glob("labels-*.csv")) if folder.is_dir() else []:
            data = path.read_bytes()
            where = f"{state_dir}/{LABELLED_DIR}/{path.name}"
            frame = parse_csv_bytes(data, where).drop(columns=["row_id"])
            frames.append(frame)
            files.append({"path": where, "rows": len(frame), "sha256": hashlib.sha256(data).hexdigest()})
    if not frames:
        return pd.DataFrame(), []
    merged = pd.concat(frames, ignore_index=True).drop_duplicates(SOURCE_COLUMN, keep="last")
    return merged.reset_index(drop=True), files
