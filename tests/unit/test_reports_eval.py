"""The evaluation card renders both systems, their numbers and the plots."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from medtx.evaluation.calibration import reliability_bins
from medtx.evaluation.document import Ceiling, build_evaluation
from medtx.evaluation.scoring import evaluate_system
from medtx.modeling.inference import softmax
from medtx.reports.evaluation import confusion_figure, evaluation_card, reliability_figure

LABELS = ["Cardiology", "Neurology", "Urology"]


def _system(name: str, scale: float, seed: int):
    rng = np.random.default_rng(seed)
    val, test = rng.normal(size=(120, 3)), rng.normal(size=(90, 3))
    y_val, y_test = rng.integers(0, 3, 120), rng.integers(0, 3, 90)
    val[np.arange(120), y_val] += 1.5
    test[np.arange(90), y_test] += 1.5
    carried = [[LABELS[i]] for i in y_test]
    return evaluate_system(name, val * scale, y_val, test * scale, y_test, LABELS, carried)


@pytest.fixture(scope="module")
def doc():
    meta = {"preset": "spec12", "split": {"test": 90}}
    return build_evaluation(_system("minilm-ft", 4.0, 1), _system("tfidf-svm", 1.0, 2), meta)


@pytest.fixture(scope="module")
def rendered(doc) -> list[dict]:
    return [component.render() for component in evaluation_card(doc)]


def test_card_names_both_systems_and_their_metrics(doc, rendered):
    text = json.dumps(rendered)
    assert "minilm-ft" in text and "tfidf-svm" in text
    for system in ("model", "baseline"):
        for key in ("macro_f1", "accuracy", "ece_after", "temperature"):
            assert f"{getattr(getattr(doc, system), key):.3f}" in text
    assert f"{doc.margin['macro_f1']:+.3f}" in text
    markdown = " ".join(c["source"] for c in rendered if c["type"] == "markdown")
    assert "spec12" in markdown and '{"test": 90}' in markdown  # nested meta shown as JSON


def test_card_has_headline_and_per_class_tables(rendered):
    tables = [c for c in rendered if c["type"] == "table"]
    assert len(tables) == 2
    headline, per_class = tables
    assert headline["columns"][1:3] == ["minilm-ft", "tfidf-svm"]
    assert "Macro-F1" in [row[0] for row in headline["data"]]
    assert [row[0] for row in per_class["data"]] == LABELS


def test_card_has_confusion_and_reliability_images(rendered):
    images = [c for c in rendered if c["type"] == "image"]
    assert len(images) == 4  # confusion and reliability for each system
    assert all(c["src"].startswith("data:image/png;base64") for c in images)


def test_confusion_figure_checks_shape():
    fig = confusion_figure([[3, 1], [0, 4]], ["A", "B"], "toy")
    assert fig.axes[0].get_title() == "toy"
    with pytest.raises(ValueError):
        confusion_figure([[1, 2, 3]], ["A", "B"], "bad")


def test_reliability_figure_draws_both_curves_with_ece():
    rng = np.random.default_rng(0)
    logits, y = rng.normal(size=(200, 3)) * 3, rng.integers(0, 3, 200)
    before, after = reliability_bins(softmax(logits), y), reliability_bins(softmax(logits, 3.0), y)
    fig = reliability_figure(before, after, "t")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("raw (ECE") for t in legend)
    assert any(t.startswith("temperature-scaled (ECE") for t in legend)


def test_card_explains_the_single_label_ceiling(doc):
    ceiling = Ceiling(accuracy=0.8, macro_f1=0.85, notes=72, rows=90, multi_label_notes=18)
    rendered = [c.render() for c in evaluation_card(dataclasses.replace(doc, ceiling=ceiling))]
    headline = [c for c in rendered if c["type"] == "table"][0]
    rows = {row[0]: row for row in headline["data"]}
    assert rows["Macro-F1 ceiling (single label)"][1] == "0.850"
    assert rows["Accuracy ceiling (single label)"][1] == "0.800"
    markdown = " ".join(c["source"] for c in rendered if c["type"] == "markdown")
    assert "18 of the 72 test notes" in markdown and "90 rows" in markdown
    # without multi-label notes there is nothing to explain
    no_multi = dataclasses.replace(ceiling, multi_label_notes=0)
    plain = [c.render() for c in evaluation_card(dataclasses.replace(doc, ceiling=no_multi))]
    assert "several specialties" not in " ".join(c.get("source", "") for c in plain if c["type"] == "markdown")


def test_card_says_which_system_is_better_and_by_how_much(doc):
    from medtx.reports.evaluation import verdict_sentence

    raw = doc.to_dict()
    gap = raw["model"]["macro_f1"] - raw["baseline"]["macro_f1"]
    said = verdict_sentence(raw)
    better = "minilm-ft" if gap > 0 else "tfidf-svm"
    assert said.startswith(f"**{better}** is better than") and f"by {abs(gap):.3f} test macro-F1" in said
    flipped = {**raw, "model": raw["baseline"], "baseline": raw["model"],
               "margin": {"macro_f1": -gap}}
    assert verdict_sentence(flipped).startswith(f"**{better}** is better than")
    tie = {**raw, "margin": {"macro_f1": 0.0}}
    assert " tie on test macro-F1" in verdict_sentence(tie)
    markdown = " ".join(c.render()["source"] for c in evaluation_card(doc) if c.render()["type"] == "markdown")
    assert said in markdown
