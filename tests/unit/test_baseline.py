"""TF-IDF + linear SVM baseline: separates easy classes, keeps score columns aligned to label ids."""
from __future__ import annotations

import numpy as np
import pytest

from medtx.errors import TrainingError
from medtx.modeling.baseline import Baseline, BaselineSettings, fit_baseline

VOCAB = {
    0: ["heart", "murmur", "ventricle", "angina", "ecg", "stent"],
    1: ["fracture", "knee", "tendon", "cast", "femur", "ligament"],
    2: ["cataract", "retina", "cornea", "lens", "glaucoma", "pupil"],
    3: ["kidney", "bladder", "stone", "ureter", "prostate", "urine"],
}
FILLER = ["patient", "history", "was", "seen", "today", "the", "and", "noted", "plan", "follow"]


def _notes(classes: list[int], per_class: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Synthetic notes: a few class words among shared filler words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for c in classes:
        for _ in range(per_class):
            words = list(rng.choice(VOCAB[c], 4)) + list(rng.choice(FILLER, 12))
            rng.shuffle(words)
            texts.append(" ".join(words))
            labels.append(c)
    return texts, np.array(labels)


def test_separates_easy_three_class_set():
    x_train, y_train = _notes([0, 1, 2], 20, seed=0)
    x_test, y_test = _notes([0, 1, 2], 10, seed=1)
    model = fit_baseline(x_train, y_train, n_classes=3)
    assert np.mean(model.predict(x_test) == y_test) >= 0.9
    proba = model.predict_proba(x_test)
    assert proba.shape == (30, 3) and np.allclose(proba.sum(axis=1), 1.0)


def test_columns_align_when_a_class_is_missing_from_train():
    x_train, y_train = _notes([0, 1, 3], 20, seed=2)  # class 2 never seen
    x_test, y_test = _notes([0, 1, 3], 10, seed=3)
    model = fit_baseline(x_train, y_train, n_classes=4)
    scores = model.decision_scores(x_test)
    assert scores.shape == (30, 4)
    assert np.all(scores[:, 2] < np.delete(scores, 2, axis=1).min(axis=1))
    assert np.mean(scores.argmax(axis=1) == y_test) >= 0.9  # class 3 lands in column 3


def test_two_training_classes_give_full_width_scores():
    x_train, y_train = _notes([1, 2], 20, seed=4)
    x_test, y_test = _notes([1, 2], 10, seed=5)
    model = fit_baseline(x_train, y_train, n_classes=3)
    scores = model.decision_scores(x_test)
    assert scores.shape == (20, 3)
    assert np.array_equal(scores.argmax(axis=1), y_test)


def test_temperature_changes_sharpness_not_ranking():
    x_train, y_train = _notes([0, 1, 2], 20, seed=6)
    model = fit_baseline(x_train, y_train, n_classes=3)
    sharp, flat = model.predict_proba(x_train, 0.1), model.predict_proba(x_train, 10.0)
    assert np.all(sharp.max(axis=1) > flat.max(axis=1))
    assert np.array_equal(sharp.argmax(axis=1), flat.argmax(axis=1))
    model.temperature = 0.1
    assert np.allclose(model.predict_proba(x_train), sharp)


def test_refuses_bad_training_input():
    x, y = _notes([0], 5, seed=7)
    with pytest.raises(TrainingError):
        fit_baseline(x, y, n_classes=3)
    with pytest.raises(ValueError):
        fit_baseline(["a b", None], np.array([0, 1]), n_classes=2)
    with pytest.raises(ValueError):
        fit_baseline(["a b", "c d"], np.array([0, 5]), n_classes=2)
    with pytest.raises(TrainingError):
        fit_baseline(["a b", "c d"], np.array([0, 1]), n_classes=2)  # no term in 2 notes
    with pytest.raises(TrainingError):
        Baseline(BaselineSettings()).decision_scores(["a"])

