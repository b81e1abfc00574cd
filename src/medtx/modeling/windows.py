"""Token windows served as length-grouped, dynamically padded batches (training and inference).

A batch of windows (``collate``) carries one target per window; a batch of whole notes
(``collate_notes``, for training on every window of a note at once) carries the windows of its
notes, a ``pool`` index from window to note, and one target per note.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from medtx.modeling.features import Encoded


class WindowData:
    """Token windows as one padded array, served in length-grouped, dynamically padded batches.

    ``labels``: per window, class ids ``[n_windows]`` or soft targets ``[n_windows, k]``;
    ``wide``: per window, the wide branch's input features ``[n_windows, f]`` (optional).
    """

    def __init__(self, enc: Encoded, labels: np.ndarray | None, pad_id: int, multiple: int = 8,
                 wide: np.ndarray | None = None):
        self.lengths = np.array([len(w) for w in enc.input_ids], dtype=np.int64)
        self.cap = int(self.lengths.max(initial=1))  # padding never goes beyond the longest
        self.ids = np.full((len(self.lengths), self.cap), pad_id, dtype=np.int64)
        for i, w in enumerate(enc.input_ids):
            self.ids[i, :len(w)] = w
        self.note_index = np.asarray(enc.note_index, dtype=np.int64)
        self.labels = None if labels is None else np.asarray(labels)
        if self.labels is not None:
            self.labels = self.labels.astype(np.float32 if self.labels.ndim == 2 else np.int64)
        self.wide = None if wide is None else np.asarray(wide, dtype=np.float32)
        for name, arr in (("labels", self.labels), ("wide", self.wide)):
            if arr is not None and len(arr) != len(self.lengths):
                raise ValueError(f"{name} has {len(arr)} rows for {len(self.lengths)} windows")
        self.multiple = multiple
        self._by_note: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    def batches(self, batch_size: int, rng: np.random.Generator, mega: int = 50,
                rows: np.ndarray | None = None) -> list:
        """Shuffle, sort by length inside mega-batches, cut into batches, shuffle the batches.

        ``rows`` restricts the epoch to those windows (default: all of them).
        """
        order = rng.permutation(len(self) if rows is None else np.asarray(rows, dtype=np.int64))
        return _grouped(order, self.lengths, batch_size, rng, mega)

    def collate(self, idx: np.ndarray, device: torch.device) -> dict:
        """Tensors for one batch; no attention mask when no window in it is padded."""
        batch = self._windows(idx)
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[idx])
        if self.wide is not None:
            batch["wide"] = torch.from_numpy(self.wide[idx])
        return _to_device(batch, device)

    # whole notes ---------------------------------------------------------------------------
    def windows_of(self, note: int) -> np.ndarray:
        if self._by_note is None:
            order = np.argsort(self.note_index, kind="stable")
            counts = np.bincount(self.note_index)
            self._by_note = np.split(order, np.cumsum(counts)[:-1])
        return self._by_note[note]

    def note_batches(self, batch_size: int, rng: np.random.Generator, mega: int = 50) -> list:
        """Batches of note positions, grouped by the notes' total tokens (as :meth:`batches`)."""
        n_notes = int(self.note_index.max(initial=-1)) + 1
        tokens = np.bincount(self.note_index, weights=self.lengths, minlength=n_notes)
        return _grouped(rng.permutation(n_notes), tokens, batch_size, rng, mega)

    def collate_notes(self, notes: np.ndarray, device: torch.device) -> dict:
        """Every window of ``notes`` with ``pool`` (window -> note position in the batch) and
        one label / wide row per note (taken from the note's first window)."""
        parts = [self.windows_of(int(n)) for n in notes]
        idx = np.concatenate(parts)
        first = np.array([p[0] for p in parts], dtype=np.int64)
        batch = self._windows(idx)
        batch["pool"] = torch.from_numpy(np.repeat(np.arange(len(parts)), [len(p) for p in parts]))
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[first])
        if self.wide is not None:
            batch["wide"] = torch.from_numpy(self.wide[first])
        return _to_device(batch, device)

    def _windows(self, idx: np.ndarray) -> dict:
        lens = self.lengths[idx]
        longest = int(lens.max())
        uniform = bool((lens == longest).all())
        width = longest if uniform else min(-(-longest // self.multiple) * self.multiple, self.cap)
        ids = torch.from_numpy(self.ids[idx, :width])
        mask = None if uniform else (
            torch.arange(width)[None, :] < torch.from_numpy(lens)[:, None]).long()
        return {"input_ids": ids, "attention_mask": mask}


def _grouped(order: np.ndarray, sizes: np.ndarray, batch_size: int, rng: np.random.Generator,
             mega: int) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for s in range(0, len(order), batch_size * mega):
        part = order[s:s + batch_size * mega]
        part = part[np.argsort(-sizes[part], kind="stable")]
        out.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    return [out[i] for i in rng.permutation(len(out))]


def _to_device(batch: dict, device: torch.device) -> dict:
    pin = device.type == "cuda"  # pinned host memory lets the copy overlap GPU work
    return {k: v if v is None else (v.pin_memory() if pin else v).to(device, non_blocking=pin)
            for k, v in batch.items()}


def one_window_per_note(note_index: Sequence[int] | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions of one randomly drawn window of every note (windows of a note may be anywhere)."""
    index = np.asarray(note_index, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    counts = np.bincount(index)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    present = counts > 0
    draw = starts[present] + np.floor(rng.random(int(present.sum())) * counts[present]).astype(np.int64)
    return np.sort(order[draw])
