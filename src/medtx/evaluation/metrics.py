"""Evaluation: classification metrics, temperature calibration and the ``evaluation.json`` document.

Scores are logit-like arrays ``[n, n_classes]`` whose columns follow the label ids
``0..n_classes-1``. A system (the fine-tuned model or the baseline) is evaluated by
:func:`evaluate_system`: its temperature is fitted on validation, its metrics are computed on
test. :func:`build_evaluation` puts two systems side by side; the approval gate reads the result.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

SCHEMA_VERSION = 1
_LOG_T_RANGE = (-7.0, 7.0)  # temperatures searched: e^-7 .. e^7
_LOG_T_PRIOR_SD = 2.0  # weak log-normal prior around T=1 keeps tiny validation sets sane
_FLOAT_DIGITS = 6  # significant digits kept in evaluation.json


def _check_scores(scores: np.ndarray, y: Optional[np.ndarray] = None, what: str = "scores") -> np.ndarray:
    """Validate a ``[n, k]`` score matrix (and labels in ``0..k-1``); return it as float64."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 2:
        raise ValueError(f"{what} must be a non-empty [n, n_classes>=2] array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contain {int(np.sum(~np.isfinite(arr)))} non-finite values")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (arr.shape[0],):
            raise ValueError(f"{what}: {arr.shape[0]} rows but {y.shape} labels")
        if y.size and (y.min() < 0 or y.max() >= arr.shape[1]):
            raise ValueError(f"{what}: label ids must lie in 0..{arr.shape[1] - 1}")
    return arr


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (numerically stable)."""
    if not temperature > 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def negative_log_likelihood(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of labels ``y`` under ``softmax(logits / temperature)``."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = _check_scores(logits, y, "logits") / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(z)), np.asarray(y)]))


def fit_temperature(val_logits: np.ndarray, y_val: np.ndarray) -> float:
    """Temperature ``T > 0`` minimising validation NLL of ``softmax(logits / T)``.

    Searches ``log T`` in ``[-7, 7]`` on a grid, then refines by golden section around the best
    grid point. A weak Gaussian prior on ``log T`` (centred on T=1, sd 2: it adds
    ``(log T)^2 / 8`` nats to the summed NLL) keeps the fit finite when a tiny validation set
    is perfectly separated; with a few hundred notes its effect is negligible.
    """
    z = _check_scores(val_logits, y_val, "validation logits")
    y = np.asarray(y_val)

    def objective(log_t: float) -> float:
        total = negative_log_likelihood(z, y, math.exp(log_t)) * len(y)
        return total + 0.5 * (log_t / _LOG_T_PRIOR_SD) ** 2

    grid = np.linspace(*_LOG_T_RANGE, 141)
    values = [objective(u) for u in grid]
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = objective(a), objective(b)
    while hi - lo > 1e-6:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = objective(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = objective(b)
    return float(math.exp((lo + hi) / 2.0))


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each confidence among ``n_bins`` equal-width bins ``(lo, hi]`` of ``[0, 1]``."""
    # the small slack keeps a confidence sitting on an edge (0.8 with 15 bins) in its lower bin
    return np.clip(np.ceil(confidence * n_bins - 1e-9).astype(int) - 1, 0, n_bins - 1)


def reliability_bins(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> list[dict]:
    """Per confidence bin: ``lo``, ``hi``, ``count``, mean ``confidence`` and ``accuracy``.

    Confidence is the top probability; empty bins report ``None`` for both means.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    p = _check_scores(probs, y, "probabilities")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == np.asarray(y)).astype(np.float64)
    index = _bin_index(confidence, n_bins)
    bins = []
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        bins.append({
            "lo": b / n_bins,
            "hi": (b + 1) / n_bins,
            "count": count,
            "confidence": float(confidence[mask].mean()) if count else None,
            "accuracy": float(correct[mask].mean()) if count else None,
        })
    return bins


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """ECE: count-weighted mean gap between accuracy and confidence over equal-width bins."""
    bins = reliability_bins(probs, y, n_bins)
    n = sum(b["count"] for b in bins)
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]) / n)


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


def label_ceiling(y_true: np.ndarray, groups: Sequence[object], n_classes: int,
                  max_rounds: int = 20) -> dict:
    """The best a single-label classifier can score when one note carries several labels.

    A test set over distinct (note, label) pairs holds a note filed under two specialties
    twice; any classifier gives both rows the same prediction, so at most one is right.
    ``accuracy`` is that exact bound (notes / rows). ``macro_f1`` is found by coordinate
    ascent over which of its labels each multi-label note is credited with (starting from its
    rarest label), so it is reachable by an oracle and within a hair of the exact optimum.
    """
    t = np.asarray(y_true, dtype=np.int64)
    g = list(groups)
    if t.ndim != 1 or t.size == 0 or len(g) != t.size:
        raise ValueError(f"label_ceiling needs equal-length non-empty labels and groups ({t.size}, {len(g)})")
    rows_of: dict = {}
    for i, key in enumerate(g):
        rows_of.setdefault(key, []).append(int(t[i]))
    support = np.bincount(t, minlength=n_classes).astype(np.int64)
    present = support > 0
    tp = np.zeros(n_classes, dtype=np.int64)
    fp = np.zeros(n_classes, dtype=np.int64)

    def credit(labels: list, choice: int, sign: int) -> None:
        for lab in labels:
            if lab == choice:
                tp[choice] += sign
            else:
                fp[choice] += sign

    def macro() -> float:
        fn = support - tp
        denom = 2 * tp + fp + fn
        f1 = np.divide(2 * tp, denom, out=np.zeros(n_classes), where=denom > 0)
        return float(f1[present].mean())

    choice = {}
    for key, labels in rows_of.items():
        choice[key] = min(set(labels), key=lambda c: (support[c], c))
        credit(labels, choice[key], +1)
    multi = [key for key, labels in rows_of.items() if len(set(labels)) > 1]
    best = macro()
    for _ in range(max_rounds):
        improved = False
        for key in multi:
            labels, current = rows_of[key], choice[key]
            for option in sorted(set(labels) - {current}):
                credit(labels, current, -1)
                credit(labels, option, +1)
                score = macro()
                if score > best + 1e-12:
                    best, current, improved = score, option, True
                else:
                    credit(labels, option, -1)
                    credit(labels, current, +1)
            choice[key] = current
        if not improved:
            break
    return {
        "accuracy": len(rows_of) / t.size,
        "macro_f1": best,
        "notes": len(rows_of),
        "rows": int(t.size),
        "multi_label_notes": len(multi),
    }


def evaluate_system(
    name: str,
    val_scores: np.ndarray,
    y_val: np.ndarray,
    test_scores: np.ndarray,
    y_test: np.ndarray,
    labels: Sequence[str],
    test_all_labels: Optional[Sequence[Sequence[str]]] = None,
    n_bins: int = 15,
) -> dict:
    """Fit a temperature on validation, then report test metrics and calibration before/after."""
    val = _check_scores(val_scores, y_val, f"{name} validation scores")
    test = _check_scores(test_scores, y_test, f"{name} test scores")
    if val.shape[1] != len(labels) or test.shape[1] != len(labels):
        raise ValueError(
            f"{name}: score columns (val {val.shape[1]}, test {test.shape[1]}) != {len(labels)} labels"
        )
    temperature = fit_temperature(val, y_val)
    before, after = softmax(test), softmax(test, temperature)
    result = classification_metrics(y_test, test.argmax(axis=1), labels, test_all_labels)
    result.update({
        "name": name,
        "labels": list(labels),
        "val_n": int(val.shape[0]),
        "temperature": temperature,
        "ece_before": expected_calibration_error(before, y_test, n_bins),
        "ece_after": expected_calibration_error(after, y_test, n_bins),
        "nll_before": negative_log_likelihood(test, y_test),
        "nll_after": negative_log_likelihood(test, y_test, temperature),
        "reliability_before": reliability_bins(before, y_test, n_bins),
        "reliability_after": reliability_bins(after, y_test, n_bins),
    })
    return result


def build_evaluation(model: dict, baseline: dict, meta: Optional[dict] = None,
                     ceiling: Optional[dict] = None) -> dict:
    """The ``evaluation.json`` document: both systems, the model's margin over the baseline.

    ``ceiling`` (from :func:`label_ceiling`) records the best any single-label classifier
    can score on the same test rows, so a reader can tell model error from label ambiguity.
    """
    if list(model["labels"]) != list(baseline["labels"]):
        raise ValueError("model and baseline were evaluated on different label lists")
    if model["n"] != baseline["n"]:
        raise ValueError(f"model and baseline were scored on different test sets (n={model['n']}, {baseline['n']})")
    keys = ("macro_f1", "accuracy", "weighted_f1", "any_label_accuracy")
    margin = {key: model[key] - baseline[key] for key in keys}
    return {
        "schema": SCHEMA_VERSION,
        "model": {k: v for k, v in model.items() if k != "labels"},
        "baseline": {k: v for k, v in baseline.items() if k != "labels"},
        "margin": margin,
        "labels": list(model["labels"]),
        "ceiling": dict(ceiling) if ceiling is not None else None,
        "meta": dict(meta or {}),
    }


def _plain(value: object) -> object:
    """JSON-ready copy: numpy scalars/arrays to Python, floats rounded, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError("evaluation contains a non-finite number")
        return float(f"{float(value):.{_FLOAT_DIGITS}g}")
    return value


def write_evaluation(doc: dict, path: str | os.PathLike) -> Path:
    """Write ``doc`` as JSON (sorted keys, floats to 6 significant digits); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(_plain(doc), sort_keys=True, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def read_evaluation(path: str | os.PathLike) -> dict:
    """Read an ``evaluation.json``; refuse documents of an unknown schema version."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{path}: not an evaluation document of schema {SCHEMA_VERSION} (found {found!r})")
    return doc


def summarize_for_cli(metrics: dict) -> dict:
    """Headline numbers of one system: accuracy, macro-F1, any-label accuracy, ECE, n.

    ``ece`` is the calibrated ECE when a temperature was fitted, else the raw one.
    """
    ece = metrics.get("ece_after", metrics.get("ece_before", metrics.get("ece")))
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "any_label_accuracy": metrics["any_label_accuracy"],
        "ece": ece,
        "n": metrics["n"],
    }
