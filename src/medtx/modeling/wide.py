"""The wide branch of a wide-and-deep classifier: lexical class scores joined with the transformer.

``model.wide: baseline_scores`` feeds the TF-IDF + LinearSVC class scores of a note (the
baseline's, fitted on the same training notes) next to the transformer's pooled representation
into one linear classification head. A linear head over the concatenation ``[h; s]`` is
``W_h h + W_s s + b``: the transformer's own classifier computes ``W_h h + b`` and this branch
adds ``W_s s`` (plus its bias), so the deep part stays a stock Hugging Face model (exported to
ONNX unchanged) and the wide part is a small matrix applied to the lexical scores. Both are
trained together against one loss; the lexical scores of the training notes come from
out-of-fold fits (:func:`medtx.modeling.baseline.out_of_fold_scores`).

In a package the branch is two files, both listed in the manifest and free of pickles:
``wide/branch.json`` (vectorizer parameters, vocabulary in column order, classes) and
``wide/branch.safetensors`` (idf, SVM coefficients and intercepts, the head's ``weight`` and
``bias``). Every runtime adds :meth:`WideBranch.logits` to the transformer's pooled logits.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from medtx.errors import IntegrityError, ModelLoadError
from medtx.modeling.baseline import Baseline, fit_baseline, out_of_fold_scores

if TYPE_CHECKING:  # the training side's types; a serving process loads a branch without them
    from medtx.config import Settings
    from medtx.data.split import Split

log = logging.getLogger("medtx.modeling.wide")
KIND = "baseline_scores"
SPEC_FILE, ARRAYS_FILE = "wide/branch.json", "wide/branch.safetensors"
FILES = (SPEC_FILE, ARRAYS_FILE)


@dataclass
class WideBranch:
    """Lexical class scores of a note and the linear map that turns them into logits."""

    baseline: Baseline
    weight: np.ndarray  # [n_classes, n_features]: this branch's columns of the joint head
    bias: np.ndarray  # [n_classes]

    def __post_init__(self) -> None:
        self.weight = np.asarray(self.weight, dtype=np.float32)
        self.bias = np.asarray(self.bias, dtype=np.float32)
        n = self.baseline.n_classes
        if self.weight.shape != (n, n) or self.bias.shape != (n,):
            raise ValueError(f"wide head of shape {self.weight.shape} / {self.bias.shape} does "
                             f"not fit {n} baseline class scores")

    @property
    def n_classes(self) -> int:
        if self.baseline.n_classes is None:
            raise ValueError("the wide branch's baseline is not fitted")
        return self.baseline.n_classes

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """The branch's input: baseline class scores ``[n, n_classes]``."""
        return self.baseline.decision_scores(list(texts)).astype(np.float32)

    def logits_from(self, features: np.ndarray) -> np.ndarray:
        """The branch's share of the logits for precomputed :meth:`features`."""
        return linear_logits(features, self.weight, self.bias)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return self.logits_from(self.features(texts))

    def files(self) -> dict[str, bytes]:
        """``{relative path: bytes}`` to add to a package (see module docstring)."""
        from safetensors.numpy import save

        spec, arrays = self.baseline.export()
        arrays = {**arrays, "weight": self.weight, "bias": self.bias}
        doc = {"kind": KIND, "baseline": spec}
        return {SPEC_FILE: (json.dumps(doc, sort_keys=True) + "\n").encode("utf-8"),
                ARRAYS_FILE: save({k: np.ascontiguousarray(v) for k, v in arrays.items()})}

    @classmethod
    def from_files(cls, spec_bytes: bytes, array_bytes: bytes, where: str = "package") -> WideBranch:
        from safetensors import SafetensorError
        from safetensors.numpy import load

        try:
            doc = json.loads(spec_bytes)
            arrays = load(array_bytes)
            if doc.get("kind") != KIND:
                raise ValueError(f"unknown wide branch kind {doc.get('kind')!r}")
            baseline = Baseline.restore(doc["baseline"], arrays)
            return cls(baseline, arrays["weight"], arrays["bias"])
        except (ValueError, KeyError, TypeError, SafetensorError) as exc:
            raise ModelLoadError(f"{where}: cannot read the wide branch ({exc})") from None


def linear_logits(features: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``features @ weight.T + bias`` in float32: the wide head's share of the logits."""
    return (np.asarray(features, dtype=np.float32) @ np.asarray(weight, dtype=np.float32).T
            + np.asarray(bias, dtype=np.float32)).astype(np.float32)


def load_wide(root: Path, meta: dict) -> Optional[WideBranch]:
    """The package's wide branch, or None when ``medtx.json`` names none.

    The caller has verified the package (so both files are the manifest's)."""
    spec = meta.get("wide")
    if not spec:
        return None
    root = Path(root)
    missing = [f for f in FILES if not (root / f).is_file()]
    if missing:
        raise IntegrityError(f"model package {root}: medtx.json names a wide branch but "
                             f"{', '.join(missing)} is missing")
    branch = WideBranch.from_files((root / SPEC_FILE).read_bytes(), (root / ARRAYS_FILE).read_bytes(),
                                   f"model package {root}")
    if branch.n_classes != len(meta["labels"]):
        raise IntegrityError(f"model package {root}: the wide branch scores {branch.n_classes} "
                             f"classes, the package has {len(meta['labels'])} labels")
    return branch


@dataclass
class WideInputs:
    """The wide branch's features of the training and validation notes, and its first head."""

    train: np.ndarray  # [n_train_notes, f]
    val: np.ndarray  # [n_val_notes, f]
    weight: np.ndarray  # [n_classes, f]
    bias: np.ndarray  # [n_classes]


def wide_inputs(split: Split, rows: np.ndarray, settings: Settings,
                targets: Optional[np.ndarray] = None) -> tuple[Baseline, WideInputs, np.ndarray]:
    """The wide branch's lexical model (the baseline fitted on every training row), its
    features for training (out-of-fold, at ``rows``) and validation, its first head, and the
    test features: ``(baseline, WideInputs, test features)``. ``targets``: the training
    targets at ``rows`` (label sets with ``multilabel``, which start the head per class)."""
    texts, y, n = list(split.train["text"]), split.y("train"), len(split.labels)
    seed, knobs = settings.train.seed, settings.baseline
    t0 = time.perf_counter()
    lexical = fit_baseline(texts, y, n, seed=seed, settings=knobs)
    oof = out_of_fold_scores(texts, y, list(split.train["group"]), n, settings.model.wide_folds,
                             seed=seed, settings=knobs)
    balanced = settings.train.class_weights != "none"
    if settings.train.targets == "multilabel":
        weight, bias = initial_head(oof[rows], y[rows], n, seed=seed, balanced=balanced, sets=targets)
    else:
        weight, bias = initial_head(oof, y, n, seed=seed, balanced=balanced)
    inputs = WideInputs(train=oof[rows], val=lexical.decision_scores(list(split.val["text"])),
                        weight=weight, bias=bias)
    log.info("wide branch: lexical scores of %d training rows from %d out-of-fold fits (%.1fs)",
             len(texts), settings.model.wide_folds, time.perf_counter() - t0)
    return lexical, inputs, lexical.decision_scores(list(split.test["text"]))


def initial_head(features: np.ndarray, y: np.ndarray, n_classes: int, seed: int = 0,
                 balanced: bool = True, sets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A starting point for the branch's head: multinomial logistic regression of the labels on
    the (out-of-fold) scores, so training starts from the calibrated stacked baseline and the
    transformer learns what the lexical scores miss. Classes absent from ``y`` keep weight 0
    and a low bias. ``balanced``: class-balanced, like the training loss's default weights.

    ``sets`` (0/1 label sets ``[len(features), n_classes]``, for ``multilabel`` targets): one
    binary logistic regression per class instead, the start that a per-class loss expects (a
    multinomial head's logits are only defined up to a shared shift, which a sigmoid reads as
    every class being likely or none)."""
    from sklearn.linear_model import LogisticRegression

    weight = np.zeros((n_classes, n_classes), dtype=np.float32)
    bias = np.full(n_classes, -5.0, dtype=np.float32)
    if sets is not None:
        sets = np.asarray(sets)
        if sets.shape != (len(features), n_classes):
            raise ValueError(f"label sets of shape {sets.shape}, expected {(len(features), n_classes)}")
        for c in range(n_classes):
            member = sets[:, c] > 0
            if member.all():
                bias[c] = 5.0
            elif member.any():
                fit = LogisticRegression(C=1.0, max_iter=1000, random_state=seed,
                                         class_weight="balanced" if balanced else None)
                fit.fit(features, member.astype(np.int64))
                weight[c], bias[c] = fit.coef_[0], fit.intercept_[0]
        return weight, bias
    y = np.asarray(y, dtype=np.int64)
    present = np.unique(y)
    if len(present) < 2:
        return np.eye(n_classes, dtype=np.float32), np.zeros(n_classes, dtype=np.float32)
    fit = LogisticRegression(C=1.0, max_iter=1000, random_state=seed,
                             class_weight="balanced" if balanced else None).fit(features, y)
    weight[fit.classes_] = fit.coef_ if len(present) > 2 else np.vstack([-fit.coef_, fit.coef_]) / 2
    bias[fit.classes_] = fit.intercept_ if len(present) > 2 else np.array(
        [-fit.intercept_[0], fit.intercept_[0]]) / 2
    return weight, bias


def head_arrays(head: Any) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) of a :func:`torch_head` as float32 numpy copies."""
    return (head.weight.detach().float().cpu().numpy().copy(),
            head.bias.detach().float().cpu().numpy().copy())


def torch_head(weight: np.ndarray, bias: np.ndarray) -> Any:
    """The branch's head as a ``torch.nn.Linear`` (trained with the transformer)."""
    import torch

    head = torch.nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(np.asarray(weight, dtype=np.float32)))
        head.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))
    return head
