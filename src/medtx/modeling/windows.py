"""Token windows served as length-grouped, dynamically padded batches (training and inference)."""
from __future__ import annotations

import numpy as np
import torch

from medtx.modeling.features import Encoded


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
