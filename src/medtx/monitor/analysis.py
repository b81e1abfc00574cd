"""One window against the reference profile: text-free features, then every drift signal.

:func:`window_features` turns the window's notes into what the tests need - descriptors,
reduced vectors, probabilities - and keeps ids and a hash per note, never the text, so later
steps (and their stored artifacts) hold no clinical text. :func:`window_signals` runs the
tests of :mod:`medtx.monitor.drift` and controls the false discovery rate across them.

Captured responses carry only each note's top-k probabilities. The rest of the mass is spread
evenly over the other classes, and the reference probabilities go through exactly the same
truncation before they are compared, so the per-class tests compare like with like.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from medtx.monitor.descriptors import describe, note_hash
from medtx.monitor.drift import Signal, classifier_signal, correct, descriptor_signals, mmd_signal, prediction_signals
from medtx.monitor.profile import ReferenceProfile
from medtx.serving.contract import SMOKE_ID_PREFIX


def truncate_top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """Keep each row's ``k`` largest probabilities; spread the rest evenly over the others."""
    probs = np.asarray(probs, dtype=np.float64)
    n_cls = probs.shape[1]
    if k >= n_cls:
        return probs.copy()
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    kept = np.zeros_like(probs, dtype=bool)
    np.put_along_axis(kept, top, True, axis=1)
    rest = np.clip(1.0 - np.where(kept, probs, 0.0).sum(axis=1, keepdims=True), 0.0, 1.0)
    return np.where(kept, probs, rest / (n_cls - k))


@dataclass(frozen=True)
class WindowFeatures:
    """A window's notes as numbers and ids (``ids[i]`` is ``<eventId>#<position>``)."""

    rows: pd.DataFrame = field(repr=False)  # event_id, inference_id, position, time, label,
    #                                        confidence, note_hash, model_version
    descriptors: pd.DataFrame = field(repr=False)
    vectors: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    top_k: int = 0
    excluded: dict = field(default_factory=dict)  # reason -> rows left out

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ids(self) -> list[str]:
        return [f"{e}#{int(p)}" for e, p in zip(self.rows["event_id"], self.rows["position"])]


def _probability_matrix(rows: pd.DataFrame, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, int]:
    """``(probs [n, k], usable mask, most common top-k)`` from captured probability dicts."""
    n_cls, index = len(labels), {lab: j for j, lab in enumerate(labels)}
    out = np.zeros((len(rows), n_cls))
    ok = np.ones(len(rows), dtype=bool)
    sizes: Counter = Counter()
    for i, probs in enumerate(rows["probabilities"]):
        probs = dict(probs or {})
        if not probs or any(lab not in index for lab in probs):
            ok[i] = False
            continue
        sizes[len(probs)] += 1
        for lab, p in probs.items():
            out[i, index[lab]] = float(p)
        if len(probs) < n_cls:
            rest = max(0.0, 1.0 - out[i].sum()) / (n_cls - len(probs))
            out[i, [j for lab, j in index.items() if lab not in probs]] = rest
        total = out[i].sum()
        ok[i] = bool(np.isfinite(total) and abs(total - 1.0) < 1e-2)
        out[i] = out[i] / total if ok[i] else out[i]
    top_k = sizes.most_common(1)[0][0] if sizes else n_cls
    return out, ok, int(top_k)


def window_features(rows: pd.DataFrame, profile: ReferenceProfile,
                    model_version: Optional[int] = None) -> WindowFeatures:
    """Features of the window's rows (from :class:`~medtx.monitor.capture_reader.CaptureReader`).

    Deploy smoke-test requests (inference ids starting with
    :data:`~medtx.serving.contract.SMOKE_ID_PREFIX`), rows from another model
    version than ``model_version`` (when given) and rows whose probabilities name labels the
    profile does not know are excluded and counted.
    """
    excluded: Counter = Counter()
    frame = rows.reset_index(drop=True)
    smoke = frame["inference_id"].astype(str).str.startswith(SMOKE_ID_PREFIX)
    excluded["smoke_tests"] = int(smoke.sum())  # a deploy's own checks are not traffic
    frame = frame[~smoke].reset_index(drop=True)
    if model_version is not None and "model_version" in frame.columns:
        other = frame["model_version"].notna() & (frame["model_version"] != model_version)
        excluded["other_model_version"] = int(other.sum())
        frame = frame[~other].reset_index(drop=True)
    probs, ok, top_k = _probability_matrix(frame, profile.labels)
    excluded["unknown_labels"] = int((~ok).sum())
    frame, probs = frame[ok].reset_index(drop=True), probs[ok]
    texts = list(frame["text"])
    kept = frame.drop(columns=["text", "probabilities"]).assign(note_hash=[note_hash(t) for t in texts])
    return WindowFeatures(rows=kept, descriptors=describe(texts, profile.vocabulary),
                          vectors=profile.reducer.transform(texts), probabilities=probs,
                          top_k=top_k, excluded={k: v for k, v in excluded.items() if v})


def window_signals(features: WindowFeatures, profile: ReferenceProfile, alpha: float = 0.05,
                   permutations: int = 500, seed: int = 0) -> list[Signal]:
    """Every signal of the window, p-values adjusted (Benjamini-Hochberg) across all of them.

    The tests see each distinct note once (by ``note_hash``): the same note sent again is not
    a new sample, and repeated rows would make two-sample tests fire on unchanged traffic. The
    repeats still count for quality."""
    if features.rows["note_hash"].nunique() < 4:
        raise ValueError(f"a window needs at least 4 distinct notes to be tested, got "
                         f"{features.rows['note_hash'].nunique()}")
    ref_probs = truncate_top_k(profile.probabilities, features.top_k)
    first = ~features.rows["note_hash"].duplicated().to_numpy()  # each distinct note once
    desc = features.descriptors[first].reset_index(drop=True)
    vectors, probs = features.vectors[first], features.probabilities[first]
    ids = [i for i, keep in zip(features.ids, first) if keep]
    raw: list[Signal] = descriptor_signals(profile.descriptors, desc, alpha)
    raw.append(mmd_signal(profile.vectors, vectors, permutations, seed, alpha))
    raw.append(classifier_signal(profile.vectors, vectors, seed, alpha, ids=ids))
    raw.extend(prediction_signals(ref_probs, probs, profile.labels, alpha))
    return correct(raw, alpha)
