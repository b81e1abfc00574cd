"""Quality of the served model over a window: measured where labels arrived, estimated where not.

:func:`measure` scores the window's labelled notes (accuracy, macro-F1, any-label accuracy, the
same definitions as the training evaluation) with percentile bootstrap intervals over notes.
:func:`estimate` is what can be said before labels arrive: with calibrated probabilities the
expected accuracy is the mean top-class confidence; it is reported as an estimate, never as a
measurement, and it is only as good as the calibration under the current traffic.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import pandas as pd

from medtx.evaluation.metrics import macro_f1 as macro_f1_of


@dataclass(frozen=True)
class Interval:
    """A point value with a ``level`` (e.g. 0.95) bootstrap percentile interval."""

    value: float
    low: float
    high: float
    level: float = 0.95

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "level": self.level}


@dataclass(frozen=True)
class Quality:
    """Measured metrics (None below ``min_labels`` labelled notes) and the confidence estimate."""

    n_notes: int
    n_labelled: int
    min_labels: int
    accuracy: Optional[Interval] = None
    macro_f1: Optional[Interval] = None
    any_label_accuracy: Optional[Interval] = None
    estimated_accuracy: Optional[Interval] = None
    unknown_label_ids: int = 0
    unknown_classes: int = 0  # labelled notes whose label the model does not know: left out

    @property
    def measured(self) -> bool:
        return self.accuracy is not None

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("n_notes", "n_labelled", "min_labels",
                                             "unknown_label_ids", "unknown_classes")}
        for k in ("accuracy", "macro_f1", "any_label_accuracy", "estimated_accuracy"):
            v = getattr(self, k)
            out[k] = v.to_dict() if v is not None else None
        out["measured"], out["estimate_is_estimate"] = self.measured, True
        return out


def _interval(point: float, samples: np.ndarray, level: float) -> Interval:
    lo, hi = np.quantile(samples, [(1 - level) / 2, 1 - (1 - level) / 2])
    return Interval(float(point), float(lo), float(hi), level)


def estimate(confidence: Sequence[float], resamples: int = 1000, seed: int = 0,
             level: float = 0.95) -> Optional[Interval]:
    """Expected accuracy from calibrated top-class confidences (an estimate), bootstrap CI."""
    conf = np.asarray(confidence, dtype=np.float64)
    conf = conf[np.isfinite(conf)]
    if conf.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = conf[rng.integers(0, conf.size, size=(resamples, conf.size))].mean(axis=1)
    return _interval(float(conf.mean()), means, level)


def measure(joined: pd.DataFrame, labels: Sequence[str], n_notes: int, confidence: Sequence[float],
            min_labels: int = 50, resamples: int = 1000, seed: int = 0, unknown_ids: int = 0,
            level: float = 0.95) -> Quality:
    """Quality over the labelled rows ``joined`` (columns ``label`` = prediction, ``true_label``,
    ``note_hash``), plus the estimate from the window's ``confidence`` column.

    any-label accuracy counts a prediction right when it is any label given to the same note
    (identical text, by ``note_hash``) in the window, as the evaluation does for duplicates.
    Labels the model does not have (outside its label policy) are left out and counted in
    ``unknown_classes``, as the evaluation leaves them out of its test rows.
    """
    est = estimate(confidence, resamples, seed, level)
    base = Quality(n_notes=int(n_notes), n_labelled=len(joined), min_labels=int(min_labels),
                   estimated_accuracy=est, unknown_label_ids=int(unknown_ids))
    if joined.empty:
        return base
    index = {lab: i for i, lab in enumerate(labels)}
    t = np.array([index.get(str(x), -1) for x in joined["true_label"]])
    unknown_classes = int((t < 0).sum())
    joined, t = joined[t >= 0], t[t >= 0]  # like the evaluation's label policy: left out, counted
    base = replace(base, unknown_classes=unknown_classes, n_labelled=len(joined))
    if len(joined) < min_labels:
        return base
    p = np.array([index.get(str(x), -1) for x in joined["label"]])
    if (p < 0).any():
        raise ValueError(f"{int((p < 0).sum())} predictions name labels the model does not have")
    sets: dict[str, set] = {}
    for h, lab in zip(joined["note_hash"], joined["true_label"]):
        sets.setdefault(h, set()).add(str(lab))
    any_ok = np.array([str(lab) in sets[h] for h, lab in zip(joined["note_hash"], joined["label"])])
    right = t == p
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(t), size=(resamples, len(t)))
    k = len(labels)
    f1s = np.array([macro_f1_of(t[d], p[d], k) for d in draws])
    return replace(base, accuracy=_interval(float(right.mean()), right[draws].mean(axis=1), level),
                   macro_f1=_interval(macro_f1_of(t, p, k), f1s, level),
                   any_label_accuracy=_interval(float(any_ok.mean()), any_ok[draws].mean(axis=1), level))
