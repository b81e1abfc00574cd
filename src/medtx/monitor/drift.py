"""Drift signals: two-sample tests on descriptors, text representations and predictions.

Every test returns a :class:`Signal` (statistic, p-value, threshold, verdict, detail) and
rejects at ``p <= alpha``; :func:`correct` then controls the false discovery rate across all
signals of a window (Benjamini-Hochberg via ``scipy.stats.false_discovery_control``).
The reduced text representation (``fit_reducer``) lives in ``descriptors``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd
from scipy import stats

_MIN_EXPECTED = 5.0  # below this expected count the chi-square approximation is not trusted


@dataclass(frozen=True)
class Signal:
    """One drift test on one window: ``drifted`` is ``p_value <= threshold``."""

    name: str
    statistic: float
    p_value: float
    threshold: float
    drifted: bool
    detail: Mapping[str, Any] = field(default_factory=dict)


def _signal(name: str, statistic: float, p_value: float, alpha: float, detail: dict) -> Signal:
    p = float(min(max(p_value, 0.0), 1.0))
    return Signal(name, float(statistic), p, float(alpha), bool(p <= alpha), detail)


def _check_alpha(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return float(alpha)


def _sample(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} sample must be a non-empty 1-d array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} sample has {int(np.sum(~np.isfinite(arr)))} non-finite values")
    return arr


def _vectors(reference: Any, current: Any, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for values, what in ((reference, "reference"), (current, "current")):
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] < min_rows or arr.shape[1] == 0:
            raise ValueError(f"{what} vectors must be a [n>={min_rows}, dims] array, "
                             f"got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.sum(~np.isfinite(arr)))
            raise ValueError(f"{what} vectors have {bad} non-finite values")
        out.append(arr)
    if out[0].shape[1] != out[1].shape[1]:
        raise ValueError(f"dimension mismatch: reference vectors have {out[0].shape[1]} columns, "
                         f"current vectors {out[1].shape[1]}")
    return out[0], out[1]


def ks_signal(name: str, reference: Any, current: Any, alpha: float = 0.05) -> Signal:
    """Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``) of one descriptor.

    With many ties (small integer counts) the test is conservative: false alarms stay below
    ``alpha``, at some cost in power.
    """
    alpha = _check_alpha(alpha)
    ref, cur = _sample(reference, "reference"), _sample(current, "current")
    res = stats.ks_2samp(ref, cur)
    return _signal(name, res.statistic, res.pvalue, alpha, {
        "test": "ks", "n_reference": ref.size, "n_current": cur.size,
        "reference_mean": float(ref.mean()), "current_mean": float(cur.mean())})


def _counts(counts: Any, what: str) -> dict[str, float]:
    if isinstance(counts, Mapping):
        out = {str(k): float(v) for k, v in counts.items()}
    else:
        arr = np.asarray(counts, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"{what} counts must be a mapping or a 1-d array, "
                             f"got shape {arr.shape}")
        out = {str(i): float(v) for i, v in enumerate(arr)}
    if any(not np.isfinite(v) or v < 0 for v in out.values()):
        raise ValueError(f"{what} counts must be finite and non-negative")
    if sum(out.values()) <= 0:
        raise ValueError(f"{what} counts are empty (total 0)")
    return out


def _chi2_stat(table: np.ndarray) -> np.ndarray:
    """Pearson statistic of ``[..., 2, k]`` tables sharing their margins."""
    expected = table.sum(axis=-2, keepdims=True) * table.sum(axis=-1, keepdims=True) / table.sum(
        axis=(-2, -1), keepdims=True)
    return ((table - expected) ** 2 / expected).sum(axis=(-2, -1))


def chi2_signal(name: str, ref_counts: Any, cur_counts: Any, alpha: float = 0.05,
                simulations: int = 2000, seed: int = 0) -> Signal:
    """Chi-square test of homogeneity of category counts (reference vs current).

    Counts are mappings ``category -> count`` (or arrays over the same categories); a category
    missing on one side counts 0 there, one missing on both is dropped. When any expected count
    falls below 5 the asymptotic p-value is replaced by a Monte-Carlo one conditional on the
    margins: current rows are redrawn ``simulations`` times from the pooled counts
    (multivariate hypergeometric) and ``p = (1 + #{simulated >= observed}) / (1 + B)``.
    """
    alpha = _check_alpha(alpha)
    ref, cur = _counts(ref_counts, "reference"), _counts(cur_counts, "current")
    cats = sorted(c for c in set(ref) | set(cur) if ref.get(c, 0) + cur.get(c, 0) > 0)
    table = np.array([[ref.get(c, 0.0) for c in cats], [cur.get(c, 0.0) for c in cats]])
    ref_share, cur_share = table[0] / table[0].sum(), table[1] / table[1].sum()
    change = {c: float(d) for c, d in sorted(zip(cats, cur_share - ref_share),
                                              key=lambda cd: -abs(cd[1]))}
    detail = {"test": "chi2", "categories": cats, "share_change": change,
              "reference_shares": dict(zip(cats, map(float, ref_share))),
              "current_shares": dict(zip(cats, map(float, cur_share)))}
    if len(cats) < 2:
        return _signal(name, 0.0, 1.0, alpha, {**detail, "method": "single category"})
    observed = float(_chi2_stat(table))
    expected = table.sum(axis=0) * table.sum(axis=1)[:, None] / table.sum()
    if expected.min() >= _MIN_EXPECTED:
        p = stats.chi2.sf(observed, df=len(cats) - 1)
        return _signal(name, observed, p, alpha, {**detail, "method": "asymptotic"})
    if not np.allclose(table, np.round(table)):
        raise ValueError(f"{name}: small expected counts need integer counts for the exact test")
    rng = np.random.default_rng(seed)
    pooled, n_cur = np.round(table.sum(axis=0)).astype(np.int64), int(round(table[1].sum()))
    sim_cur = rng.multivariate_hypergeometric(pooled, n_cur, size=simulations).astype(np.float64)
    sims = _chi2_stat(np.stack([pooled - sim_cur, sim_cur], axis=1))
    p = (1 + np.sum(sims >= observed - 1e-9)) / (1 + simulations)
    return _signal(name, observed, p, alpha, {**detail, "method": "monte-carlo",
                                              "simulations": simulations})


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """``(1 + #{null >= observed}) / (1 + B)``: never 0, valid at any ``B``."""
    null = np.asarray(null, dtype=np.float64)
    return float((1 + np.sum(null >= observed)) / (1 + null.size))


def _sq_distances(z: np.ndarray) -> np.ndarray:
    sq = np.sum(z * z, axis=1)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)


def mmd_signal(reference_vectors: Any, current_vectors: Any, permutations: int = 500,
               seed: int = 0, alpha: float = 0.05, name: str = "input_mmd") -> Signal:
    """Permutation test on the unbiased MMD² with an RBF kernel.

    ``k(x, y) = exp(-|x - y|² / (2 s²))`` with ``s`` the median pairwise distance over the
    pooled sample (the median heuristic); the null distribution re-splits the pooled sample
    ``permutations`` times, so it reflects both samples, not the reference alone.
    """
    alpha = _check_alpha(alpha)
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    ref, cur = _vectors(reference_vectors, current_vectors, min_rows=2)
    m, n = len(ref), len(cur)
    d2 = _sq_distances(np.vstack([ref, cur]))
    off = d2[np.triu_indices(m + n, k=1)]
    med = float(np.median(off))
    if med <= 0:
        med = float(off[off > 0].mean()) if np.any(off > 0) else 1.0
    kernel = np.exp(-d2 / (2.0 * med))  # med is the median squared distance, i.e. s²
    rng = np.random.default_rng(seed)
    masks = np.zeros((permutations + 1, m + n))
    masks[0, :m] = 1.0
    for b in range(1, permutations + 1):
        masks[b, rng.permutation(m + n)[:m]] = 1.0
    ks = masks @ kernel
    xx = np.einsum("bi,bi->b", ks, masks) - m  # kernel diagonal is 1
    total = kernel.sum()
    xy = ks.sum(axis=1) - np.einsum("bi,bi->b", ks, masks)
    yy = total - 2.0 * xy - xx - (m + n)
    mmd2 = xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (m * n)
    p = permutation_p_value(mmd2[0], mmd2[1:])
    return _signal(name, mmd2[0], p, alpha, {
        "test": "mmd2_permutation", "bandwidth": float(np.sqrt(med)), "permutations": permutations,
        "n_reference": m, "n_current": n, "seed": seed})


def classifier_signal(reference_vectors: Any, current_vectors: Any, seed: int = 0,
                      alpha: float = 0.05, ids: Optional[Sequence[Any]] = None, top: int = 10,
                      name: str = "input_classifier") -> Signal:
    """Classifier two-sample test: can a logistic regression tell current rows from reference?

    Trained on a stratified half, scored on the other: the statistic is the held-out AUC, its
    one-sided p-value that of ``scipy.stats.mannwhitneyu`` (current scores greater). A second
    model trained on the other half gives every current row an out-of-sample score; the
    ``top`` highest name the most atypical rows by ``ids`` (one per current row, e.g. capture
    eventIds) or by row index.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    alpha = _check_alpha(alpha)
    ref, cur = _vectors(reference_vectors, current_vectors, min_rows=4)
    if ids is not None and len(ids) != len(cur):
        raise ValueError(f"ids: {len(ids)} ids for {len(cur)} current rows")
    x = np.vstack([ref, cur])
    y = np.r_[np.zeros(len(ref), dtype=int), np.ones(len(cur), dtype=int)]
    half_a, half_b = train_test_split(np.arange(len(y)), test_size=0.5, stratify=y,
                                      random_state=seed)

    def scores(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        return model.fit(x[train], y[train]).decision_function(x[test])

    held = scores(half_a, half_b)
    cur_s, ref_s = held[y[half_b] == 1], held[y[half_b] == 0]
    res = stats.mannwhitneyu(cur_s, ref_s, alternative="greater")
    auc = float(res.statistic) / (len(cur_s) * len(ref_s))
    row_score = np.empty(len(y))
    row_score[half_b] = held
    row_score[half_a] = scores(half_b, half_a)
    cur_rows = row_score[len(ref):]
    order = np.argsort(-cur_rows, kind="stable")[:max(top, 0)]
    names = [str(ids[i]) if ids is not None else int(i) for i in order]
    return _signal(name, auc, res.pvalue, alpha, {
        "test": "classifier_auc", "auc": auc, "n_reference": len(ref), "n_current": len(cur),
        "seed": seed, "atypical": [{"id": k, "score": float(cur_rows[i])}
                                   for k, i in zip(names, order)]})


def _probs(probs: Any, what: str) -> np.ndarray:
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 2:
        raise ValueError(f"{what} probabilities must be a non-empty [n, n_classes>=2] array, "
                         f"got shape {arr.shape}")
    rows_ok = np.allclose(arr.sum(axis=1), 1, atol=1e-3)
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or not rows_ok:
        raise ValueError(f"{what} probabilities must be finite, non-negative rows summing to 1")
    return arr


def prediction_signals(ref_probs: Any, cur_probs: Any, labels: Sequence[str],
                       alpha: float = 0.05) -> list[Signal]:
    """Black-box shift detection on the model's outputs: two signals.

    ``predicted_label``: chi-square on the counts of arg-max labels. ``confidence``: a KS test
    per softmax column, combined by Bonferroni (statistic the largest KS distance, p-value
    ``min(1, k * min p)``) so the family enters :func:`correct` as one valid p-value; the
    per-class results, most drifted first, are in ``detail["per_class"]``.
    """
    alpha = _check_alpha(alpha)
    ref, cur = _probs(ref_probs, "reference"), _probs(cur_probs, "current")
    labels = [str(label) for label in labels]
    if ref.shape[1] != cur.shape[1] or len(labels) != ref.shape[1]:
        raise ValueError(f"class mismatch: {ref.shape[1]} reference columns, {cur.shape[1]} "
                         f"current columns, {len(labels)} labels")
    k = len(labels)
    ref_pred = np.bincount(ref.argmax(axis=1), minlength=k)
    cur_pred = np.bincount(cur.argmax(axis=1), minlength=k)
    label_signal = chi2_signal("predicted_label", dict(zip(labels, ref_pred)),
                               dict(zip(labels, cur_pred)), alpha)
    per_class = [ks_signal(label, ref[:, j], cur[:, j], alpha) for j, label in enumerate(labels)]
    per_class.sort(key=lambda s: s.p_value)
    p = min(1.0, k * per_class[0].p_value)
    confidence = _signal("confidence", max(s.statistic for s in per_class), p, alpha, {
        "test": "ks_bonferroni", "per_class": [
            {"label": s.name, "statistic": s.statistic, "p_value": s.p_value,
             "reference_mean": s.detail["reference_mean"], "current_mean": s.detail["current_mean"]}
            for s in per_class]})
    return [label_signal, confidence]


def descriptor_signals(reference: pd.DataFrame, current: pd.DataFrame,
                       alpha: float = 0.05) -> list[Signal]:
    """KS on each numeric descriptor column and chi-square on the ``empty`` flag."""
    missing = [c for c in reference.columns if c not in current.columns]
    if missing:
        raise ValueError(f"current descriptors lack columns {missing}")
    out = []
    for col in reference.columns:
        if reference[col].dtype == bool:
            ref_yes, cur_yes = int(reference[col].sum()), int(current[col].sum())
            out.append(chi2_signal(col, {"no": len(reference) - ref_yes, "yes": ref_yes},
                                   {"no": len(current) - cur_yes, "yes": cur_yes}, alpha))
        else:
            out.append(ks_signal(col, reference[col].to_numpy(), current[col].to_numpy(), alpha))
    return out


def correct(signals: Sequence[Signal], alpha: float = 0.05) -> list[Signal]:
    """Benjamini-Hochberg adjusted p-values across ``signals``; ``drifted`` at ``<= alpha``.

    The raw p-value moves to ``detail["raw_p_value"]``; the false discovery rate across the
    window's signals is then at most ``alpha`` (under independence or positive dependence).
    """
    alpha = _check_alpha(alpha)
    if not signals:
        return []
    adjusted = stats.false_discovery_control([s.p_value for s in signals], method="bh")
    return [dataclasses.replace(s, p_value=float(p), threshold=alpha, drifted=bool(p <= alpha),
                                detail={**s.detail, "raw_p_value": s.p_value})
            for s, p in zip(signals, adjusted)]
