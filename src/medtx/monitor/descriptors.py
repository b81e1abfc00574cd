"""Per-note text descriptors for monitoring, computed from the text without keeping it.

Each note becomes a handful of numbers whose distributions a reference profile can store and
drift tests can compare: length in characters and words, the number of ALL-CAPS section
headers (``HISTORY:``, ``PHYSICAL EXAM:``), the share of non-letter characters, an empty
flag and the out-of-vocabulary rate against the training vocabulary. :func:`fit_reducer`
gives the reduced text representation (TF-IDF -> SVD fitted on the reference) that the
input-distribution tests compare.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

COLUMNS = ("chars", "words", "headers", "non_letter_share", "empty", "oov_rate")

# An ALL-CAPS run of letter words (2+ letters each, joined by space, '/', '&' or '-') followed
# by a colon, not glued to a preceding letter: "HISTORY:", "REVIEW OF SYSTEMS:", "HEENT:".
# Short vital-sign labels ("BP:", "HR:") match too; they are as stable as the template.
_HEADER = re.compile(r"(?<![A-Za-z])[A-Z]{2,}(?:[ /&-]+[A-Z]{2,})*\s*:")
# The same matches as _HEADER, opening with a character class so that the regex engine skips
# straight to the next capital instead of trying the look-behind at every position.
_HEADER_SCAN = re.compile(r"[A-Z](?<![A-Za-z][A-Z])[A-Z]+(?:[ /&-]+[A-Z]{2,})*\s*:")
_WORD = re.compile(r"[a-z]+")
# str.translate tables for ASCII notes: the first deletes letters and whitespace (leaving the
# visible non-letters), the second lower-cases letters and turns everything else into a space
# (so that .split() gives the words of words_of).
_ASCII = [chr(c) for c in range(128)]
_NON_LETTERS = str.maketrans({c: None for c in _ASCII if c.isalpha() or c.isspace()})
_WORDS_ONLY = str.maketrans({c: c.lower() if c.isalpha() else " " for c in _ASCII})


def note_hash(text: Optional[str]) -> str:
    """sha256 (16 hex digits) of the whitespace-collapsed, lower-cased note: identical notes,
    as the split groups them, share it."""
    import hashlib

    norm = " ".join(str(text or "").lower().split())
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:16]


def words_of(text: str) -> list[str]:
    """Lower-case letter words of ``text``: the tokens the vocabulary and OOV rate use."""
    return _WORD.findall(text.lower())


def build_vocabulary(texts: Iterable[Optional[str]], min_count: int = 1) -> frozenset[str]:
    """Lower-case words seen at least ``min_count`` times over ``texts`` (the training notes)."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words_of(_as_text(text)))
    return frozenset(word for word, n in counts.items() if n >= min_count)


def _as_text(text: Optional[str]) -> str:
    """A note as a string; ``None`` (a missing note) reads as the empty note."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise ValueError(f"notes must be strings, got {type(text).__name__}")
    return text


def describe_one(text: Optional[str], vocabulary: frozenset[str] | set[str]) -> dict:
    """Descriptors of one note (see :data:`COLUMNS`).

    ``non_letter_share`` is the share of non-whitespace characters that are not letters;
    ``oov_rate`` the share of letter words absent from ``vocabulary``. Both are 0.0 for a
    note with nothing to count, which ``empty`` (only whitespace) flags separately.
    """
    text = _as_text(text)
    visible = [c for c in text if not c.isspace()]
    tokens = words_of(text)
    non_letters = sum(1 for c in visible if not c.isalpha())
    unknown = sum(1 for w in tokens if w not in vocabulary)
    return {
        "chars": len(text),
        "words": len(text.split()),
        "headers": len(_HEADER.findall(text)),
        "non_letter_share": non_letters / len(visible) if visible else 0.0,
        "empty": not visible,
        "oov_rate": unknown / len(tokens) if tokens else 0.0,
    }


def describe(texts: Sequence[Optional[str]], vocabulary: frozenset[str] | set[str]) -> pd.DataFrame:
    """One row of descriptors per note, columns :data:`COLUMNS` (empty input: no rows); the
    values of :func:`describe_one`, note by note."""
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of notes, got a single string")
    if vocabulary is None:
        raise ValueError("vocabulary is required (a set of lower-case words)")
    counts = np.array([_counts(_as_text(text), vocabulary) for text in texts],
                      dtype=np.int64).reshape(-1, 7)
    chars, words, headers, visible, non_letters, tokens, unknown = counts.T
    return pd.DataFrame({"chars": chars, "words": words, "headers": headers,
                         "non_letter_share": _share(non_letters, visible), "empty": visible == 0,
                         "oov_rate": _share(unknown, tokens)}, columns=list(COLUMNS))


def _counts(text: str, vocabulary: frozenset[str] | set[str]) -> tuple[int, ...]:
    """``(chars, words, headers, visible, non-letters, tokens, unknown tokens)`` of one note:
    the counts behind :func:`describe_one`, in fewer passes for an ASCII note."""
    parts = text.split()
    if text.isascii():
        tokens = text.translate(_WORDS_ONLY).split()
        non_letters = len(text.translate(_NON_LETTERS))
    else:
        tokens = words_of(text)
        non_letters = sum(1 for c in "".join(parts) if not c.isalpha())
    unknown = len(tokens) - sum(map(vocabulary.__contains__, tokens))
    return (len(text), len(parts), len(_HEADER_SCAN.findall(text)), sum(map(len, parts)),
            non_letters, len(tokens), unknown)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """``part / whole`` as float64, 0.0 where ``whole`` is 0."""
    out = np.zeros(len(whole), dtype=np.float64)
    np.divide(part, whole, out=out, where=whole > 0)
    return out


_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


@dataclass(frozen=True)
class TextReducer:
    """TF-IDF (sublinear tf, l2 rows) followed by a truncated SVD, all held as numpy arrays.

    ``terms`` and ``idf`` index the TF-IDF columns, ``components`` is ``[dims, n_terms]``;
    :meth:`to_arrays` / :meth:`from_arrays` round-trip through ``numpy.savez``.
    """

    terms: np.ndarray
    idf: np.ndarray
    components: np.ndarray

    @property
    def dims(self) -> int:
        return int(self.components.shape[0])

    def transform(self, texts: Sequence[Optional[str]]) -> np.ndarray:
        """``[n, dims]`` reduced vectors of ``texts`` (terms unseen in the reference ignored)."""
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        if isinstance(texts, str):
            raise ValueError("texts must be a sequence of notes, got a single string")
        docs = [_as_text(t) for t in texts]
        if not docs:
            return np.zeros((0, self.dims))
        counts = CountVectorizer(vocabulary=list(self.terms), token_pattern=_TOKEN_PATTERN,
                                 dtype=np.float64).transform(docs)
        counts.data = 1.0 + np.log(counts.data)
        tfidf = normalize(counts.multiply(self.idf[None, :]).tocsr())
        return np.asarray(tfidf @ self.components.T)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"terms": self.terms.astype(str), "idf": self.idf, "components": self.components}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> TextReducer:
        missing = [k for k in ("terms", "idf", "components") if k not in arrays]
        if missing:
            raise ValueError(f"reducer arrays lack {missing}")
        terms, idf, comp = (np.asarray(arrays[k]) for k in ("terms", "idf", "components"))
        if comp.ndim != 2 or comp.shape[1] != len(terms) or idf.shape != (len(terms),):
            raise ValueError(f"reducer arrays disagree: {len(terms)} terms, idf {idf.shape}, "
                             f"components {comp.shape}")
        return cls(terms.astype(str), idf.astype(np.float64), comp.astype(np.float64))


def fit_reducer(reference_texts: Sequence[Optional[str]], dims: int = 64, seed: int = 0,
                max_terms: int = 50000) -> TextReducer:
    """Fit TF-IDF then TruncatedSVD on the reference notes (``dims`` capped by the data)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    if dims < 1:
        raise ValueError(f"dims must be >= 1, got {dims}")
    docs = [_as_text(t) for t in reference_texts]
    if len(docs) < 2:
        raise ValueError(f"reference texts: need at least 2 notes to fit a reducer, "
                         f"got {len(docs)}")
    vectorizer = TfidfVectorizer(token_pattern=_TOKEN_PATTERN, sublinear_tf=True,
                                 max_features=max_terms, dtype=np.float64)
    try:
        tfidf = vectorizer.fit_transform(docs)
    except ValueError as exc:  # every note empty or stop-words only
        raise ValueError(f"reference texts have no usable terms: {exc}") from None
    k = min(dims, tfidf.shape[1] - 1, len(docs) - 1)
    if k < 1:
        raise ValueError(f"reference texts: {tfidf.shape[1]} terms over {len(docs)} notes "
                         "is too little to reduce")
    svd = TruncatedSVD(n_components=k, random_state=seed).fit(tfidf)
    return TextReducer(vectorizer.get_feature_names_out().astype(str),
                       vectorizer.idf_.astype(np.float64), svd.components_.astype(np.float64))
