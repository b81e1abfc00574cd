"""Fine-tuning a sequence classifier on encoded notes.

One training step (:class:`TrainStep`, built by :func:`train_step_factory`) is used by
:func:`finetune` and by ``bench/train_throughput.py``: forward under bf16 autocast on a capable
GPU, class-weighted cross-entropy, backward, gradient clipping, AdamW (fused on CUDA) and a
warmup + linear decay schedule. Batches are grouped by length and padded per batch; the step
never waits for the GPU (the loss stays on the device until the epoch ends).

Devices, seeds and precision live in :mod:`runtime`, batching in :mod:`windows`, the loss in
:mod:`loss` and inference in :mod:`inference` (which never imports this module).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from medtx.errors import TrainingError
from medtx.modeling.features import Encoded
from medtx.modeling.inference import predict_logits
from medtx.modeling.loss import class_weights, weighted_loss
from medtx.modeling.runtime import autocast_for, pick_device, pick_precision, set_seed
from medtx.modeling.windows import WindowData, one_window_per_note

log = logging.getLogger("medtx.modeling.train")


@dataclass
class TrainResult:
    """The fine-tuned model (best epoch's weights) and what happened on the way."""

    model: Any
    history: list[dict]
    best_epoch: int
    device: str
    precision: str
    val_logits: np.ndarray  # the best epoch's validation logits, as scored during training


def linear_schedule(optimizer: torch.optim.Optimizer, total_steps: int,
                    warmup_ratio: float) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warmup over ``w = max(1, round(total_steps * warmup_ratio))`` steps, then linear
    decay to 0 just after the last step, from torch's own schedulers (LinearLR, SequentialLR).

    Step ``s`` (from 0) runs at ``(s + 1) / w`` of the peak while warming up, so the first update
    is not wasted at 0 (``transformers.get_linear_schedule_with_warmup`` starts at 0), then at
    ``(total - s) / (total - w)``.
    """
    from torch.optim.lr_scheduler import LinearLR, SequentialLR

    warmup = min(max(1, int(round(total_steps * warmup_ratio))), max(1, total_steps))
    up = LinearLR(optimizer, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup - 1)
    down = LinearLR(optimizer, start_factor=1.0, end_factor=0.0,
                    total_iters=max(1, total_steps - warmup))
    return SequentialLR(optimizer, [up, down], milestones=[warmup])


class TrainStep:
    """Forward, weighted loss, backward, clip, optimizer and scheduler step for one batch."""

    def __init__(self, model: Any, settings: Any, device: torch.device, total_steps: int,
                 weights: torch.Tensor | None = None, max_grad_norm: float | None = 1.0):
        self.model, self.device = model, device
        self.precision = pick_precision(settings.precision, device)
        self.weights = None if weights is None else weights.to(device)
        self.max_grad_norm = max_grad_norm
        self.params = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in self.params if p.ndim >= 2],
                   "weight_decay": settings.weight_decay},
                  {"params": [p for p in self.params if p.ndim < 2], "weight_decay": 0.0}]
        self.optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate,
                                           fused=device.type == "cuda")
        self.scheduler = linear_schedule(self.optimizer, total_steps, settings.warmup_ratio)
        self.compiled = bool(settings.compile)
        self._forward_loss = torch.compile(self._eager_forward_loss) if self.compiled \
            else self._eager_forward_loss

    def _eager_forward_loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                            labels: torch.Tensor) -> torch.Tensor:
        with autocast_for(self.device, self.precision):
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return weighted_loss(logits, labels, self.weights)

    def __call__(self, batch: dict) -> torch.Tensor:
        """Run one step; returns the batch loss as a detached tensor on the device."""
        loss = self._forward_loss(batch["input_ids"], batch["attention_mask"], batch["labels"])
        loss.backward()
        if self.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm, foreach=True)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()


def train_step_factory(model: Any, settings: Any, device: torch.device, total_steps: int,
                       weights: torch.Tensor | None = None) -> TrainStep:
    """The training step :func:`finetune` runs; the throughput bench times this same object."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return TrainStep(model.to(device), settings, device, total_steps, weights)


def stratified_subsample(y: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Deterministic, class-proportional subsample of ``cap`` positions (sorted).

    Classes with a single member are pooled into one stratum (sklearn needs two per stratum);
    a pool of one joins the largest class. When there are more strata than ``cap`` (or than the
    notes left out) the draw is a plain random one.
    """
    from sklearn.model_selection import train_test_split

    y = np.asarray(y)
    if cap >= len(y):
        return np.arange(len(y))
    if cap < 1:
        raise ValueError(f"a subsample needs at least one note, got cap={cap}")
    _, strata, counts = np.unique(y, return_inverse=True, return_counts=True)
    single = counts[strata] == 1
    if single.sum() == 1:
        strata = np.where(single, int(np.argmax(counts)), strata)
    elif single.any():
        strata = np.where(single, -1, strata)
    n_strata = len(np.unique(strata))
    stratify = strata if n_strata <= min(cap, len(y) - cap) else None
    keep, _ = train_test_split(np.arange(len(y)), train_size=cap, stratify=stratify,
                               random_state=seed % 2**32)
    return np.sort(keep)


def _check_inputs(enc: Encoded, y: np.ndarray, n_classes: int, name: str) -> None:
    if enc.n_notes == 0:
        raise TrainingError(f"the {name} split is empty; fine-tuning needs notes in it")
    if len(y) != enc.n_notes or y.min() < 0 or y.max() >= n_classes:
        raise TrainingError(f"{name}: {enc.n_notes} encoded notes need as many label ids "
                            f"in 0..{n_classes - 1}; got {len(y)} ids in {y.min()}..{y.max()}")


def _validate(model: Any, val: Encoded, y: np.ndarray, batch_size: int) -> tuple[dict, np.ndarray]:
    """Validation loss (unweighted), macro-F1 and accuracy, and the logits they came from."""
    from sklearn.metrics import f1_score

    logits = predict_logits(model, val, batch_size=batch_size)
    loss = F.cross_entropy(torch.from_numpy(logits), torch.tensor(y)).item()
    pred = logits.argmax(axis=1)
    return {"val_loss": float(loss), "val_macro_f1": float(f1_score(y, pred, average="macro",
                                                                    zero_division=0)),
            "val_accuracy": float((y == pred).mean())}, logits


def finetune(model: Any, train: Encoded, y_train: Any, val: Encoded, y_val: Any, settings: Any,
             pad_id: int, progress: bool = True) -> TrainResult:
    """Fine-tune ``model`` and keep the epoch with the best validation macro-F1."""
    from tqdm.auto import tqdm

    set_seed(settings.seed)
    y_train, y_val = np.array(y_train, dtype=np.int64), np.array(y_val, dtype=np.int64)
    n_classes = int(model.config.num_labels)
    _check_inputs(train, y_train, n_classes, "train")
    _check_inputs(val, y_val, n_classes, "validation")
    if settings.max_train_notes and settings.max_train_notes < train.n_notes:
        keep = stratified_subsample(y_train, settings.max_train_notes, settings.seed)
        train, y_train = train.select(keep), y_train[keep]
        log.info("training on a subsample of %d notes (train.max_train_notes)", len(keep))
    device = pick_device()
    data = WindowData(train, y_train[np.asarray(train.note_index)], pad_id or 0,
                      multiple=64 if settings.compile else 8)
    sampled = settings.window_sampling == "one_per_note" and len(data) > train.n_notes
    per_epoch = math.ceil((train.n_notes if sampled else len(data)) / settings.batch_size)
    step = train_step_factory(model, settings, device, per_epoch * settings.epochs,
                              class_weights(y_train, n_classes, settings.class_weights))
    log.info("fine-tuning %d windows of %d notes%s on %s (%s%s), %d epochs x %d steps",
             len(data), train.n_notes, ", one window per note per epoch" if sampled else "",
             device, step.precision,
             ", compiled" if step.compiled else "", settings.epochs, per_epoch)
    history: list[dict] = []
    best, best_epoch, best_state, best_val_logits, stale = (-1.0, -math.inf), 0, None, None, 0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        rng = np.random.default_rng([settings.seed, epoch])
        rows = one_window_per_note(train.note_index, rng) if sampled else None
        seen = len(data) if rows is None else len(rows)
        for idx in tqdm(data.batches(settings.batch_size, rng, rows=rows), desc=f"epoch {epoch}",
                        disable=not progress, leave=False):
            loss_sum += step(data.collate(idx, device)) * len(idx)
        train_loss = float(loss_sum.item()) / seen
        train_s = time.perf_counter() - t0
        if not math.isfinite(train_loss):
            raise TrainingError(f"training loss is not finite in epoch {epoch}; "
                                "lower train.learning_rate or use precision fp32")
        val_metrics, val_logits = _validate(model, val, y_val, settings.batch_size * 2)
        rec = {"epoch": epoch, "train_loss": train_loss, **val_metrics,
               "seconds": time.perf_counter() - t0, "train_windows": seen,
               "samples_per_s": seen / train_s}
        history.append(rec)
        log.info("epoch %d: train_loss=%.4f val_loss=%.4f val_macro_f1=%.4f val_accuracy=%.4f "
                 "%.1fs %.1f samples/s", epoch, train_loss, rec["val_loss"], rec["val_macro_f1"],
                 rec["val_accuracy"], rec["seconds"], rec["samples_per_s"])
        score = (rec["val_macro_f1"], -rec["val_loss"])  # ties on F1 go to the lower loss
        if score > best:
            best, best_epoch, best_val_logits, stale = score, epoch, val_logits, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= settings.patience:
                log.info("early stop after epoch %d (best epoch %d)", epoch, best_epoch)
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, history, best_epoch, str(device), step.precision, best_val_logits)
