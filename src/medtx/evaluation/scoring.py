"""Scoring a system: temperature on validation, metrics and calibration on test."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from medtx.evaluation.calibration import (
    check_scores, expected_calibration_error, fit_temperature, negative_log_likelihood,
    reliability_bins,
)
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
) -> dict:
    """Fit a temperature on validation, then report test metrics and calibration before/after."""
    val = check_scores(val_scores, y_val, f"{name} validation scores")
    test = check_scores(test_scores, y_test, f"{name} test scores")
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
