"""Metrics, calibration and the evaluation document, checked on hand-computed toys."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from medtx.evaluation.calibration import (
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)
from medtx.evaluation.ceiling import label_ceiling
from medtx.evaluation.document import Evaluation, build_evaluation, write_evaluation
from medtx.evaluation.metrics import classification_metrics
from medtx.evaluation.scoring import evaluate_system
from medtx.modeling.inference import softmax

LABELS = ["A", "B", "C"]


def _sampled(n: int, k: int, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): calibrated at T=1 by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=scale, size=(n, k))
    cumulative = softmax(logits).cumsum(axis=1)
    y = (rng.random((n, 1)) > cumulative).sum(axis=1)
    return logits, np.minimum(y, k - 1)


def test_softmax_rows_sum_to_one_and_temperature_flattens():
    logits = np.array([[2.0, 0.0, -1.0], [1000.0, 999.0, 0.0]])
    p1, p3 = softmax(logits), softmax(logits, 3.0)
    assert np.allclose(p1.sum(axis=1), 1.0)
    assert np.all(np.isfinite(p1))
    assert p3[0, 0] < p1[0, 0]
    assert np.allclose(softmax(logits + 5.0), p1)
    with pytest.raises(ValueError):
        softmax(logits, 0.0)


def test_classification_metrics_hand_computed():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    m = classification_metrics(y_true, y_pred, LABELS, None)
    # A: P 1/2 R 1/2 F1 1/2; B: P 2/3 R 1 F1 0.8; C: P 1 R 1/2 F1 2/3
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["per_class"]["B"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert m["per_class"]["C"]["precision"] == pytest.approx(1.0)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["any_label_accuracy"] == m["accuracy"]


def test_weighted_f1_uses_support_and_macro_skips_absent_classes():
    y_true = np.array([0, 0, 0, 1])
    y_pred = np.array([0, 0, 1, 1])
    m = classification_metrics(y_true, y_pred, ["A", "B", "D"], None)
    f1_a, f1_b = 0.8, 2 / 3  # A: P 1 R 2/3; B: P 1/2 R 1
    assert m["weighted_f1"] == pytest.approx((3 * f1_a + f1_b) / 4)
    assert m["macro_f1"] == pytest.approx((f1_a + f1_b) / 2)  # D never occurs
    assert m["per_class"]["D"]["support"] == 0


def test_any_label_accuracy_counts_secondary_labels():
    y_true = np.array([0, 1, 2, 2])
    y_pred = np.array([0, 0, 2, 1])
    carried = [["A"], ["A", "B"], ["C"], ["C"]]  # note 1 carries A as a second label
    m = classification_metrics(y_true, y_pred, LABELS, carried)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["any_label_accuracy"] == pytest.approx(0.75)


def test_unknown_true_label_is_a_miss_outside_the_confusion_matrix():
    y_true = np.array([0, 1, -1, -1])
    y_pred = np.array([0, 1, 1, 0])
    m = classification_metrics(y_true, y_pred, LABELS, [["A"], ["B"], ["Z"], ["A", "Z"]])
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["any_label_accuracy"] == pytest.approx(0.75)
    assert m["n"] == 4 and m["n_unknown"] == 2
    assert np.sum(m["confusion"]) == 2
    assert m["per_class"]["B"]["precision"] == pytest.approx(0.5)  # the unknown note is a false positive
    assert m["per_class"]["B"]["support"] == 1


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError):
        classification_metrics(np.array([0, 1]), np.array([0]), LABELS)
    with pytest.raises(ValueError):
        classification_metrics(np.array([0, 3]), np.array([0, 1]), LABELS)
    with pytest.raises(ValueError):
        classification_metrics(np.array([0, 1]), np.array([0, 1]), LABELS, [["A"]])
    with pytest.raises(ValueError):
        classification_metrics(np.array([0, 1]), np.array([0, -1]), LABELS)
    with pytest.raises(ValueError):
        classification_metrics(np.array([0.0, 1.0]), np.array([0, 1]), LABELS)


def test_ece_zero_when_each_bin_is_calibrated():
    # 4 notes at confidence 0.75 with 3 right; 20 at 0.95 with 19 right
    probs = np.array([[0.75, 0.25]] * 4 + [[0.95, 0.05]] * 20)
    y = np.array([0, 0, 0, 1] + [0] * 19 + [1])
    assert expected_calibration_error(probs, y) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_overconfident_toy_and_bins():
    probs = np.array([[0.9, 0.1]] * 10)
    y = np.array([0] * 5 + [1] * 5)
    assert expected_calibration_error(probs, y) == pytest.approx(0.4)
    bins = reliability_bins(probs, y, n_bins=10)
    assert len(bins) == 10 and sum(b["count"] for b in bins) == 10
    full = [b for b in bins if b["count"]]
    assert len(full) == 1 and full[0]["lo"] == pytest.approx(0.8) and full[0]["hi"] == pytest.approx(0.9)
    assert full[0]["accuracy"] == pytest.approx(0.5)
    assert bins[0]["confidence"] is None


def test_temperature_near_one_on_calibrated_toy():
    logits, y = _sampled(20_000, 4, 2.0, seed=1)
    assert fit_temperature(logits, y) == pytest.approx(1.0, abs=0.06)


def test_temperature_fixes_overconfident_toy():
    logits, y = _sampled(5_000, 4, 2.0, seed=2)
    hot = logits * 5.0
    t = fit_temperature(hot, y)
    assert t == pytest.approx(5.0, rel=0.1)
    assert negative_log_likelihood(hot, y, t) < negative_log_likelihood(hot, y)
    assert expected_calibration_error(softmax(hot, t), y) < expected_calibration_error(softmax(hot), y) - 0.1


def test_temperature_stays_finite_on_tiny_separable_validation():
    logits = np.array([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 4.0]])
    t = fit_temperature(logits, np.array([0, 1, 2]))
    assert 0.01 < t < 1.0  # sharpens, but does not run to zero
    with pytest.raises(ValueError):
        fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int))


def _system(name: str, scale: float, seed: int):
    val, y_val = _sampled(400, 3, 2.0, seed)
    test, y_test = _sampled(300, 3, 2.0, seed + 100)
    carried = [[LABELS[i]] for i in y_test]
    return evaluate_system(name, val * scale, y_val, test * scale, y_test, LABELS, carried)


def test_evaluate_system_calibrates_without_changing_predictions():
    hot = _system("model", 4.0, seed=3)
    plain = _system("model", 1.0, seed=3)
    assert hot.temperature > 2.0
    assert hot.ece_after < hot.ece_before
    assert hot.accuracy == plain.accuracy  # scaling logits never changes the argmax
    assert hot.name == "model" and hot.n == 300 and hot.val_n == 400
    assert len(hot.reliability_before) == 15
    with pytest.raises(ValueError):
        evaluate_system("x", np.zeros((3, 2)), np.zeros(3, int), np.zeros((3, 2)), np.zeros(3, int), LABELS)


def test_build_evaluation_margin_and_checks():
    model, baseline = _system("model", 1.0, 4), _system("baseline", 1.0, 5)
    doc = build_evaluation(model, baseline, {"preset": "spec12"}).to_dict()
    assert doc["schema"] == 1 and doc["labels"] == LABELS
    assert doc["margin"]["macro_f1"] == pytest.approx(model.macro_f1 - baseline.macro_f1)
    assert doc["model"]["name"] == "model" and doc["baseline"]["name"] == "baseline"
    assert "labels" not in doc["model"]  # the label list is stored once, at the top
    with pytest.raises(ValueError, match="different label lists"):
        build_evaluation(model, dataclasses.replace(baseline, labels=("A", "B", "Z")), {})
    with pytest.raises(ValueError, match="different test sets"):
        build_evaluation(model, dataclasses.replace(baseline, n=299), {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.macro_f1 = 1.0


def test_evaluation_json_round_trip(tmp_path):
    ceiling = label_ceiling(np.array([0, 1, 2, 1]), ["a", "b", "c", "c"], 3)
    doc = build_evaluation(_system("model", 2.0, 6), _system("baseline", 1.0, 7), {"seed": np.int64(42)},
                           ceiling)
    path = write_evaluation(doc, tmp_path / "out" / "evaluation.json")
    back = Evaluation.from_dict(json.loads(path.read_text()), str(path))
    assert isinstance(back, Evaluation)
    assert list(back.labels) == LABELS and back.meta == {"seed": 42}
    assert back.model.confusion == doc.model.confusion
    assert back.model.macro_f1 == pytest.approx(doc.model.macro_f1, abs=1e-6)
    assert back.baseline.temperature == pytest.approx(doc.baseline.temperature, rel=1e-5)
    assert back.ceiling.to_dict() == pytest.approx(ceiling.to_dict(), rel=1e-5)
    assert back.registry_metrics() == pytest.approx(doc.registry_metrics(), abs=1e-5)
    text = path.read_text()
    assert list(json.loads(text)) == sorted(json.loads(text))
    (tmp_path / "bad.json").write_text(json.dumps({"schema": 99}))
    with pytest.raises(ValueError):
        Evaluation.from_dict(json.loads((tmp_path / "bad.json").read_text()))


def test_headline_prefers_calibrated_ece():
    system = _system("model", 3.0, 8)
    summary = system.headline()
    assert set(summary) == {"accuracy", "macro_f1", "any_label_accuracy", "ece", "n"}
    assert summary["ece"] == system.ece_after and summary["n"] == 300


def test_registry_metrics_carry_model_baseline_and_margin():
    model, baseline = _system("model", 2.0, 9), _system("baseline", 1.0, 10)
    metrics = build_evaluation(model, baseline, {}).registry_metrics()
    assert metrics["macro_f1"] == model.macro_f1 and metrics["accuracy"] == model.accuracy
    assert metrics["baseline_macro_f1"] == baseline.macro_f1
    assert metrics["baseline_accuracy"] == baseline.accuracy
    assert metrics["margin_macro_f1"] == pytest.approx(model.macro_f1 - baseline.macro_f1)


# --- label ceiling: notes filed under several labels --------------------------------------


def _brute_force_ceiling(y, groups, k):
    """Exact best macro-F1 over every way of crediting each note with one of its labels."""
    import itertools

    from sklearn.metrics import f1_score

    keys = sorted(set(groups))
    options = [sorted({int(label) for label, g in zip(y, groups) if g == key}) for key in keys]
    best = 0.0
    for choice in itertools.product(*options):
        pick = dict(zip(keys, choice))
        pred = np.array([pick[g] for g in groups])
        best = max(best, f1_score(y, pred, labels=sorted(set(y)), average="macro", zero_division=0))
    return best


def test_label_ceiling_is_one_when_every_note_has_one_label():
    c = label_ceiling(np.array([0, 1, 2, 1]), ["a", "b", "c", "d"], 3)
    assert c.to_dict() == {"accuracy": 1.0, "macro_f1": 1.0, "notes": 4, "rows": 4, "multi_label_notes": 0}


def test_label_ceiling_counts_one_hit_per_note():
    # note "x" is filed under classes 0 and 1: whichever is predicted, one of its rows is wrong
    c = label_ceiling(np.array([0, 1, 0, 1]), ["x", "x", "y", "z"], 2)
    assert c.accuracy == pytest.approx(3 / 4)
    assert c.multi_label_notes == 1 and c.notes == 3 and c.rows == 4
    assert c.macro_f1 < 1.0


def test_label_ceiling_matches_exhaustive_search_and_bounds_any_classifier():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(7)
    for trial in range(25):
        n_notes, k = int(rng.integers(4, 9)), int(rng.integers(2, 5))
        y, groups = [], []
        for note in range(n_notes):
            labels = rng.choice(k, size=int(rng.integers(1, min(k, 3) + 1)), replace=False)
            y += [int(v) for v in labels]
            groups += [f"n{note}"] * len(labels)
        y = np.array(y)
        exact = _brute_force_ceiling(y, groups, k)
        found = label_ceiling(y, groups, k)
        assert found.macro_f1 == pytest.approx(exact, abs=0.02), trial
        assert found.macro_f1 <= exact + 1e-9
        # no classifier that gives a note one prediction beats the exact ceiling
        for _ in range(5):
            per_note = {g: int(rng.integers(0, k)) for g in set(groups)}
            pred = np.array([per_note[g] for g in groups])
            assert np.mean(pred == y) <= found.accuracy + 1e-12
            assert f1_score(y, pred, labels=sorted(set(y)), average="macro", zero_division=0) <= exact + 1e-9


def test_label_ceiling_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="equal-length"):
        label_ceiling(np.array([0, 1]), ["a"], 2)
    with pytest.raises(ValueError, match="equal-length"):
        label_ceiling(np.array([], dtype=int), [], 2)


def test_macro_f1_matches_the_evaluation_metrics():
    from medtx.evaluation.metrics import classification_metrics, macro_f1

    rng = np.random.default_rng(4)
    t, p = rng.integers(0, 5, 80), rng.integers(0, 6, 80)  # class 5 only predicted
    labels = [f"c{i}" for i in range(7)]  # class 6 in neither
    assert macro_f1(t, p, 7) == pytest.approx(classification_metrics(t, p, labels)["macro_f1"])
    t[:3] = -1  # unknown true labels are misses
    assert macro_f1(t, p, 7) == pytest.approx(classification_metrics(t, p, labels)["macro_f1"])


def test_fast_macro_f1_counts_unknown_truths_as_misses():
    from sklearn.metrics import f1_score

    from medtx.evaluation.metrics import macro_f1

    t, p = np.array([0, 1, 2, -1, 1]), np.array([0, 1, 1, 2, 1])
    expected = f1_score([0, 1, 2, 9, 1], [0, 1, 1, 2, 1], labels=[0, 1, 2], average="macro")
    assert macro_f1(t, p, 3) == pytest.approx(expected)
