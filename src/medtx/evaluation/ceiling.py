"""The single-label ceiling: the best any one-label-per-note classifier can score on rows
where the same note carries several labels."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medtx.evaluation.document import Ceiling


def label_ceiling(y_true: np.ndarray, groups: Sequence[object], n_classes: int,
                  max_rounds: int = 20) -> Ceiling:
    """The best a single-label classifier can score when one note carries several labels.

    A test set over distinct (note, label) pairs holds a note filed under two specialties
    twice; any classifier gives both rows the same prediction, so at most one is right.
    ``accuracy`` is that exact bound (notes / rows). ``macro_f1`` is found by coordinate
    ascent over which of its labels each multi-label note is credited with (starting from its
    rarest label), so it is reachable by an oracle and within a hair of the exact optimum.
    """
    t = np.asarray(y_true, dtype=np.int64)
    g = list(groups)
    if t.ndim != 1 or t.size == 0 or len(g) != t.size:
        raise ValueError(f"label_ceiling needs equal-length non-empty labels and groups ({t.size}, {len(g)})")
    rows_of: dict = {}
    for i, key in enumerate(g):
        rows_of.setdefault(key, []).append(int(t[i]))
    support = np.bincount(t, minlength=n_classes).astype(np.int64)
    present = support > 0
    tp = np.zeros(n_classes, dtype=np.int64)
    fp = np.zeros(n_classes, dtype=np.int64)

    def credit(labels: list, choice: int, sign: int) -> None:
        for lab in labels:
            if lab == choice:
                tp[choice] += sign
            else:
                fp[choice] += sign

    def macro() -> float:
        fn = support - tp
        denom = 2 * tp + fp + fn
        f1 = np.divide(2 * tp, denom, out=np.zeros(n_classes), where=denom > 0)
        return float(f1[present].mean())

    choice = {}
    for key, labels in rows_of.items():
        choice[key] = min(set(labels), key=lambda c: (support[c], c))
        credit(labels, choice[key], +1)
    multi = [key for key, labels in rows_of.items() if len(set(labels)) > 1]
    best = macro()
    for _ in range(max_rounds):
        improved = False
        for key in multi:
            labels, current = rows_of[key], choice[key]
            for option in sorted(set(labels) - {current}):
                credit(labels, current, -1)
                credit(labels, option, +1)
                score = macro()
                if score > best + 1e-12:
                    best, current, improved = score, option, True
                else:
                    credit(labels, option, -1)
                    credit(labels, current, +1)
            choice[key] = current
        if not improved:
            break
    return Ceiling(accuracy=len(rows_of) / t.size, macro_f1=best, notes=len(rows_of),
                   rows=int(t.size), multi_label_notes=len(multi))
