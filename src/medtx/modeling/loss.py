"""The training loss: per-class weights and class-weighted cross-entropy."""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F


def class_weights(y: np.ndarray, n_classes: int,
                  mode: Literal["none", "balanced", "sqrt"]) -> torch.Tensor | None:
    """Per-class loss weights: ``balanced`` = n / (k * count), ``sqrt`` = its square root.

    ``k`` is ``n_classes``, present in ``y`` or not; a class absent from ``y`` is weighted as if
    it had one member (it adds nothing to the loss, but its weight stays finite).
    """
    from sklearn.utils.class_weight import compute_class_weight

    if mode == "none":
        return None
    if mode not in ("balanced", "sqrt"):
        raise ValueError(f"class weight mode must be none, balanced or sqrt, got {mode!r}")
    y = np.asarray(y, dtype=np.int64)
    if y.size == 0:
        raise ValueError("class weights need at least one label")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"label ids must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    present = np.unique(y)
    # sklearn divides by the number of classes present; rescale to all n_classes
    w = np.full(n_classes, len(y) / n_classes, dtype=np.float64)
    w[present] = compute_class_weight("balanced", classes=present, y=y) * len(present) / n_classes
    return torch.tensor(np.sqrt(w) if mode == "sqrt" else w, dtype=torch.float32)


def weighted_loss(logits: torch.Tensor, target: torch.Tensor,
                  weights: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy in fp32, weighted per class (mean over the batch's total weight)."""
    return F.cross_entropy(logits.float(), target, weight=weights)
