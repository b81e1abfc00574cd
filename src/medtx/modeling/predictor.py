"""Predictions from a model package, with the long-note strategy and temperature it carries."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from medtx.modeling.inference import softmax
from medtx.modeling.features import LongNoteStrategy, encode_texts


class Predictor:
    """Classify notes with a fine-tuned model, its tokenizer and its package metadata."""

    def __init__(self, model: Any, tokenizer: Any, meta: dict, device: str | None = None,
                 batch_size: int = 32):
        from medtx.modeling.train import pick_device

        self.model, self.tokenizer, self.meta = model, tokenizer, dict(meta)
        self.strategy = LongNoteStrategy.from_dict(meta["long_note"])
        self.temperature = float(meta.get("temperature", 1.0))
        self.device = pick_device(device)
        self.batch_size = batch_size
        self.model.to(self.device).eval()
        config_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.labels: list[str] = list(meta.get("labels") or config_labels)
        if self.labels != config_labels:
            raise ValueError("package labels differ from the model config's id2label")

    @classmethod
    def load(cls, path: Path | str, device: str | None = None, verify: bool = True) -> "Predictor":
        """Verify and load a package folder (see :func:`medtx.modeling.package.load_package`)."""
        from medtx.modeling.package import load_package

        model, tokenizer, meta = load_package(Path(path), verify=verify)
        return cls(model, tokenizer, meta, device=device)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits ``[n, n_classes]`` (chunk windows mean-pooled per note)."""
        from medtx.modeling.train import predict_logits

        enc = encode_texts(list(texts), self.tokenizer, self.strategy)
        return predict_logits(self.model, enc, batch_size=self.batch_size, device=self.device)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities: ``softmax(logits / temperature)``."""
        return softmax(self.logits(texts), self.temperature)

    def predict(self, texts: Sequence[str]) -> list[dict]:
        """One ``{"label": ..., "probabilities": {label: p}}`` per note."""
        proba = self.predict_proba(texts)
        return [{"label": self.labels[int(row.argmax())],
                 "probabilities": {lab: float(p) for lab, p in zip(self.labels, row)}}
                for row in proba]
