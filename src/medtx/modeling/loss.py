"""The training loss: per-class weights and class-weighted cross-entropy, for hard labels
(one class id per row) or soft targets (a distribution over classes per note), and a per-class
binary cross-entropy for label-set targets (``multilabel``)."""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F


def class_counts(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows per class (label ids ``[n]``) or target mass per class (soft targets ``[n, k]``)."""
    y = np.asarray(y)
    if y.size == 0:
        raise ValueError("class weights need at least one label")
    if y.ndim == 2:
        if y.shape[1] != n_classes:
            raise ValueError(f"soft targets have {y.shape[1]} columns, expected {n_classes}")
        return y.sum(axis=0).astype(np.float64)
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"label ids must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return np.bincount(y, minlength=n_classes).astype(np.float64)


def class_weights(y: np.ndarray, n_classes: int,
                  mode: Literal["none", "balanced", "sqrt"]) -> torch.Tensor | None:
    """Per-class loss weights: ``balanced`` = n / (k * count), ``sqrt`` = its square root.

    ``k`` is ``n_classes``, present in ``y`` or not; a class absent from ``y`` is weighted as if
    it had one member (it adds nothing to the loss, but its weight stays finite). With soft
    targets ``count`` is the class's target mass and ``n`` the number of notes.
    """
    if mode == "none":
        return None
    if mode not in ("balanced", "sqrt"):
        raise ValueError(f"class weight mode must be none, balanced or sqrt, got {mode!r}")
    counts = class_counts(y, n_classes)
    w = len(y) / (n_classes * np.where(counts > 0, counts, 1.0))
    return torch.tensor(np.sqrt(w) if mode == "sqrt" else w, dtype=torch.float32)


def weighted_loss(logits: torch.Tensor, target: torch.Tensor,
                  weights: torch.Tensor | None, multilabel: bool = False) -> torch.Tensor:
    """Cross-entropy in fp32, weighted per class (mean over the batch's total weight).

    ``target``: class ids ``[n]`` or soft targets ``[n, k]`` (rows summing to 1); for one-hot
    rows both give the same value. With ``multilabel``, ``target`` holds 0/1 set indicators
    ``[n, k]`` and the loss is the binary cross-entropy of each class's logit, summed over
    classes and averaged over notes (the scale of one cross-entropy per note), the positive
    terms weighted by the class weight (so a rare class's members count as a common one's).
    """
    if multilabel:
        t = target.float()
        pos = t if weights is None else t * weights[None, :]
        logits = logits.float()
        terms = pos * F.logsigmoid(logits) + (1.0 - t) * F.logsigmoid(-logits)
        return -terms.sum(dim=1).mean()
    if target.dim() == 1:
        return F.cross_entropy(logits.float(), target, weight=weights)
    logp = F.log_softmax(logits.float(), dim=-1)
    t = target.float()
    if weights is not None:
        t = t * weights[None, :]
    return -(t * logp).sum() / t.sum().clamp_min(1e-12)
