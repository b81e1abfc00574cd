"""Ground-truth labels for captured traffic, and their join to a capture window.

:func:`import_labels` reads labels keyed by capture eventId or inference id from CSV (an ``id``,
``event_id`` or ``inference_id`` column and ``label``), JSON Lines (the same fields, or
SageMaker ``groundTruthData`` records), a JSON list of either, or a Label Studio JSON export
(tasks with ``data.inference_id`` / ``data.event_id``; cancelled annotations skipped; several
annotations reconciled by majority, ties counted as conflicts and left out). The same majority
rule reconciles an id given more than once in any format. An id may name one note of a
multi-note request as ``<id>#<position>``. :func:`join_labels` matches labels to window rows.
Errors name the file and the problem, never note text.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd

from medtx.errors import IngestError

ID_FIELDS = ("inference_id", "event_id", "id")  # "id": either kind, inference id tried first
_ALIASES = {"inferenceId": "inference_id", "eventId": "event_id"}


@dataclass(frozen=True)
class LabelCounts:
    rows: int = 0        # entries read (lines, CSV rows, tasks)
    skipped: int = 0     # no id, no label, not a record
    conflicts: int = 0   # ids whose votes tie, left out
    cancelled: int = 0   # Label Studio annotations marked was_cancelled

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LabelImport:
    """``labels``: one row per id (``id``, ``key`` (inference_id/event_id/id), ``label``,
    ``source`` (file name and format))."""

    labels: pd.DataFrame = field(repr=False)
    counts: LabelCounts
    path: str = ""
    format: str = ""

    def __len__(self) -> int:
        return len(self.labels)


def _clean(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def _key_of(doc: dict) -> Optional[tuple[str, str]]:
    doc = {_ALIASES.get(k, k): v for k, v in doc.items()}
    for name in ID_FIELDS:
        if _clean(doc.get(name)):
            return name, _clean(doc[name])
    return None


def _ground_truth(doc: dict) -> Optional[tuple[str, str, str]]:
    """``(key, id, label)`` of a SageMaker ground-truth record."""
    gt, meta = doc.get("groundTruthData"), doc.get("eventMetadata") or {}
    if not isinstance(gt, dict) or not isinstance(meta, dict):
        return None
    data, enc = gt.get("data"), str(gt.get("encoding", "CSV")).upper()
    if enc == "JSON" and isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            pass
    if isinstance(data, dict):
        data = data.get("label")
    elif isinstance(data, str) and enc == "CSV":
        data = next(csv.reader([data]), [""])[0] if data else ""
    key = _key_of(meta)
    return (key[0], key[1], _clean(data)) if key else None


def _record(doc: Any) -> Optional[tuple[str, str, str]]:
    if not isinstance(doc, dict):
        return None
    if "groundTruthData" in doc:
        return _ground_truth(doc)
    key = _key_of(doc)
    return (key[0], key[1], _clean(doc.get("label"))) if key else None


def _studio_votes(task: dict, counts: Counter) -> Optional[tuple[str, str, list[str]]]:
    key = _key_of(task.get("data") or {})
    if key is None:
        return None
    votes = []
    for ann in task.get("annotations") or []:
        if not isinstance(ann, dict):
            continue
        if ann.get("was_cancelled"):
            counts["cancelled"] += 1
            continue
        choices = [c for r in ann.get("result") or [] if isinstance(r, dict)
                   for c in (r.get("value") or {}).get("choices") or []]
        if len(choices) == 1 and _clean(choices[0]):
            votes.append(_clean(choices[0]))
    return key[0], key[1], votes


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise IngestError(f"label file {path} does not exist")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError(f"label file {path} is not UTF-8 text") from None
    if not text.strip():
        raise IngestError(f"label file {path} is empty")
    return text


def _entries(path: Path, text: str, counts: Counter) -> tuple[str, Iterator]:
    """``(format, iterator of (key, id, [labels]) or None)``."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        cols = set(reader.fieldnames or [])
        if "label" not in cols or not cols & set(ID_FIELDS):
            raise IngestError(f"label file {path}: CSV needs a 'label' column and one of "
                              f"{', '.join(ID_FIELDS)}; has {', '.join(sorted(cols)) or 'none'}")

        def rows() -> Iterator:
            for r in reader:
                got = _record(r)
                yield (got[0], got[1], [got[2]]) if got else None
        return "csv", rows()
    stripped = text.lstrip()
    if suffix == ".json" or stripped.startswith("["):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestError(f"label file {path} is not valid JSON (line {exc.lineno}, "
                              f"column {exc.colno})") from None
        docs = doc if isinstance(doc, list) else [doc]
        if any(isinstance(d, dict) and "annotations" in d for d in docs):
            return "label-studio", (_studio_votes(d, counts) if isinstance(d, dict) else None
                                    for d in docs)
        fmt = "groundtruth" if any(isinstance(d, dict) and "groundTruthData" in d for d in docs) else "json"
        return fmt, ((g[0], g[1], [g[2]]) if (g := _record(d)) else None for d in docs)

    lines = [ln for ln in text.splitlines() if ln.strip()]
    parsed = []
    for ln in lines:
        try:
            parsed.append(json.loads(ln))
        except json.JSONDecodeError:
            parsed.append(None)
    if lines and all(p is None for p in parsed):
        raise IngestError(f"label file {path}: no line is valid JSON (expected CSV, JSON Lines, "
                          "ground-truth records or a Label Studio JSON export)")
    fmt = "groundtruth" if any(isinstance(p, dict) and "groundTruthData" in p for p in parsed) else "jsonl"
    return fmt, ((g[0], g[1], [g[2]]) if (g := _record(p)) else None for p in parsed)


def import_labels(path: Union[str, Path]) -> LabelImport:
    """Read the labels in ``path`` (format chosen from its suffix and content)."""
    path = Path(path)
    text = _read_text(path)
    counts: Counter = Counter()
    fmt, entries = _entries(path, text, counts)
    votes: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        counts["rows"] += 1
        if entry is None:
            counts["skipped"] += 1
            continue
        key, ident, labels = entry
        labels = [lab for lab in labels if lab]
        if not labels:
            counts["skipped"] += 1
            continue
        votes.setdefault((key, ident), []).extend(labels)
    out = []
    source = f"{path.name}:{fmt}"
    for (key, ident), labs in votes.items():
        ranked = Counter(labs).most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            counts["conflicts"] += 1
            continue
        out.append({"id": ident, "key": key, "label": ranked[0][0], "source": source})
    frame = pd.DataFrame(out, columns=["id", "key", "label", "source"])
    return LabelImport(labels=frame, counts=LabelCounts(**{k: int(counts[k]) for k in
                                                           ("rows", "skipped", "conflicts", "cancelled")}),
                       path=str(path), format=fmt)


def _index(rows: pd.DataFrame, column: str) -> dict[str, int]:
    """``id#position`` for every row, and the plain id for requests of a single note."""
    index: dict[str, int] = {}
    if column not in rows.columns or rows.empty:
        return index
    ids = rows[column].astype(object)
    pos = rows["position"] if "position" in rows.columns else pd.Series(0, index=rows.index)
    sizes = ids.map(ids.value_counts(dropna=True))
    for i, (ident, p, n) in enumerate(zip(ids, pos, sizes)):
        if ident is None or (isinstance(ident, float) and ident != ident):
            continue
        index.setdefault(f"{ident}#{int(p)}", i)
        if n == 1:
            index.setdefault(str(ident), i)
    return index


def join_labels(window_rows: pd.DataFrame, labels: Union[LabelImport, pd.DataFrame]
                ) -> tuple[pd.DataFrame, int]:
    """Window rows that have a label, with ``true_label`` and ``label_source`` added (the rows'
    ``label`` stays the prediction), and the number of label ids matching no row. Ids of key
    ``id`` are tried as inference ids first, then as event ids."""
    frame = labels.labels if isinstance(labels, LabelImport) else labels
    by_inf, by_evt = _index(window_rows, "inference_id"), _index(window_rows, "event_id")
    taken: dict[int, tuple[str, str]] = {}
    unknown = 0
    keys = frame["key"] if "key" in frame.columns else pd.Series("id", index=frame.index)
    sources = frame["source"] if "source" in frame.columns else pd.Series("", index=frame.index)
    order = sorted(range(len(frame)), key=lambda j: keys.iloc[j] != "inference_id")
    for j in order:
        ident, key = str(frame["id"].iloc[j]), keys.iloc[j]
        hit = by_inf.get(ident) if key in ("inference_id", "id") else None
        if hit is None and key in ("event_id", "id"):
            hit = by_evt.get(ident)
        if hit is None:
            unknown += 1
            continue
        taken.setdefault(hit, (str(frame["label"].iloc[j]), str(sources.iloc[j])))
    picked = sorted(taken)
    joined = window_rows.iloc[picked].copy()
    joined["true_label"] = [taken[i][0] for i in picked]
    joined["label_source"] = [taken[i][1] for i in picked]
    return joined.reset_index(drop=True), unknown
