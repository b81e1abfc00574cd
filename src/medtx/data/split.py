"""Group-aware, label-stratified train/validation/test split.

Identical notes (same ``group``: hash of the lower-cased, whitespace-collapsed text) always land
on the same side, so a note filed under two specialties can never be in train and test at once.
Within each class, groups are shuffled with the seed and cut by the configured fractions, so
every class is represented on every side as far as its number of distinct notes allows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medtx.config import SplitSettings
from medtx.errors import TrainingError

SIDES = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    labels: list[str]
    seed: int
    overlap: dict = field(default_factory=dict)

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def frame(self, side: str) -> pd.DataFrame:
        if side not in SIDES:
            raise ValueError(f"unknown split side {side!r}; one of {SIDES}")
        return getattr(self, side)

    def y(self, side: str) -> np.ndarray:
        """Class ids of one side, in row order."""
        ids = self.label2id
        return np.array([ids[label] for label in self.frame(side)["label"]], dtype=np.int64)

    def summary(self) -> dict:
        """JSON-serialisable description for cards and logs (no note text)."""
        return {
            "sizes": {s: int(len(self.frame(s))) for s in SIDES},
            "groups": {s: int(self.frame(s)["group"].nunique()) for s in SIDES},
            "class_counts": {
                s: {k: int(v) for k, v in self.frame(s)["label"].value_counts().sort_index().items()}
                for s in SIDES
            },
            "overlap": dict(self.overlap),
            "seed": self.seed,
            "labels": list(self.labels),
            "test_multi_label_notes": int(
                self.test.drop_duplicates("group")["all_labels"].map(len).gt(1).sum()
            ),
            "classes_missing_from_train": sorted(set(self.labels) - set(self.train["label"])),
        }


def _side_counts(n: int, test_size: float, val_size: float) -> tuple[int, int, int]:
    """How many groups of one class go to (train, val, test); train never empty."""
    if n <= 1:
        return n, 0, 0
    if n == 2:
        return 1, 0, 1
    n_test = max(1, int(round(n * test_size)))
    n_val = max(1, int(round(n * val_size)))
    n_train = n - n_test - n_val
    if n_train < 1:
        n_val = max(0, n_val - (1 - n_train))
        n_train = n - n_test - n_val
    return n_train, n_val, n_test


def split_notes(notes: pd.DataFrame, settings: SplitSettings) -> Split:
    """Split a notes frame (note_id, text, label, group) into train/val/test by group."""
    missing = {"note_id", "text", "label", "group"} - set(notes.columns)
    if missing:
        raise TrainingError(f"notes frame lacks column(s) {sorted(missing)}")
    if notes.empty:
        raise TrainingError("no notes left to split after validation and the label policy")
    labels_of = notes.groupby("group")["label"].agg(lambda s: sorted(set(s)))
    freq = notes["label"].value_counts()
    # a group with several labels is stratified by its rarest label (helps small classes)
    primary = labels_of.map(lambda ls: min(ls, key=lambda lab: (freq[lab], lab)))
    rng = np.random.default_rng(settings.seed)
    side_of: dict[str, str] = {}
    for label in sorted(primary.unique()):
        groups = np.array(sorted(primary.index[primary == label]))
        rng.shuffle(groups)
        n_train, n_val, _ = _side_counts(len(groups), settings.test_size, settings.val_size)
        for i, g in enumerate(groups):
            side_of[g] = "train" if i < n_train else "val" if i < n_train + n_val else "test"
    frame = notes.assign(all_labels=notes["group"].map(labels_of))
    frame["side"] = frame["group"].map(side_of)
    parts = {
        s: frame[frame["side"] == s].drop(columns="side").sort_values("note_id").reset_index(drop=True)
        for s in SIDES
    }
    on_side = {s: set(parts[s]["group"]) for s in SIDES}
    overlap = {
        "train_val": len(on_side["train"] & on_side["val"]),
        "train_test": len(on_side["train"] & on_side["test"]),
        "val_test": len(on_side["val"] & on_side["test"]),
    }
    if any(overlap.values()):  # impossible by construction; kept as a proof, not a hope
        raise TrainingError(f"split leaks notes between sides: {overlap}")
    if parts["val"].empty or parts["test"].empty:
        raise TrainingError(
            f"too few distinct notes to split ({len(labels_of)} groups): validation or test side is empty"
        )
    return Split(
        train=parts["train"], val=parts["val"], test=parts["test"],
        labels=sorted(notes["label"].unique()), seed=settings.seed, overlap=overlap,
    )
