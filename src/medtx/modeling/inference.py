"""Inference: logits of encoded notes (windows mean-pooled per note) and the softmax over them.

torch is imported inside :func:`predict_logits` only, so :func:`softmax` (used by evaluation)
stays cheap to import.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from medtx.modeling.features import Encoded


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (numerically stable)."""
    if not temperature > 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def predict_logits(model: Any, enc: Encoded, batch_size: int = 64,
                   device: Any = None) -> np.ndarray:
    """Logits per note ``[n_notes, n_classes]``; windows of one note are mean-pooled.

    Windows run longest first in batches of ``batch_size``; bf16 autocast on a capable GPU.
    """
    import torch

    from medtx.modeling.runtime import autocast_for, pick_precision
    from medtx.modeling.windows import WindowData

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).eval()
    n_classes = int(model.config.num_labels)
    if enc.n_notes == 0:
        return np.zeros((0, n_classes), dtype=np.float32)
    data = WindowData(enc, None, getattr(model.config, "pad_token_id", None) or 0)
    order = np.argsort(-data.lengths, kind="stable")
    precision = pick_precision("auto", device)
    window_logits = np.empty((len(data), n_classes), dtype=np.float32)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            batch = data.collate(idx, device)
            with autocast_for(device, precision):
                out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            window_logits[idx] = out.logits.float().cpu().numpy()
    return pool_windows(enc.note_index, window_logits, enc.n_notes)


def pool_windows(note_index: Sequence[int], window_logits: np.ndarray, n_notes: int) -> np.ndarray:
    """Mean of the window logits of each note ``[n_notes, n_classes]`` (every note needs one)."""
    index = np.asarray(note_index, dtype=np.int64)
    counts = np.bincount(index, minlength=n_notes)
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} note(s) have no token window")
    sums = np.zeros((n_notes, window_logits.shape[1]), dtype=np.float64)
    np.add.at(sums, index, window_logits)
    return (sums / counts[:, None]).astype(np.float32)
