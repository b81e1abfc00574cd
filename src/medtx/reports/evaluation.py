"""Evaluation card: the model and the baseline side by side, built from an ``evaluation.json``.

Returns Metaflow card components (``current.card.extend(evaluation_card(doc))``). Metaflow and
matplotlib are imported inside the functions; figures are drawn on the Agg canvas without
pyplot, so nothing is left open in a global figure registry.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Optional

from medtx.reports.format import number

_HEADLINE = (
    ("accuracy", "Accuracy"),
    ("macro_f1", "Macro-F1"),
    ("weighted_f1", "Weighted-F1"),
    ("any_label_accuracy", "Any-label accuracy"),
    ("ece_before", "ECE (raw)"),
    ("ece_after", "ECE (temperature-scaled)"),
    ("temperature", "Temperature (fitted on validation)"),
    ("nll_before", "NLL (raw)"),
    ("nll_after", "NLL (temperature-scaled)"),
)
_ANNOTATE_MAX_CLASSES = 16  # write counts into confusion cells up to this many classes


def _fmt(value: object, signed: bool = False) -> str:
    """Three decimals for numbers, an en dash for missing values."""
    return number(value, 3, signed)


def _new_figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def confusion_figure(confusion: Sequence[Sequence[int]], labels: Sequence[str], title: str):
    """Confusion matrix (rows: true class, columns: predicted), coloured by row share."""
    import numpy as np

    counts = np.asarray(confusion, dtype=float)
    k = len(labels)
    if counts.shape != (k, k):
        raise ValueError(f"confusion matrix shape {counts.shape} does not match {k} labels")
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    side = min(4.0 + 0.32 * k, 16.0)
    fig = _new_figure(side + 1.5, side)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of true class")
    small = max(5.0, 10.0 - 0.12 * k)
    ax.set_xticks(range(k), labels, rotation=90, fontsize=small)
    ax.set_yticks(range(k), labels, fontsize=small)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= _ANNOTATE_MAX_CLASSES:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    colour = "white" if share[i, j] > 0.5 else "black"
                    ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=small, color=colour)
    return fig


def _bins_ece(bins: Sequence[dict]) -> Optional[float]:
    """ECE recomputed from reliability bins (None when every bin is empty)."""
    n = sum(b["count"] for b in bins)
    if not n:
        return None
    return sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]) / n


def reliability_figure(bins_before: Sequence[dict], bins_after: Sequence[dict], title: str):
    """Reliability diagram: accuracy against confidence per bin, raw and temperature-scaled."""
    fig = _new_figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    total = max(sum(b["count"] for b in bins_before), 1)
    curves = ((bins_before, "raw", "tab:red"), (bins_after, "temperature-scaled", "tab:blue"))
    for bins, name, colour in curves:
        used = [b for b in bins if b["count"]]
        ece = _bins_ece(bins)
        label = f"{name} (ECE {ece:.3f})" if ece is not None else name
        xs = [b["confidence"] for b in used]
        ys = [b["accuracy"] for b in used]
        ax.plot(xs, ys, color=colour, linewidth=1.2, label=label)
        ax.scatter(xs, ys, s=[20 + 400 * b["count"] / total for b in used], color=colour, alpha=0.6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability); marker area ~ notes in bin")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _headline_table(doc: dict):
    """Rows of headline metrics: model, baseline, model minus baseline."""
    from metaflow.cards import Table

    model, baseline = doc["model"], doc["baseline"]
    rows: list[list[Any]] = [["Test notes", _fmt(model["n"]), _fmt(baseline["n"]), ""]]
    for key, title in _HEADLINE:
        a, b = model.get(key), baseline.get(key)
        margin = _fmt(a - b, signed=True) if a is not None and b is not None else ""
        rows.append([title, _fmt(a), _fmt(b), margin])
    ceiling = doc.get("ceiling")
    if ceiling:
        for key, title in (("accuracy", "Accuracy"), ("macro_f1", "Macro-F1")):
            rows.append([f"{title} ceiling (single label)", _fmt(ceiling[key]), _fmt(ceiling[key]), ""])
    return Table(rows, headers=["Metric", model["name"], baseline["name"], "Model − baseline"])


def _per_class_table(doc: dict):
    """Per-class precision/recall/F1 of both systems with the test support."""
    from metaflow.cards import Table

    model, baseline = doc["model"], doc["baseline"]
    headers = ["Class", "Support"]
    for system in (model, baseline):
        headers += [f"{system['name']} P", f"{system['name']} R", f"{system['name']} F1"]
    rows = []
    for label in doc["labels"]:
        m, b = model["per_class"][label], baseline["per_class"][label]
        scores = [_fmt(s[k]) for s in (m, b) for k in ("precision", "recall", "f1")]
        rows.append([label, _fmt(m["support"])] + scores)
    return Table(rows, headers=headers)


def _meta_markdown(doc: dict) -> str:
    """Entries of ``meta`` as a bullet list (nested values as compact JSON)."""
    lines = []
    for key, value in sorted(doc.get("meta", {}).items()):
        shown = value if isinstance(value, (str, int, float, bool)) else json.dumps(value, sort_keys=True)
        lines.append(f"- **{key}**: {shown}")
    return "\n".join(lines)


def _ceiling_sentence(ceiling: Optional[dict]) -> str:
    """Why no single-label classifier reaches 1.0 on this test set, in one sentence."""
    if not ceiling or not ceiling.get("multi_label_notes"):
        return ""
    return (
        f" {ceiling['multi_label_notes']} of the {ceiling['notes']} test notes are filed under "
        f"several specialties and count once per label ({ceiling['rows']} rows), so no single-label "
        f"classifier exceeds accuracy {ceiling['accuracy']:.3f} or macro-F1 about "
        f"{ceiling['macro_f1']:.3f} here (the ceiling rows below)."
    )


def verdict_sentence(doc: dict) -> str:
    """Which system is better on test macro-F1, and by how much (an evaluation document's dict)."""
    model, baseline = doc["model"], doc["baseline"]
    margin = doc["margin"]["macro_f1"]
    scores = (f"{model['name']} {model['macro_f1']:.3f}, {baseline['name']} "
              f"{baseline['macro_f1']:.3f}")
    if abs(margin) < 5e-4:
        return f"**{model['name']}** and **{baseline['name']}** tie on test macro-F1 ({scores})"
    better, worse = (model, baseline) if margin > 0 else (baseline, model)
    return (f"**{better['name']}** is better than **{worse['name']}** by {abs(margin):.3f} "
            f"test macro-F1 ({scores})")


def evaluation_card(evaluation: Any) -> list:
    """Card components: headline table, per-class table, confusion and reliability plots
    (``evaluation``: a :class:`medtx.evaluation.document.Evaluation`)."""
    from metaflow.cards import Image, Markdown

    doc = evaluation.to_dict()
    model, baseline = doc["model"], doc["baseline"]
    components = [
        Markdown(f"# Evaluation: {model['name']} vs {baseline['name']}"),
        Markdown(
            verdict_sentence(doc) + f" ({len(doc['labels'])} classes, {model['n']} test notes). "
            "Each system's temperature is fitted on the validation split; ECE uses "
            f"{len(model['reliability_before'])} equal-width confidence bins. Any-label accuracy "
            "counts a prediction as right when it is any of the specialties its note is filed under."
            + _ceiling_sentence(doc.get("ceiling"))
            + "\n\n" + _meta_markdown(doc)
        ),
        _headline_table(doc),
        Markdown("## Per class (test)"),
        _per_class_table(doc),
        Markdown("## Confusion matrices (test)"),
    ]
    for system in (model, baseline):
        fig = confusion_figure(system["confusion"], doc["labels"], f"{system['name']}: confusion")
        components.append(Image.from_matplotlib(fig, label=f"{system['name']} confusion matrix"))
    components.append(Markdown("## Calibration (test)"))
    for system in (model, baseline):
        fig = reliability_figure(
            system["reliability_before"], system["reliability_after"], f"{system['name']}: reliability"
        )
        components.append(Image.from_matplotlib(fig, label=f"{system['name']} reliability"))
    return components
