"""Predictions from a model package, with the long-note strategy and temperature it carries.

Inputs are checked at the boundary (:class:`medtx.errors.InputError` names positions, never
text) and walked in slices of ``batch_size`` notes, so memory stays bounded for a big request.
An empty list is valid: ``logits``/``predict_proba`` return a ``(0, n_classes)`` array and
``predict`` an empty list.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medtx.errors import InputError
from medtx.modeling.features import LongNoteStrategy, encode_texts
from medtx.modeling.inference import predict_logits, softmax
from medtx.modeling.runtime import pick_device

_SHOWN = 10  # positions named in an error message


def _positions(bad: list[int]) -> str:
    shown = ", ".join(str(i) for i in bad[:_SHOWN])
    return shown + (f" (and {len(bad) - _SHOWN} more)" if len(bad) > _SHOWN else "")


def check_notes(texts: Any) -> list[str]:
    """The notes as a list of strings; :class:`InputError` on a malformed request."""
    if isinstance(texts, (str, bytes)):
        raise InputError("expected a list of notes, got a single string; wrap it in a list")
    try:
        notes = list(texts)
    except TypeError:
        raise InputError(f"expected a list of notes, got {type(texts).__name__}") from None
    wrong = [i for i, t in enumerate(notes) if not isinstance(t, str)]
    if wrong:
        kinds = sorted({type(notes[i]).__name__ for i in wrong})
        raise InputError(f"{len(wrong)} note(s) are not strings ({', '.join(kinds)}) "
                         f"at position(s) {_positions(wrong)}")
    blank = [i for i, t in enumerate(notes) if not t.strip()]
    if blank:
        raise InputError(f"{len(blank)} note(s) are empty or whitespace only "
                         f"at position(s) {_positions(blank)}")
    return notes


class NoteClassifier:
    """What every runtime of a model package shares: checked notes, walked in slices of
    ``batch_size`` notes (encoded with the package's long-note strategy), calibrated with its
    temperature, plus the wide branch's logits where the package has one
    (:mod:`medtx.modeling.wide`). A runtime implements :meth:`_batch_logits`."""

    labels: list[str]
    temperature: float
    strategy: LongNoteStrategy
    tokenizer: Any
    batch_size: int
    wide: Any = None  # medtx.modeling.wide.WideBranch or None

    def _batch_logits(self, enc: Any) -> np.ndarray:
        """Logits ``[n_notes, n_classes]`` of one slice of encoded notes."""
        raise NotImplementedError

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits ``[n, n_classes]`` (chunk windows mean-pooled per note, plus the wide
        branch's share)."""
        notes = check_notes(texts)
        parts = [np.zeros((0, len(self.labels)), dtype=np.float32)]
        for s in range(0, len(notes), self.batch_size):
            piece = notes[s:s + self.batch_size]
            logits = self._batch_logits(encode_texts(piece, self.tokenizer, self.strategy))
            if self.wide is not None:
                logits = logits + self.wide.logits(piece)
            parts.append(logits)
        return np.concatenate(parts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities: ``softmax(logits / temperature)``."""
        return softmax(self.logits(texts), self.temperature)

    def predict(self, texts: Sequence[str]) -> list[dict]:
        """One ``{"label": ..., "probabilities": {label: p}}`` per note."""
        proba = self.predict_proba(texts)
        return [{"label": self.labels[int(row.argmax())],
                 "probabilities": {lab: float(p) for lab, p in zip(self.labels, row)}}
                for row in proba]


class Predictor(NoteClassifier):
    """Classify notes with a fine-tuned model, its tokenizer and its package metadata."""

    def __init__(self, model: Any, tokenizer: Any, meta: dict, device: str | None = None,
                 batch_size: int = 32, wide: Any = None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.tokenizer, self.meta, self.wide = model, tokenizer, dict(meta), wide
        self.strategy = LongNoteStrategy.from_dict(meta["long_note"])
        self.temperature = float(meta.get("temperature", 1.0))
        self.device = pick_device(device)
        self.batch_size = int(batch_size)
        self.model.to(self.device).eval()
        config_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.labels: list[str] = list(meta.get("labels") or config_labels)
        if self.labels != config_labels:
            raise ValueError("package labels differ from the model config's id2label")

    @classmethod
    def load(cls, path: Path | str, device: str | None = None, verify: bool = True,
             batch_size: int = 32) -> Predictor:
        """Verify and load a package folder (see :func:`medtx.modeling.package.load_package`)."""
        from medtx.modeling.package import load_package
        from medtx.modeling.wide import load_wide

        model, tokenizer, meta = load_package(Path(path), verify=verify)
        return cls(model, tokenizer, meta, device=device, batch_size=batch_size,
                   wide=load_wide(Path(path), meta))

    def _batch_logits(self, enc: Any) -> np.ndarray:
        return predict_logits(self.model, enc, batch_size=self.batch_size, device=self.device)
