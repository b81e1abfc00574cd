"""The ``evaluation.json`` document: two systems side by side, the margin, the ceiling."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Optional

import numpy as np

SCHEMA_VERSION = 1
_FLOAT_DIGITS = 6  # significant digits kept in evaluation.json


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
