"""Calibration: a temperature fitted on validation, NLL, reliability bins and ECE.

Scores are logit-like arrays ``[n, n_classes]`` whose columns follow the label ids
``0..n_classes-1``.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

_LOG_T_RANGE = (-7.0, 7.0)  # temperatures searched: e^-7 .. e^7
_LOG_T_PRIOR_SD = 2.0  # weak log-normal prior around T=1 keeps tiny validation sets sane


def check_scores(scores: np.ndarray, y: Optional[np.ndarray] = None, what: str = "scores") -> np.ndarray:
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


def negative_log_likelihood(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of labels ``y`` under ``softmax(logits / temperature)``."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = check_scores(logits, y, "logits") / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(z)), np.asarray(y)]))


def fit_temperature(val_logits: np.ndarray, y_val: np.ndarray) -> float:
    """Temperature ``T > 0`` minimising validation NLL of ``softmax(logits / T)``.

    Bounded Brent search (``scipy.optimize.minimize_scalar``) over ``log T`` in ``[-7, 7]``.
    A weak Gaussian prior on ``log T`` (centred on T=1, sd 2: it adds ``(log T)^2 / 8`` nats
    to the summed NLL) keeps the fit finite when a tiny validation set is perfectly separated;
    with a few hundred notes its effect is negligible.
    """
    from scipy.optimize import minimize_scalar

    z = check_scores(val_logits, y_val, "validation logits")
    y = np.asarray(y_val)

    def objective(log_t: float) -> float:
        total = negative_log_likelihood(z, y, math.exp(log_t)) * len(y)
        return total + 0.5 * (log_t / _LOG_T_PRIOR_SD) ** 2

    fit = minimize_scalar(objective, bounds=_LOG_T_RANGE, method="bounded",
                          options={"xatol": 1e-7})
    if not fit.success:
        raise ValueError(f"temperature fit did not converge: {fit.message}")
    return float(math.exp(fit.x))


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
    p = check_scores(probs, y, "probabilities")
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
