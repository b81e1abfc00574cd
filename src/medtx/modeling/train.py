"""Fine-tuning a sequence classifier on encoded notes.

One training step (:class:`TrainStep`, built by :func:`train_step_factory`) is used by
:func:`finetune` and by ``bench/train_throughput.py``: forward under bf16 autocast on a capable
GPU, class-weighted cross-entropy, backward, gradient clipping, AdamW (fused on CUDA) and a
warmup + linear decay schedule. Batches are grouped by length and padded per batch; the step
never waits for the GPU (the loss stays on the device until the epoch ends).
"""
from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from medtx.errors import TrainingError
from medtx.modeling.features import Encoded

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


def set_seed(seed: int) -> None:
    """The one place random seeds are fixed (python, numpy, torch incl. CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def class_weights(y: np.ndarray, n_classes: int,
                  mode: Literal["none", "balanced", "sqrt"]) -> torch.Tensor | None:
    """Per-class loss weights: ``balanced`` = n / (k * count), ``sqrt`` = its square root."""
    if mode == "none":
        return None
    if mode not in ("balanced", "sqrt"):
        raise ValueError(f"class weight mode must be none, balanced or sqrt, got {mode!r}")
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes).astype(np.float64)
    w = len(y) / (n_classes * np.maximum(counts, 1.0))
    return torch.tensor(np.sqrt(w) if mode == "sqrt" else w, dtype=torch.float32)


def weighted_loss(logits: torch.Tensor, target: torch.Tensor,
                  weights: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy in fp32, weighted per class (mean over the batch's total weight)."""
    return F.cross_entropy(logits.float(), target, weight=weights)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``cuda`` when available unless told otherwise."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_precision(setting: str, device: torch.device) -> str:
    """bf16 on a CUDA device that supports it (``auto``/``bf16``), fp32 otherwise."""
    if setting in ("auto", "bf16") and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if setting == "bf16":
        log.info("bf16 requested but %s has no bf16 support here: training in fp32", device)
    return "fp32"


def _autocast(device: torch.device, precision: str) -> Any:
    bf16 = precision == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


class WindowData:
    """Token windows as one padded array, served in length-grouped, dynamically padded batches."""

    def __init__(self, enc: Encoded, labels: np.ndarray | None, pad_id: int, multiple: int = 8):
        self.lengths = np.array([len(w) for w in enc.input_ids], dtype=np.int64)
        self.cap = int(self.lengths.max(initial=1))  # padding never goes beyond the longest
        self.ids = np.full((len(self.lengths), self.cap), pad_id, dtype=np.int64)
        for i, w in enumerate(enc.input_ids):
            self.ids[i, :len(w)] = w
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.multiple = multiple

    def __len__(self) -> int:
        return len(self.lengths)

    def batches(self, batch_size: int, rng: np.random.Generator, mega: int = 50,
                rows: np.ndarray | None = None) -> list:
        """Shuffle, sort by length inside mega-batches, cut into batches, shuffle the batches.

        ``rows`` restricts the epoch to those windows (default: all of them).
        """
        order = rng.permutation(len(self) if rows is None else np.asarray(rows, dtype=np.int64))
        out = []
        for s in range(0, len(order), batch_size * mega):
            part = order[s:s + batch_size * mega]
            part = part[np.argsort(-self.lengths[part], kind="stable")]
            out.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
        return [out[i] for i in rng.permutation(len(out))]

    def collate(self, idx: np.ndarray, device: torch.device) -> dict:
        """Tensors for one batch; no attention mask when no window in it is padded."""
        lens = self.lengths[idx]
        longest = int(lens.max())
        uniform = bool((lens == longest).all())
        width = longest if uniform else min(-(-longest // self.multiple) * self.multiple, self.cap)
        ids = torch.from_numpy(self.ids[idx, :width])
        mask = None if uniform else (
            torch.arange(width)[None, :] < torch.from_numpy(lens)[:, None]).long()
        batch = {"input_ids": ids, "attention_mask": mask}
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[idx])
        pin = device.type == "cuda"  # pinned host memory lets the copy overlap GPU work
        return {k: v if v is None else (v.pin_memory() if pin else v).to(device, non_blocking=pin)
                for k, v in batch.items()}


def one_window_per_note(note_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions of one randomly drawn window of every note (windows of a note may be anywhere)."""
    index = np.asarray(note_index, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    counts = np.bincount(index)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    present = counts > 0
    draw = starts[present] + np.floor(rng.random(int(present.sum())) * counts[present]).astype(np.int64)
    return np.sort(order[draw])


def _lr_lambda(total: int, warmup_ratio: float) -> Any:
    warm = max(1, int(round(total * warmup_ratio)))
    return lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))


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
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _lr_lambda(total_steps, settings.warmup_ratio))
        self.compiled = bool(settings.compile)
        self._forward_loss = torch.compile(self._eager_forward_loss) if self.compiled \
            else self._eager_forward_loss

    def _eager_forward_loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                            labels: torch.Tensor) -> torch.Tensor:
        with _autocast(self.device, self.precision):
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
    """Deterministic ~proportional subsample of ``cap`` positions (sorted)."""
    y = np.asarray(y)
    if cap >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    key = np.empty(len(y))
    for c in np.unique(y):
        members = perm[y[perm] == c]
        key[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.sort(perm[np.argsort(key[perm], kind="stable")[:cap]])


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


@torch.inference_mode()
def predict_logits(model: Any, enc: Encoded, batch_size: int = 64,
                   device: str | torch.device | None = None) -> np.ndarray:
    """Logits per note ``[n_notes, n_classes]``; windows of one note are mean-pooled."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device).eval()
    n_classes = int(model.config.num_labels)
    if enc.n_notes == 0:
        return np.zeros((0, n_classes), dtype=np.float32)
    index = np.asarray(enc.note_index, dtype=np.int64)
    counts = np.bincount(index, minlength=enc.n_notes)
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} note(s) have no token window")
    data = WindowData(enc, None, getattr(model.config, "pad_token_id", None) or 0)
    order = np.argsort(-data.lengths, kind="stable")
    precision = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    window_logits = np.empty((len(data), n_classes), dtype=np.float32)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        batch = data.collate(idx, device)
        with _autocast(device, precision):
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        window_logits[idx] = out.logits.float().cpu().numpy()
    sums = np.zeros((enc.n_notes, n_classes), dtype=np.float64)
    np.add.at(sums, index, window_logits)
    return (sums / counts[:, None]).astype(np.float32)

