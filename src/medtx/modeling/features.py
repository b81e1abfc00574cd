"""Tokenization with a long-note strategy, cached on disk as Arrow datasets.

Most clinical notes are longer than a transformer window. A :class:`LongNoteStrategy` says
how a note becomes one or more windows of token ids:

* ``head``: the first ``max_length`` tokens.
* ``head_tail``: the first ``head_tokens`` content tokens plus the last ones that fill the
  window (history at the top, assessment and plan at the bottom).
* ``chunks``: overlapping windows spread over the whole note (at most ``max_chunks``); the
  model's logits are mean-pooled per note (:func:`medtx.modeling.inference.predict_logits`).

The same strategy is stored in the model package and used again at evaluation and prediction.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import shutil
import tempfile
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtx.config import MIN_MAX_LENGTH, ModelSettings

log = logging.getLogger("medtx.modeling.features")

KINDS = ("head_tail", "head", "chunks")
WORD_MARGIN = 16  # extra words kept when cutting long notes before tokenizing
CACHE_FORMAT = 1


@dataclass(frozen=True)
class LongNoteStrategy:
    """How a note longer than the window is turned into token windows."""

    kind: str = "head_tail"
    max_length: int = 256  # tokens per window, special tokens included
    head_tokens: int = 64  # head_tail: content tokens kept from the start
    chunk_stride: int = 64  # chunks: tokens shared by neighbouring windows
    max_chunks: int = 8  # chunks: windows per note at most

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"long-note kind must be one of {KINDS}, got {self.kind!r}")
        if self.max_length < MIN_MAX_LENGTH:
            raise ValueError(f"max_length must be at least {MIN_MAX_LENGTH} tokens")
        if self.kind == "head_tail" and not 0 <= self.head_tokens < self.max_length - 2:
            raise ValueError("head_tokens must be >= 0 and below max_length - 2")
        if self.chunk_stride < 0 or self.max_chunks < 1:
            raise ValueError("chunk_stride must be >= 0 and max_chunks >= 1")

    @classmethod
    def from_settings(cls, model_settings: ModelSettings) -> LongNoteStrategy:
        """Build from :class:`medtx.config.ModelSettings`."""
        m = model_settings
        return cls(m.long_note, m.max_length, m.head_tokens, m.chunk_stride, m.max_chunks)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> LongNoteStrategy:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown long-note strategy key(s) {unknown}")
        return cls(**raw)


@dataclass
class Encoded:
    """Token windows of a list of notes; several windows per note with ``chunks``."""

    input_ids: list[list[int]]
    note_index: list[int]  # window -> position of its note
    n_notes: int
    meta: dict = field(default_factory=dict)

    @property
    def n_windows(self) -> int:
        return len(self.input_ids)

    def select(self, notes: Collection[int]) -> Encoded:
        """The windows of the given note positions, renumbered 0..len(notes)-1 in that order."""
        by_note: dict[int, list[int]] = {}
        for w, n in enumerate(self.note_index):
            by_note.setdefault(n, []).append(w)
        ids, index = [], []
        for new, old in enumerate(notes):
            for w in by_note.get(int(old), []):
                ids.append(self.input_ids[w])
                index.append(new)
        return Encoded(ids, index, len(notes), dict(self.meta))


def _special_wrap(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Special ids the tokenizer puts before and after a single sequence (e.g. [CLS], [SEP])."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start:start + len(bare)] == bare:
            return list(full[:start]), list(full[start + len(bare):])
    raise ValueError("cannot tell the tokenizer's special tokens apart from its content tokens")


def _cut(text: str, head_words: int, tail_words: int) -> tuple[str, str] | None:
    """(head piece, tail piece) of a note with more words than both pieces need, else None."""
    words = text.split()
    if len(words) <= head_words + tail_words:
        return None
    return " ".join(words[:head_words]), " ".join(words[len(words) - tail_words:])


def _chunk_starts(n: int, budget: int, overlap: int, max_chunks: int) -> list[int]:
    """Start offsets of windows covering ``n`` tokens; spread evenly when capped."""
    if n <= budget:
        return [0]
    step = max(1, budget - min(overlap, budget - 1))
    count = math.ceil((n - budget) / step) + 1
    if count <= max_chunks:
        return [min(i * step, n - budget) for i in range(count)]
    if max_chunks == 1:
        return [0]
    return [round(i * (n - budget) / (max_chunks - 1)) for i in range(max_chunks)]


def _tokenize(tokenizer: Any, pieces: list[str]) -> list[list[int]]:
    if not pieces:
        return []
    out = tokenizer(pieces, add_special_tokens=False, return_attention_mask=False,
                    return_token_type_ids=False, verbose=False)
    return [list(ids) for ids in out["input_ids"]]


def encode_texts(texts: Sequence[str], tokenizer: Any, strategy: LongNoteStrategy) -> Encoded:
    """Encode notes into windows of token ids (special tokens added) per ``strategy``."""
    prefix, suffix = _special_wrap(tokenizer)
    budget = strategy.max_length - len(prefix) - len(suffix)
    if budget < 1:
        raise ValueError(f"max_length {strategy.max_length} leaves no room for content tokens")
    head = budget if strategy.kind == "head" else min(strategy.head_tokens, budget)
    tail = budget - head if strategy.kind == "head_tail" else 0
    texts = ["" if _is_missing(t) else str(t) for t in texts]
    windows: list[list[int]] = []
    index: list[int] = []
    if strategy.kind == "chunks":
        for i, ids in enumerate(_tokenize(tokenizer, texts)):
            for s in _chunk_starts(len(ids), budget, strategy.chunk_stride, strategy.max_chunks):
                windows.append(prefix + ids[s:s + budget] + suffix)
                index.append(i)
        return Encoded(windows, index, len(texts))
    # head / head_tail: tokenize only the words that can reach the window (a word gives at
    # least one token), which keeps very long notes cheap without changing the result.
    cuts = [_cut(t, head + WORD_MARGIN if head else 0, tail + WORD_MARGIN if tail else 0)
            for t in texts]
    pieces: list[str] = []
    for t, c in zip(texts, cuts):
        pieces.extend([t] if c is None else [c[0], c[1]])
    ids_iter = iter(_tokenize(tokenizer, pieces))
    for i, c in enumerate(cuts):
        if c is None:
            ids = next(ids_iter)
            content = ids if len(ids) <= budget else ids[:head] + ids[len(ids) - tail:]
        else:
            head_ids, tail_ids = next(ids_iter), next(ids_iter)
            content = head_ids[:head] + (tail_ids[len(tail_ids) - tail:] if tail else [])
        windows.append(prefix + content + suffix)
        index.append(i)
    return Encoded(windows, index, len(texts))


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ == "NAType"


def _hash_values(h: Any, values: Iterable[Any]) -> None:
    for v in values:
        b = ("\x00<NA>" if _is_missing(v) else str(v)).encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)


def data_hash(frame_or_texts: Any) -> str:
    """sha256 of notes: a frame's note_id/text/label columns (those present), or a list of texts."""
    h = hashlib.sha256()
    if hasattr(frame_or_texts, "columns"):
        cols = [c for c in ("note_id", "text", "label") if c in frame_or_texts.columns]
        if not cols:
            raise ValueError("frame has none of the columns note_id, text, label")
        for c in cols:
            h.update(c.encode("utf-8"))
            _hash_values(h, frame_or_texts[c].tolist())
    else:
        _hash_values(h, list(frame_or_texts))
    return h.hexdigest()


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of the tokenizer's full definition (vocabulary, normalizer, special tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        for transient in ("truncation", "padding"):  # call-time settings, not the tokenizer
            spec.pop(transient, None)
        body = json.dumps(spec, sort_keys=True)
    else:
        body = json.dumps(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def cache_key(texts: Sequence[str], tokenizer: Any, strategy: LongNoteStrategy) -> str:
    """Cache key of one tokenized split: data, tokenizer and strategy together."""
    raw = json.dumps({"format": CACHE_FORMAT, "data": data_hash(texts),
                      "tokenizer": tokenizer_fingerprint(tokenizer),
                      "strategy": strategy.to_dict()}, sort_keys=True)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _split_parts(split: Any) -> dict[str, list[str]]:
    items = split.items() if isinstance(split, dict) else \
        ((n, getattr(split, n)) for n in ("train", "val", "test"))
    return {name: ["" if _is_missing(t) else str(t)
                   for t in (part["text"] if hasattr(part, "columns") else part)]
            for name, part in items}


def _encode_with_datasets(texts: list[str], tokenizer: Any, strategy: LongNoteStrategy,
                          fingerprint: str) -> Any:
    from datasets import Dataset

    def batch_fn(batch: dict, indices: list[int]) -> dict:
        enc = encode_texts(batch["text"], tokenizer, strategy)
        return {"input_ids": enc.input_ids, "note_index": [indices[i] for i in enc.note_index]}

    ds = Dataset.from_dict({"text": texts})
    return ds.map(batch_fn, batched=True, batch_size=256, with_indices=True,
                  remove_columns=["text"], new_fingerprint=fingerprint, desc="tokenize")


@contextlib.contextmanager
def _datasets_progress(show: bool) -> Iterator[None]:
    """Show or hide the ``datasets`` progress bars for a block, then restore the setting."""
    from datasets.utils import logging as ds_logging

    before = ds_logging.is_progress_bar_enabled()
    (ds_logging.enable_progress_bar if show else ds_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (ds_logging.enable_progress_bar if before else ds_logging.disable_progress_bar)()


def tokenize_split(split: Any, tokenizer: Any, strategy: LongNoteStrategy,
                   cache_dir: Path | None = None, progress: bool = False) -> dict[str, Encoded]:
    """Tokenize every part of a split (``train``/``val``/``test`` frames or a dict of them).

    With ``cache_dir`` each part is stored as an Arrow dataset named by :func:`cache_key`,
    so a re-run with the same notes, tokenizer and strategy does not tokenize again.
    """
    with _datasets_progress(progress):
        return {name: _tokenize_part(name, texts, tokenizer, strategy, cache_dir)
                for name, texts in _split_parts(split).items()}


def _tokenize_part(name: str, texts: list[str], tokenizer: Any, strategy: LongNoteStrategy,
                   cache_dir: Path | None) -> Encoded:
    key = cache_key(texts, tokenizer, strategy)
    meta = {"cache_key": key, "data_hash": data_hash(texts), "strategy": strategy.to_dict()}
    if not texts:
        return Encoded([], [], 0, meta)
    target = Path(cache_dir) / key if cache_dir is not None else None
    if target is not None and (target / "dataset_info.json").is_file():
        from datasets import load_from_disk

        ds = load_from_disk(str(target))
        log.info("tokenize %s: %d notes from cache %s", name, len(texts), key[:12])
    else:
        ds = _encode_with_datasets(texts, tokenizer, strategy, key)
        if target is not None:
            _save_atomically(ds, target)
        log.info("tokenize %s: %d notes -> %d windows", name, len(texts), len(ds))
    cols = ds.to_dict()
    return Encoded(cols["input_ids"], cols["note_index"], len(texts), meta)


def _save_atomically(ds: Any, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        ds.save_to_disk(str(tmp / "ds"))
        (tmp / "ds").rename(target)
    except OSError:
        if not (target / "dataset_info.json").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
