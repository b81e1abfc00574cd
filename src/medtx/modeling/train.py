"""Fine-tuning a sequence classifier on encoded notes.

One training step (:class:`TrainStep`, built by :func:`train_step_factory`) is used by
:func:`finetune` and by ``bench/train_throughput.py``: forward under bf16 autocast on a capable
GPU, class-weighted cross-entropy, backward, gradient clipping, AdamW (fused on CUDA) and a
warmup + linear decay schedule. Batches are grouped by length and padded per batch; the step
never waits for the GPU (the loss stays on the device until the epoch ends).

Targets are class ids, soft label distributions or label sets (:mod:`targets`); a wide branch (a linear
map of lexical class scores, :mod:`wide`) can be trained with the transformer; with
``window_sampling: pooled`` a batch holds whole notes and window logits are mean-pooled before
the loss; parameter groups give layer-wise learning-rate decay and a head learning rate.

Devices, seeds and precision live in :mod:`runtime`, batching in :mod:`windows`, the loss in
:mod:`loss` and inference in :mod:`inference` (which never imports this module).
"""
from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from medtx.config import TrainSettings
from medtx.errors import TrainingError
from medtx.modeling.features import Encoded
from medtx.modeling.inference import predict_logits
from medtx.modeling.loss import class_weights, weighted_loss
from medtx.modeling.runtime import autocast_for, pick_device, pick_precision, set_seed
from medtx.modeling.wide import WideInputs, head_arrays, linear_logits, torch_head
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
    wide_head: Optional[tuple[np.ndarray, np.ndarray]] = None  # the wide branch's (weight, bias)


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


_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|block|h)\.(\d+)\.")


def layer_depth(name: str, n_layers: int) -> int:
    """Depth of a parameter for layer-wise decay: 0 embeddings, ``i + 1`` transformer layer
    ``i``, ``n_layers + 1`` everything above the layers (pooler, classifier head)."""
    m = _LAYER.search(name)
    if m:
        return min(int(m.group(1)), n_layers - 1) + 1
    if "embed" in name:
        return 0
    return n_layers + 1


def param_groups(model: Any, settings: TrainSettings, extra: Sequence[Any] = ()) -> list[dict]:
    """AdamW groups: the head (and ``extra`` modules, e.g. the wide branch) at
    ``head_learning_rate``, transformer layer ``i`` of ``L`` at ``learning_rate * layer_decay **
    (L - 1 - i)``, the embeddings one step lower; no weight decay on biases and norms."""
    cfg = getattr(model, "config", None)
    n_layers = int(getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layers", None) or 1)
    base, decay = float(settings.learning_rate), float(settings.layer_decay)
    head_lr = float(settings.head_learning_rate or base)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    named += [(f"extra.{i}.{n}", p) for i, m in enumerate(extra) for n, p in m.named_parameters()
              if p.requires_grad]
    groups: dict[tuple[float, float], list] = {}
    for name, p in named:
        depth = n_layers + 1 if name.startswith("extra.") else layer_depth(name, n_layers)
        lr = head_lr if depth > n_layers else base * decay ** (n_layers - depth)
        wd = settings.weight_decay if p.ndim >= 2 else 0.0
        groups.setdefault((lr, wd), []).append(p)
    return [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]


class TrainStep:
    """Forward, weighted loss, backward, clip, optimizer and scheduler step for one batch.

    A batch may carry ``pool`` (window -> note: window logits are mean-pooled per note before
    the loss), ``wide`` (the wide branch's features, one row per target) and soft ``labels``.
    """

    def __init__(self, model: Any, settings: TrainSettings, device: torch.device, total_steps: int,
                 weights: torch.Tensor | None = None, max_grad_norm: float | None = 1.0,
                 wide: Any = None):
        self.model, self.device, self.wide = model, device, wide
        self.precision = pick_precision(settings.precision, device)
        self.weights = None if weights is None else weights.to(device)
        self.max_grad_norm = max_grad_norm
        self.multilabel = settings.targets == "multilabel"
        groups = param_groups(model, settings, [wide] if wide is not None else [])
        self.params = [p for g in groups for p in g["params"]]
        self.optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate,
                                           fused=device.type == "cuda")
        self.scheduler = linear_schedule(self.optimizer, total_steps, settings.warmup_ratio)
        self.compiled = bool(settings.compile)
        self._forward_loss = torch.compile(self._eager_forward_loss) if self.compiled \
            else self._eager_forward_loss

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
               pool: torch.Tensor | None = None, wide: torch.Tensor | None = None,
               n_notes: int | None = None) -> torch.Tensor:
        """Logits per target row; with ``pool``, the mean of each note's window logits
        (``n_notes``: notes in the batch, known on the host, so the step never waits on the
        device to count them)."""
        with autocast_for(self.device, self.precision):
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        logits = logits.float()
        if pool is not None:
            n = int(pool.max().item()) + 1 if n_notes is None else int(n_notes)
            sums = torch.zeros(n, logits.shape[1], device=logits.device).index_add_(0, pool, logits)
            counts = torch.bincount(pool, minlength=n).clamp_min(1).to(logits.dtype)
            logits = sums / counts[:, None]
        if self.wide is not None:
            logits = logits + self.wide(wide)
        return logits

    def _eager_forward_loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                            labels: torch.Tensor, pool: torch.Tensor | None = None,
                            wide: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.logits(input_ids, attention_mask, pool, wide, n_notes=labels.shape[0])
        return weighted_loss(logits, labels, self.weights, self.multilabel)

    def __call__(self, batch: dict) -> torch.Tensor:
        """Run one step; returns the batch loss as a detached tensor on the device."""
        loss = self._forward_loss(batch["input_ids"], batch["attention_mask"], batch["labels"],
                                  batch.get("pool"), batch.get("wide"))
        loss.backward()
        if self.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm, foreach=True)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()


def train_step_factory(model: Any, settings: TrainSettings, device: torch.device, total_steps: int,
                       weights: torch.Tensor | None = None, wide: Any = None) -> TrainStep:
    """The training step :func:`finetune` runs; the throughput bench times this same object."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return TrainStep(model.to(device), settings, device, total_steps, weights,
                     wide=None if wide is None else wide.to(device))


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


def _check_inputs(enc: Encoded, y: np.ndarray, n_classes: int, name: str,
                  multilabel: bool = False) -> None:
    if enc.n_notes == 0:
        raise TrainingError(f"the {name} split is empty; fine-tuning needs notes in it")
    if multilabel:
        if y.ndim != 2 or y.shape != (enc.n_notes, n_classes) \
                or not np.isin(y, (0.0, 1.0)).all() or (y.sum(axis=1) < 1).any():
            raise TrainingError(f"{name}: {enc.n_notes} encoded notes need as many label sets "
                                f"of {n_classes} 0/1 values with at least one 1; got {y.shape}")
        return
    if y.ndim == 2:
        if y.shape != (enc.n_notes, n_classes) or (y < 0).any() \
                or not np.allclose(y.sum(axis=1), 1.0, atol=1e-4):
            raise TrainingError(f"{name}: {enc.n_notes} encoded notes need as many soft targets "
                                f"of {n_classes} non-negative values summing to 1; got {y.shape}")
        return
    if len(y) != enc.n_notes or y.min() < 0 or y.max() >= n_classes:
        raise TrainingError(f"{name}: {enc.n_notes} encoded notes need as many label ids "
                            f"in 0..{n_classes - 1}; got {len(y)} ids in {y.min()}..{y.max()}")


def _validate(model: Any, val: Encoded, y: np.ndarray, batch_size: int,
              extra: Optional[np.ndarray] = None) -> tuple[dict, np.ndarray]:
    """Validation loss (unweighted), macro-F1 and accuracy, and the logits they came from
    (``extra``: logits added to the transformer's, e.g. the wide branch's share)."""
    from sklearn.metrics import f1_score

    logits = predict_logits(model, val, batch_size=batch_size)
    if extra is not None:
        logits = logits + extra
    loss = F.cross_entropy(torch.from_numpy(logits), torch.tensor(y)).item()
    pred = logits.argmax(axis=1)
    return {"val_loss": float(loss), "val_macro_f1": float(f1_score(y, pred, average="macro",
                                                                    zero_division=0)),
            "val_accuracy": float((y == pred).mean())}, logits


def finetune(model: Any, train: Encoded, y_train: Any, val: Encoded, y_val: Any, settings: TrainSettings,
             pad_id: int, progress: bool = True, wide: Optional[WideInputs] = None) -> TrainResult:
    """Fine-tune ``model`` and keep the epoch with the best validation macro-F1.

    ``y_train``: one class id per training note, soft targets ``[n_notes, n_classes]``, or
    0/1 label sets of that shape with ``settings.targets == "multilabel"``;
    ``wide``: train a wide branch with the transformer (its head is returned in the result).
    """
    from tqdm.auto import tqdm

    set_seed(settings.seed)
    y_train = np.array(y_train, dtype=np.float32 if np.ndim(y_train) == 2 else np.int64)
    y_val = np.array(y_val, dtype=np.int64)
    n_classes = int(model.config.num_labels)
    _check_inputs(train, y_train, n_classes, "train", settings.targets == "multilabel")
    _check_inputs(val, y_val, n_classes, "validation")
    wide_train: Optional[np.ndarray] = None
    if wide is not None:
        wide_train = np.asarray(wide.train, dtype=np.float32)
        if len(wide_train) != train.n_notes or len(wide.val) != val.n_notes:
            raise TrainingError(f"wide features for {len(wide_train)} train / {len(wide.val)} "
                                f"validation notes, expected {train.n_notes} / {val.n_notes}")
    if settings.max_train_notes and settings.max_train_notes < train.n_notes:
        hard = y_train.argmax(axis=1) if y_train.ndim == 2 else y_train
        keep = stratified_subsample(hard, settings.max_train_notes, settings.seed)
        train, y_train = train.select(keep), y_train[keep]
        wide_train = None if wide_train is None else wide_train[keep]
        log.info("training on a subsample of %d notes (train.max_train_notes)", len(keep))
    device = pick_device()
    index = np.asarray(train.note_index)
    data = WindowData(train, y_train[index], pad_id or 0, multiple=64 if settings.compile else 8,
                      wide=None if wide_train is None else wide_train[index])
    pooled = settings.window_sampling == "pooled"
    sampled = settings.window_sampling == "one_per_note" and len(data) > train.n_notes
    per_epoch = math.ceil((train.n_notes if sampled or pooled else len(data)) / settings.batch_size)
    head = None if wide is None else torch_head(wide.weight, wide.bias)
    step = train_step_factory(model, settings, device, per_epoch * settings.epochs,
                              class_weights(y_train, n_classes, settings.class_weights), wide=head)
    log.info("fine-tuning %d windows of %d notes%s%s%s on %s (%s%s), %d epochs x %d steps",
             len(data), train.n_notes, ", one window per note per epoch" if sampled else "",
             ", windows pooled per note" if pooled else "",
             ", with the wide branch" if head is not None else "", device, step.precision,
             ", compiled" if step.compiled else "", settings.epochs, per_epoch)
    history: list[dict] = []
    best, best_epoch, best_state, best_val_logits, stale = (-1.0, -math.inf), 0, None, None, 0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        rng = np.random.default_rng([settings.seed, epoch])
        collate: Callable[[np.ndarray, torch.device], dict]
        if pooled:
            batches, collate, seen = data.note_batches(settings.batch_size, rng), data.collate_notes, \
                train.n_notes
        else:
            rows = one_window_per_note(train.note_index, rng) if sampled else None
            batches, collate = data.batches(settings.batch_size, rng, rows=rows), data.collate
            seen = len(data) if rows is None else len(rows)
        for idx in tqdm(batches, desc=f"epoch {epoch}", disable=not progress, leave=False):
            loss_sum += step(collate(idx, device)) * len(idx)
        train_loss = float(loss_sum.item()) / seen
        train_s = time.perf_counter() - t0
        if not math.isfinite(train_loss):
            raise TrainingError(f"training loss is not finite in epoch {epoch}; "
                                "lower train.learning_rate or use precision fp32")
        val_metrics, val_logits = _validate(
            model, val, y_val, settings.batch_size * 2,
            None if head is None or wide is None else linear_logits(wide.val, *head_arrays(head)))
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
            best_head = None if head is None else head_arrays(head)
        else:
            stale += 1
            if stale >= settings.patience:
                log.info("early stop after epoch %d (best epoch %d)", epoch, best_epoch)
                break
    if best_state is None or best_val_logits is None:  # every epoch scored NaN on validation
        raise TrainingError("no epoch reached a comparable validation score (macro-F1 is not a number)")
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, history, best_epoch, str(device), step.precision, best_val_logits,
                       wide_head=best_head)
