"""Training targets: one label per row, or a label set per distinct note.

A note filed under several specialties is several rows of the split (one per label, same
``group``). ``single`` trains on every row towards its one label, so the same text is pulled
towards contradictory classes; ``soft`` trains on each distinct note once, towards the uniform
distribution over the specialties it is filed under (labels outside the model's classes left
out; a note whose set holds none of them keeps its row's label); ``multilabel`` gives the same
notes the set itself (1 for each member class, 0 elsewhere), for a loss that asks of every class
whether it is in the note's set, so a note's top class is the one most likely among its labels.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd


def note_targets(frame: pd.DataFrame, labels: Sequence[str],
                 kind: Literal["single", "soft", "multilabel"]) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, targets)``: the positions of ``frame`` to train on and their targets (class ids
    ``[len(rows)]`` for ``single``, distributions ``[len(rows), n_classes]`` for ``soft``, 0/1
    set indicators ``[len(rows), n_classes]`` for ``multilabel``)."""
    ids = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(frame["label"]) - set(ids))
    if unknown:
        raise ValueError(f"{len(unknown)} training label(s) are not model classes: {unknown[:5]}")
    row_ids = np.array([ids[label] for label in frame["label"]], dtype=np.int64)
    if kind == "single":
        return np.arange(len(frame)), row_ids
    if kind not in ("soft", "multilabel"):
        raise ValueError(f"targets must be 'single', 'soft' or 'multilabel', got {kind!r}")
    groups = frame["group"].to_numpy()
    _, first = np.unique(groups, return_index=True)
    rows = np.sort(first)
    sets: dict = {}
    for g, label, all_labels in zip(groups, frame["label"], frame["all_labels"]):
        members = sets.setdefault(g, set())
        members.add(label)
        members.update(x for x in (all_labels if all_labels is not None else ()) if x in ids)
    targets = np.zeros((len(rows), len(labels)), dtype=np.float32)
    for out, r in enumerate(rows):
        members = sorted(ids[x] for x in sets[groups[r]])
        targets[out, members] = 1.0 if kind == "multilabel" else 1.0 / len(members)
    return rows, targets
