"""The reference profile: what "unchanged traffic" looks like, stored inside the model package.

Built at training time so that monitoring needs no training data. The vocabulary (for the
out-of-vocabulary rate) and the TF-IDF -> SVD reducer are fitted on the *training* notes; the
reference sample - descriptors, reduced vectors and calibrated probabilities - comes from
*held-out* notes (validation and test by default), because traffic is held-out too: a model's
confidences on its own training notes, or the OOV rate of the notes that made the vocabulary,
would differ from any new traffic and raise false alarms.

Files (in the package, listed in its manifest; no pickles): ``monitor/profile.json`` (labels,
vocabulary, metadata) and ``monitor/profile.npz`` (plain numeric and string arrays, read with
``allow_pickle=False``). No note text is stored.
"""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from medtx.config import Settings
from medtx.data.split import Split
from medtx.errors import MonitorError
from medtx.monitor.descriptors import COLUMNS, TextReducer, build_vocabulary, describe, fit_reducer, note_hash

log = logging.getLogger("medtx.monitor.profile")
PROFILE_JSON, PROFILE_NPZ = "monitor/profile.json", "monitor/profile.npz"
FORMAT = 1
MIN_REFERENCE = 20  # held-out notes a profile needs
MAX_TERMS = 10_000  # reducer vocabulary: 64 dims x 10k terms in float32 is 2.5 MB


@dataclass(frozen=True)
class ReferenceProfile:
    """Reference descriptors, vectors and calibrated probabilities of held-out notes."""

    labels: tuple[str, ...]
    vocabulary: frozenset[str] = field(repr=False)
    descriptors: pd.DataFrame = field(repr=False)
    vectors: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    reducer: TextReducer = field(repr=False)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.descriptors)

    def files(self) -> dict[str, str | bytes]:
        """``{relative path: text or bytes}`` for :func:`medtx.modeling.package.add_files`."""
        doc = {"format": FORMAT, "labels": list(self.labels), "meta": self.meta,
               "descriptor_columns": list(COLUMNS), "vocabulary": sorted(self.vocabulary)}
        arrays = {f"descriptor_{c}": self.descriptors[c].to_numpy() for c in COLUMNS}
        arrays.update(vectors=self.vectors.astype(np.float32),
                      probabilities=self.probabilities.astype(np.float32))
        reducer = self.reducer.to_arrays()
        arrays.update({f"reducer_{k}": v for k, v in reducer.items()})
        arrays["reducer_components"] = arrays["reducer_components"].astype(np.float32)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return {PROFILE_JSON: json.dumps(doc, indent=1, sort_keys=True), PROFILE_NPZ: buf.getvalue()}


def _cut(n: int, max_notes: int, seed: int) -> np.ndarray:
    """Row indices: all of them, or a seeded random ``max_notes`` in their original order."""
    if n <= max_notes:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_notes, replace=False))


def build_profile(train_texts: Sequence[Optional[str]], reference_texts: Sequence[Optional[str]],
                  reference_probs: Any, labels: Sequence[str], dims: int = 64, seed: int = 0,
                  max_notes: int = 2000, meta: Optional[dict] = None) -> ReferenceProfile:
    """Fit vocabulary and reducer on ``train_texts``; describe ``reference_texts`` (held-out
    notes, cut to ``max_notes``) with the model's calibrated ``reference_probs`` for them.

    Each distinct note (by :func:`note_hash`) is kept once: a note filed under several labels
    is one sample of traffic, and twins in the reference make the two-sample tests fire on
    unchanged traffic (the MMD and classifier tests treat rows as independent)."""
    probs = np.asarray(reference_probs, dtype=np.float64)
    labels = tuple(str(x) for x in labels)
    if probs.ndim != 2 or probs.shape != (len(reference_texts), len(labels)):
        raise MonitorError(f"reference probabilities have shape {probs.shape}; expected "
                           f"({len(reference_texts)}, {len(labels)}) for the notes and labels given")
    seen: set[str] = set()
    distinct: list[int] = []
    for i, text in enumerate(reference_texts):
        h = note_hash(text)
        if h not in seen:
            seen.add(h)
            distinct.append(i)
    if len(distinct) < MIN_REFERENCE:
        raise MonitorError(f"a reference profile needs at least {MIN_REFERENCE} distinct held-out "
                           f"notes, got {len(distinct)}")
    keep = np.asarray(distinct)[_cut(len(distinct), max_notes, seed)]
    ref_texts = [reference_texts[i] for i in keep]
    vocabulary = build_vocabulary(train_texts)
    reducer = fit_reducer(list(train_texts), dims=dims, seed=seed, max_terms=MAX_TERMS)
    info = {"reference_notes": len(keep), "reference_available": len(reference_texts),
            "reference_distinct": len(distinct),
            "train_notes": len(train_texts), "vocabulary": len(vocabulary),
            "dims": reducer.dims, "seed": seed, **(meta or {})}
    return ReferenceProfile(labels=labels, vocabulary=vocabulary,
                            descriptors=describe(ref_texts, vocabulary),
                            vectors=reducer.transform(ref_texts), probabilities=probs[keep],
                            reducer=reducer, meta=info)


def reference_profile(split: Split, logits: dict[str, np.ndarray], temperature: float,
                      settings: Settings) -> Optional[ReferenceProfile]:
    """The monitoring reference of a trained model: vocabulary and reducer from ``split``'s
    training notes; descriptors, vectors and calibrated probabilities (the model's ``logits``
    per side at ``temperature``) of the held-out sides in ``monitor.reference_sides``. None,
    logged, when they hold fewer than MIN_REFERENCE distinct notes: such a model is not monitored."""
    from medtx.modeling.inference import softmax

    sides = list(settings.monitor.reference_sides)
    texts = [t for side in sides for t in split.frame(side)["text"]]
    probs = np.vstack([softmax(np.asarray(logits[side]), temperature) for side in sides])
    distinct = len({note_hash(t) for t in texts})  # the profile keeps each note once
    if distinct < MIN_REFERENCE:
        log.warning("no monitoring profile: %d distinct held-out notes in %s, %d needed",
                    distinct, "+".join(sides), MIN_REFERENCE)
        return None
    return build_profile(list(split.train["text"]), texts, probs, split.labels,
                         dims=settings.monitor.reducer_dims, seed=settings.split.seed,
                         max_notes=settings.monitor.reference_max_notes,
                         meta={"sides": sides, "temperature": temperature})


def has_profile(pkg_dir: str | Path) -> bool:
    root = Path(pkg_dir)
    return (root / PROFILE_JSON).is_file() and (root / PROFILE_NPZ).is_file()


def load_profile(pkg_dir: str | Path) -> ReferenceProfile:
    """The profile stored in a model package folder (verify the package before: Predictor.load
    or :func:`medtx.modeling.package.verify_package`)."""
    root = Path(pkg_dir)
    if not has_profile(root):
        raise MonitorError(f"model package {root} has no reference profile ({PROFILE_JSON}); "
                           "it was trained before monitoring existed: retrain it (TrainFlow "
                           "stores a profile in every package)")
    try:
        doc = json.loads((root / PROFILE_JSON).read_text(encoding="utf-8"))
        with np.load(root / PROFILE_NPZ, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise MonitorError(f"reference profile in {root} cannot be read: {exc}") from None
    if doc.get("format") != FORMAT:
        raise MonitorError(f"reference profile in {root} has format {doc.get('format')!r}, "
                           f"this medtx reads format {FORMAT}")
    try:
        frame = pd.DataFrame({c: arrays[f"descriptor_{c}"] for c in doc["descriptor_columns"]})
        reducer = TextReducer.from_arrays({k[len("reducer_"):]: v for k, v in arrays.items()
                                           if k.startswith("reducer_")})
        profile = ReferenceProfile(
            labels=tuple(doc["labels"]), vocabulary=frozenset(doc["vocabulary"]),
            descriptors=frame.astype({"empty": bool}), vectors=arrays["vectors"].astype(np.float64),
            probabilities=arrays["probabilities"].astype(np.float64), reducer=reducer,
            meta=dict(doc.get("meta") or {}))
    except (KeyError, ValueError) as exc:
        raise MonitorError(f"reference profile in {root} is incomplete: {exc}") from None
    n = len(profile.descriptors)
    if profile.vectors.shape[0] != n or profile.probabilities.shape != (n, len(profile.labels)):
        raise MonitorError(f"reference profile in {root} is inconsistent: {n} descriptor rows, "
                           f"vectors {profile.vectors.shape}, probabilities "
                           f"{profile.probabilities.shape} for {len(profile.labels)} labels")
    return profile
