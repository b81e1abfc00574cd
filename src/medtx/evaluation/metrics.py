"""Classification metrics over label ids: accuracy, macro/weighted F1, any-label accuracy,
per-class precision/recall/F1 and the confusion matrix."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Macro-F1 over the classes present in ``y_true`` or ``y_pred``, the definition
    :func:`classification_metrics` reports, in plain numpy (cheap enough for bootstrap
    resamples). A true id of ``-1`` is an unknown class: always a miss."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    known = t >= 0
    tp = np.bincount(t[known & (t == p)], minlength=n_classes)
    support = np.bincount(t[known], minlength=n_classes)
    predicted = np.bincount(p, minlength=n_classes)
    present = (support + predicted) > 0
    return float(np.mean(2.0 * tp[present] / (support[present] + predicted[present])))


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: Sequence[str],
    all_labels: Optional[Sequence[Sequence[str]]] = None,
) -> dict:
    """Accuracy, macro/weighted F1, any-label accuracy, per-class P/R/F1 and the confusion matrix.

    Macro-F1 averages over the classes present in ``y_true`` or ``y_pred`` (as scikit-learn
    does); ``per_class`` lists every label. ``any_label_accuracy`` counts a prediction as right
    when it is any of the labels its note carries (``all_labels``); without them it equals
    accuracy. ``confusion[i][j]`` counts notes of true class ``i`` predicted as ``j``.
    A true id of ``-1`` marks a label the classifier does not know: always a miss, counted in
    ``n_unknown`` and left out of ``per_class`` support and the confusion matrix.
    """
    from sklearn.metrics import precision_recall_fscore_support

    t, p, k = np.asarray(y_true), np.asarray(y_pred), len(labels)
    if t.ndim != 1 or t.shape != p.shape or t.size == 0:
        raise ValueError(f"y_true and y_pred must be equal-length non-empty 1-D arrays: {t.shape}, {p.shape}")
    if not (np.issubdtype(t.dtype, np.integer) and np.issubdtype(p.dtype, np.integer)):
        raise ValueError(f"label ids must be integers, got {t.dtype} and {p.dtype}")
    if t.min() < -1 or p.min() < 0 or max(t.max(), p.max()) >= k:
        raise ValueError(f"label ids must lie in 0..{k - 1} for {k} labels (-1: unknown true label)")
    if len(set(labels)) != k:
        raise ValueError("labels must be distinct")
    prec, rec, f1, support = precision_recall_fscore_support(
        t, p, labels=list(range(k)), zero_division=0
    )
    present = np.isin(np.arange(k), np.union1d(t, p))
    accuracy = float(np.mean(t == p))
    if all_labels is None:
        any_label = accuracy
    else:
        if len(all_labels) != t.size:
            raise ValueError(f"all_labels has {len(all_labels)} entries for {t.size} predictions")
        any_label = float(np.mean([labels[j] in set(carried) for j, carried in zip(p, all_labels)]))
    known = t >= 0
    confusion = np.bincount(t[known] * k + p[known], minlength=k * k).reshape(k, k)
    return {
        "n": int(t.size),
        "n_unknown": int(t.size - known.sum()),
        "accuracy": accuracy,
        "macro_f1": float(f1[present].mean()),
        "weighted_f1": float(np.average(f1, weights=support)) if support.sum() else 0.0,
        "any_label_accuracy": any_label,
        "per_class": {
            label: {
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": confusion.tolist(),
    }
