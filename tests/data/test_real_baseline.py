"""The TF-IDF + linear SVM baseline on the real spec12 task: a fair floor on the pipeline's
text-disjoint split (seed 42, ~70/15/15), made by the same ingest -> checks -> split chain
the flow runs (``medtx.data.prepare``)."""
from __future__ import annotations

import pytest

from medtx.data.prepare import prepare
from medtx.evaluation.metrics import classification_metrics
from medtx.modeling.baseline import fit_baseline

pytestmark = pytest.mark.real_data


def test_real_spec12_baseline_is_a_strong_floor(settings, real_data_path):
    split = prepare(settings.with_overrides(labels={"preset": "spec12"}), source=str(real_data_path)).split
    assert not set(split.train["group"]) & set(split.test["group"])
    model = fit_baseline(list(split.train["text"]), split.y("train"), len(split.labels))
    predicted = model.predict(list(split.test["text"]))
    metrics = classification_metrics(split.y("test"), predicted, split.labels, list(split.test["all_labels"]))
    assert len(split.labels) == 12
    assert metrics["macro_f1"] >= 0.65
    assert metrics["any_label_accuracy"] >= metrics["accuracy"]
