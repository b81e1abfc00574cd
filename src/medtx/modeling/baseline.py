"""Baseline: TF-IDF words + a linear SVM, the floor every fine-tuned model must beat.

Trained on the same split in the same run as the model. Scores are the SVM's one-vs-rest
margins, which are logit-like: :mod:`medtx.evaluate` fits a temperature on them exactly as it
does on the model's logits, so both systems are calibrated and compared the same way.

Choice, measured on mtsamples with text-disjoint splits (5 split seeds each, 2 CPUs):
- LinearSVC vs logistic regression: equal test macro-F1 on spec12 (0.76 vs 0.76), LinearSVC
  better on all40 (0.43 vs 0.38), and 10-40x faster to fit (1-3 s vs 20-45 s).
- Word unigrams vs 1-2-grams: on the pipeline's split +0.01 macro-F1 on spec12 (5 of 5 seeds)
  and +0.02 on all40 (4 of 5) at equal accuracy; on a plain random group split they tie.
  Unigrams fit 4-5x faster. 1-3-grams and character 2-5-grams add nothing.
- ``class_weight="balanced"`` doubles all40 macro-F1 (0.43 vs 0.19) for -0.01 accuracy and
  -0.03 any-label accuracy; the gate compares macro-F1.
- C in 0.3..10 is flat; C=1 converges without warnings.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from medtx.config import BaselineSettings  # the ``baseline`` config section
from medtx.errors import TrainingError


def _as_texts(texts: Sequence[str], what: str) -> list[str]:
    """Check that every entry is a string (reporting positions, never content)."""
    items = list(texts)
    bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"{what}: {len(bad)} entries are not strings (first positions {bad[:5]})")
    return items


class Baseline:
    """TF-IDF + LinearSVC with score columns aligned to label ids ``0..n_classes-1``."""

    def __init__(self, settings: Optional[BaselineSettings] = None, seed: int = 0):
        self.settings = settings or BaselineSettings()
        self.seed = seed
        self.temperature = 1.0  # set after calibration; used by predict_proba
        self.n_classes: Optional[int] = None
        self._vectorizer: Any = None  # sklearn TfidfVectorizer once fitted
        self._svm: Any = None  # sklearn LinearSVC once fitted

    def __repr__(self) -> str:
        s = self.settings
        vocabulary = len(self._vectorizer.vocabulary_) if self._vectorizer is not None else None
        return (
            f"Baseline(tfidf word n-grams 1..{s.ngram_max}, min_df={s.min_df}, "
            f"max_features={s.max_features}, sublinear_tf={s.sublinear_tf}; "
            f"LinearSVC C={s.C}, class_weight={s.class_weight}; "
            f"vocabulary={vocabulary}, n_classes={self.n_classes})"
        )

    def fit(self, texts: Sequence[str], y: np.ndarray, n_classes: int) -> Baseline:
        """Fit on training notes ``texts`` with label ids ``y`` in ``0..n_classes-1``."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        items = _as_texts(texts, "baseline training texts")
        labels = np.asarray(y)
        if labels.shape != (len(items),):
            raise ValueError(f"baseline: {len(items)} texts but labels of shape {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"baseline: label ids must lie in 0..{n_classes - 1}")
        present = np.unique(labels)
        if present.size < 2:
            raise TrainingError(f"baseline needs at least 2 classes in training data, found {present.size}")
        s = self.settings
        self._vectorizer = TfidfVectorizer(
            ngram_range=(1, s.ngram_max),
            min_df=min(s.min_df, len(items)),
            max_features=s.max_features,
            sublinear_tf=s.sublinear_tf,
            dtype=np.float32,
        )
        try:
            features = self._vectorizer.fit_transform(items)
        except ValueError as err:  # sklearn: no term left after min_df / max_features pruning
            raise TrainingError(
                f"baseline: no usable terms in {len(items)} training texts (min_df={s.min_df}): {err}"
            ) from err
        self._svm = LinearSVC(C=s.C, class_weight=s.class_weight, random_state=self.seed)
        self._svm.fit(features, labels)
        self.n_classes = int(n_classes)
        return self

    def decision_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Margins ``[n, n_classes]``; a class absent from training scores below every other."""
        n_classes = self.n_classes
        if self._svm is None or n_classes is None:
            raise TrainingError("baseline is not fitted; call fit() first")
        features = self._vectorizer.transform(_as_texts(texts, "baseline texts"))
        raw = np.asarray(self._svm.decision_function(features), dtype=np.float64)
        if raw.ndim == 1:  # two classes: one margin, positive means classes_[1]
            raw = np.stack([-raw / 2.0, raw / 2.0], axis=1)
        seen = self._svm.classes_.astype(int)
        if seen.size == n_classes:
            return raw
        floor = raw.min(axis=1, keepdims=True) - 1.0
        scores = np.repeat(floor, n_classes, axis=1)
        scores[:, seen] = raw
        return scores

    def export(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The fitted baseline as JSON-able parameters (vocabulary in column order included) and
        named float arrays (idf, SVM coefficients and intercepts): no pickles."""
        if self._svm is None:
            raise TrainingError("baseline is not fitted; call fit() first")
        vec = self._vectorizer
        vocabulary = [None] * len(vec.vocabulary_)
        for term, col in vec.vocabulary_.items():
            vocabulary[col] = term
        spec = {"settings": dataclasses.asdict(self.settings), "n_classes": self.n_classes,
                "classes": self._svm.classes_.astype(int).tolist(), "vocabulary": vocabulary,
                "seed": self.seed}
        arrays = {"idf": np.asarray(vec.idf_, dtype=np.float32),
                  "coef": np.asarray(self._svm.coef_, dtype=np.float32),
                  "intercept": np.asarray(self._svm.intercept_, dtype=np.float32)}
        return spec, arrays

    @classmethod
    def restore(cls, spec: dict, arrays: dict[str, np.ndarray]) -> Baseline:
        """A baseline that scores exactly as the exported one (:meth:`export`)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        settings = BaselineSettings(**spec["settings"])
        vocabulary = {term: col for col, term in enumerate(spec["vocabulary"])}
        coef, intercept, idf = arrays["coef"], arrays["intercept"], arrays["idf"]
        classes = np.asarray(spec["classes"], dtype=np.int64)
        if idf.shape != (len(vocabulary),) or coef.shape[1] != len(vocabulary) \
                or coef.shape[0] != intercept.shape[0] \
                or coef.shape[0] != (1 if len(classes) == 2 else len(classes)):
            raise ValueError("baseline arrays do not match its vocabulary and classes "
                             f"(idf {idf.shape}, coef {coef.shape}, intercept {intercept.shape}, "
                             f"{len(vocabulary)} terms, {len(classes)} classes)")
        model = cls(settings, seed=int(spec.get("seed", 0)))
        vec = TfidfVectorizer(ngram_range=(1, settings.ngram_max), sublinear_tf=settings.sublinear_tf,
                              vocabulary=vocabulary, dtype=np.float32)
        vec.idf_ = idf.astype(np.float64)
        vec.vocabulary_ = vocabulary
        svm = LinearSVC(C=settings.C, class_weight=settings.class_weight)
        svm.coef_, svm.intercept_, svm.classes_ = coef.astype(np.float64), \
            intercept.astype(np.float64), classes
        model._vectorizer, model._svm, model.n_classes = vec, svm, int(spec["n_classes"])
        return model

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Label ids with the highest score."""
        return self.decision_scores(texts).argmax(axis=1)

    def predict_proba(self, texts: Sequence[str], temperature: Optional[float] = None) -> np.ndarray:
        """``softmax(scores / T)``; ``T`` defaults to the fitted ``self.temperature``."""
        from medtx.modeling.inference import softmax

        t = self.temperature if temperature is None else temperature
        return softmax(self.decision_scores(texts), t)


def out_of_fold_scores(texts: Sequence[str], y: np.ndarray, groups: Sequence[str], n_classes: int,
                       folds: int, seed: int = 0,
                       settings: Optional[BaselineSettings] = None) -> np.ndarray:
    """Baseline scores of every training note from a fit that never saw it (nor its twins:
    folds are cut by ``groups``), so a model stacked on them learns how far to trust scores
    on unseen notes, not the baseline's memory of its own training notes."""
    from sklearn.model_selection import GroupKFold

    items, labels, group_ids = list(texts), np.asarray(y), np.asarray(groups)
    n_groups = len(np.unique(group_ids))
    if n_groups < folds:
        raise TrainingError(f"out-of-fold baseline scores need at least {folds} distinct notes, "
                            f"got {n_groups}")
    out = np.zeros((len(items), n_classes), dtype=np.float64)
    for fit_rows, held in GroupKFold(n_splits=folds).split(items, labels, group_ids):
        fold = Baseline(settings, seed=seed).fit([items[i] for i in fit_rows], labels[fit_rows],
                                                 n_classes)
        out[held] = fold.decision_scores([items[i] for i in held])
    return out


def fit_baseline(
    train_texts: Sequence[str],
    y_train: np.ndarray,
    n_classes: int,
    seed: int = 0,
    settings: Optional[BaselineSettings] = None,
) -> Baseline:
    """Fit the baseline on the training split."""
    return Baseline(settings, seed=seed).fit(train_texts, y_train, n_classes)
