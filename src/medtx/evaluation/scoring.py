"""Scoring, written once for each kind of input.

* :func:`evaluate_system`: a system's score matrices on validation and test (TrainFlow's
  model and baseline): temperature on validation, metrics and calibration on test.
* :func:`score_predictor`: a packaged model on labelled notes (the champion re-scored on a
  run's test split, ``medtx evaluate`` on any CSV, and monitoring against late labels).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

from medtx.evaluation.calibration import (
    check_scores,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)
from medtx.evaluation.ceiling import label_ceiling
from medtx.evaluation.document import Ceiling, SystemScores
from medtx.evaluation.metrics import classification_metrics
from medtx.modeling.inference import softmax


def evaluate_system(
    name: str,
    val_scores: np.ndarray,
    y_val: np.ndarray,
    test_scores: np.ndarray,
    y_test: np.ndarray,
    labels: Sequence[str],
    test_all_labels: Optional[Sequence[Sequence[str]]] = None,
    n_bins: int = 15,
) -> SystemScores:
    """Fit a temperature on validation, then report test metrics and calibration before/after."""
    val = check_scores(val_scores, y_val, f"{name} validation scores")
    test = check_scores(test_scores, y_test, f"{name} test scores")
    if val.shape[1] != len(labels) or test.shape[1] != len(labels):
        raise ValueError(
            f"{name}: score columns (val {val.shape[1]}, test {test.shape[1]}) != {len(labels)} labels"
        )
    temperature = fit_temperature(val, y_val)
    before, after = softmax(test), softmax(test, temperature)
    metrics = classification_metrics(y_test, test.argmax(axis=1), labels, test_all_labels)
    return SystemScores(
        name=name, labels=tuple(labels), **metrics, val_n=int(val.shape[0]),
        temperature=temperature,
        ece_before=expected_calibration_error(before, y_test, n_bins),
        ece_after=expected_calibration_error(after, y_test, n_bins),
        nll_before=negative_log_likelihood(test, y_test),
        nll_after=negative_log_likelihood(test, y_test, temperature),
        reliability_before=reliability_bins(before, y_test, n_bins),
        reliability_after=reliability_bins(after, y_test, n_bins),
    )


@dataclass(frozen=True)
class PredictorScores:
    """A packaged model scored on labelled notes (distinct (note, label) rows)."""

    n: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    any_label_accuracy: float
    ece: Optional[float]  # over rows whose label the model knows; None when there are none
    ceiling: Optional[Ceiling]  # None when some label is unknown to the model
    labels_unknown_to_model: tuple[str, ...]
    labels_match: bool  # the model's classes are exactly ``labels`` (or the notes' labels)

    def headline(self) -> dict:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1,
                "weighted_f1": self.weighted_f1, "any_label_accuracy": self.any_label_accuracy,
                "ece": self.ece, "n": self.n}


def score_predictor(predictor: Any, notes: pd.DataFrame,
                    labels: Optional[Sequence[str]] = None) -> PredictorScores:
    """Score ``predictor`` (a :class:`medtx.modeling.predictor.Predictor`) on ``notes``.

    ``notes`` has columns ``text``, ``label`` and ``group`` (identical notes share a group),
    one row per distinct (note, label) pair, as the data checks and the split produce them.
    A label the model never learned counts as a miss, never silently skipped; macro-F1
    averages over the classes present in the truth or the predictions.
    """
    missing = {"text", "label", "group"} - set(notes.columns)
    if missing:
        raise ValueError(f"notes to score lack column(s) {sorted(missing)}")
    if notes.empty:
        raise ValueError("no labelled notes to score")
    model_labels = list(predictor.labels)
    index = {label: i for i, label in enumerate(model_labels)}
    carried = notes.groupby("group")["label"].agg(lambda s: sorted(set(s)))
    probs = predictor.predict_proba(list(notes["text"]))
    y = np.array([index.get(label, -1) for label in notes["label"]], dtype=np.int64)
    metrics = classification_metrics(y, probs.argmax(axis=1), model_labels,
                                     list(notes["group"].map(carried)))
    known = y >= 0
    unknown = tuple(sorted(set(notes["label"]) - set(index)))
    ceiling = None if unknown else label_ceiling(y, list(notes["group"]), len(model_labels))
    expected = list(labels) if labels is not None else sorted(set(notes["label"]))
    return PredictorScores(
        n=metrics["n"], accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"],
        weighted_f1=metrics["weighted_f1"], any_label_accuracy=metrics["any_label_accuracy"],
        ece=float(expected_calibration_error(probs[known], y[known])) if known.any() else None,
        ceiling=ceiling, labels_unknown_to_model=unknown, labels_match=model_labels == expected,
    )
