"""The evaluation document: two systems side by side, the margin, the single-label ceiling.

:class:`Evaluation` is what TrainFlow stores, registers and writes as ``evaluation.json``
(:meth:`Evaluation.to_dict` is the JSON document, :meth:`Evaluation.from_dict` reads it back).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

SCHEMA_VERSION = 1
_FLOAT_DIGITS = 6  # significant digits kept in evaluation.json
MARGIN_KEYS = ("macro_f1", "accuracy", "weighted_f1", "any_label_accuracy")


@dataclass(frozen=True)
class SystemScores:
    """One system's test metrics and calibration (its temperature fitted on validation)."""

    name: str
    labels: tuple[str, ...]
    n: int
    n_unknown: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    any_label_accuracy: float
    per_class: dict  # label -> {"precision", "recall", "f1", "support"}
    confusion: list  # confusion[i][j]: notes of true class i predicted as j
    val_n: int
    temperature: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    reliability_before: list
    reliability_after: list

    def to_dict(self) -> dict:
        """The system's entry in ``evaluation.json`` (labels live once, at the top)."""
        out = dataclasses.asdict(self)
        del out["labels"]
        return out

    @classmethod
    def from_dict(cls, raw: dict, labels: list) -> SystemScores:
        names = {f.name for f in dataclasses.fields(cls)} - {"labels"}
        missing = sorted(names - set(raw))
        if missing:
            raise ValueError(f"evaluation system {raw.get('name')!r} lacks {missing}")
        return cls(labels=tuple(labels), **{k: raw[k] for k in names})

    def headline(self) -> dict:
        """Accuracy, macro-F1, any-label accuracy, calibrated ECE and n."""
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1,
                "any_label_accuracy": self.any_label_accuracy, "ece": self.ece_after, "n": self.n}


@dataclass(frozen=True)
class Ceiling:
    """The best any single-label classifier can score on rows of notes with several labels."""

    accuracy: float  # exact: notes / rows
    macro_f1: float  # reached by an oracle crediting each multi-label note with one label
    notes: int
    rows: int
    multi_label_notes: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Evaluation:
    """Model and baseline on the same test rows, with the ceiling of those rows."""

    model: SystemScores
    baseline: SystemScores
    ceiling: Optional[Ceiling] = None
    meta: dict = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.model.labels != self.baseline.labels:
            raise ValueError("model and baseline were evaluated on different label lists")
        if self.model.n != self.baseline.n:
            raise ValueError(f"model and baseline were scored on different test sets "
                             f"(n={self.model.n}, {self.baseline.n})")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model.labels

    @property
    def margin(self) -> dict[str, float]:
        """Model minus baseline for each headline metric."""
        return {k: getattr(self.model, k) - getattr(self.baseline, k) for k in MARGIN_KEYS}

    def registry_metrics(self) -> dict[str, float]:
        """The numbers a registry keeps per version: the model's test metrics, the baseline's
        and the margin (what ``medtx models list/show`` print)."""
        out: dict[str, float] = {k: float(v) for k, v in self.model.headline().items()}
        out.update({"baseline_macro_f1": self.baseline.macro_f1,
                    "baseline_accuracy": self.baseline.accuracy,
                    "margin_macro_f1": self.margin["macro_f1"],
                    "margin_accuracy": self.margin["accuracy"]})
        if self.ceiling is not None:
            out["ceiling_macro_f1"] = self.ceiling.macro_f1
        return {k: float(v) for k, v in out.items() if v is not None and math.isfinite(v)}

    def to_dict(self) -> dict:
        """The ``evaluation.json`` document."""
        return {
            "schema": self.schema,
            "model": self.model.to_dict(),
            "baseline": self.baseline.to_dict(),
            "margin": self.margin,
            "labels": list(self.labels),
            "ceiling": self.ceiling.to_dict() if self.ceiling is not None else None,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, doc: Any, source: str = "evaluation") -> Evaluation:
        """Read a document written by :meth:`to_dict`; refuse other schema versions."""
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
            found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
            raise ValueError(f"{source}: not an evaluation document of schema "
                             f"{SCHEMA_VERSION} (found {found!r})")
        labels = list(doc["labels"])
        ceiling = Ceiling(**doc["ceiling"]) if doc.get("ceiling") else None
        return cls(SystemScores.from_dict(doc["model"], labels),
                   SystemScores.from_dict(doc["baseline"], labels), ceiling, dict(doc.get("meta") or {}))


def build_evaluation(model: SystemScores, baseline: SystemScores, meta: Optional[dict] = None,
                     ceiling: Optional[Ceiling] = None) -> Evaluation:
    """Both systems side by side; ``ceiling`` (:func:`medtx.evaluation.ceiling.label_ceiling`)
    lets a reader tell model error from label ambiguity."""
    return Evaluation(model, baseline, ceiling, dict(meta or {}))


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


def evaluation_json(evaluation: Evaluation) -> str:
    """The document as JSON text: sorted keys, floats to 6 significant digits."""
    return json.dumps(_plain(evaluation.to_dict()), sort_keys=True, indent=2) + "\n"


def write_evaluation(evaluation: Evaluation, path: str | os.PathLike) -> Path:
    """Write ``evaluation.json`` (see :func:`evaluation_json`); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(evaluation_json(evaluation), encoding="utf-8")
    tmp.replace(target)
    return target
