"""Long-note strategies and the tokenization cache."""
from __future__ import annotations

import copy

import pandas as pd
import pytest

from medtx.modeling.features import Encoded, LongNoteStrategy, data_hash, encode_texts, tokenize_split


class CountingTokenizer:
    """Wraps a tokenizer and counts how often it tokenizes."""

    def __init__(self, tok):
        self._tok, self.calls = tok, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self._tok(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)


def _ids(tok, words):
    return tok.convert_tokens_to_ids(words)


def test_head_tail_keeps_start_and_end(tiny_tokenizer):
    words = ["heart"] * 5 + ["patient"] * 200 + ["knee"] * 5
    strategy = LongNoteStrategy("head_tail", max_length=16, head_tokens=4)
    enc = encode_texts([" ".join(words)], tiny_tokenizer, strategy)
    heart, patient, knee = _ids(tiny_tokenizer, ["heart", "patient", "knee"])
    cls, sep = tiny_tokenizer.cls_token_id, tiny_tokenizer.sep_token_id
    assert enc.input_ids == [[cls] + [heart] * 4 + [patient] * 5 + [knee] * 5 + [sep]]
    assert enc.note_index == [0] and enc.n_notes == 1


def test_head_only_window_lacks_the_tail(tiny_tokenizer):
    text = " ".join(["patient"] * 100 + ["seizure"] * 3)
    seizure = _ids(tiny_tokenizer, ["seizure"])[0]
    head = encode_texts([text], tiny_tokenizer, LongNoteStrategy("head", max_length=32))
    tail = encode_texts([text], tiny_tokenizer, LongNoteStrategy("head_tail", 32, head_tokens=8))
    assert len(head.input_ids[0]) == 32 and seizure not in head.input_ids[0]
    assert head.input_ids[0][-4:-1] != [seizure] * 3
    assert tail.input_ids[0][-4:-1] == [seizure] * 3


def test_cutting_long_notes_gives_same_ids_as_full_tokenization(tiny_tokenizer):
    import random

    rng = random.Random(0)
    vocab = ["heart", "knee", "patient", "follow", "up", ".", ",", "mr", "smith"]
    texts = [" ".join(rng.choices(vocab, k=n)) for n in (3, 40, 120, 900)]
    strategy = LongNoteStrategy("head_tail", max_length=48, head_tokens=10)
    enc = encode_texts(texts, tiny_tokenizer, strategy)
    for text, window in zip(texts, enc.input_ids):
        full = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
        content = full if len(full) <= 46 else full[:10] + full[-36:]
        assert window[1:-1] == content


def test_chunks_cover_the_whole_note_and_pool_by_note(tiny_tokenizer):
    text = " ".join(["heart"] + ["patient"] * 300 + ["tremor"])
    strategy = LongNoteStrategy("chunks", max_length=34, chunk_stride=8, max_chunks=4)
    enc = encode_texts([text, "knee"], tiny_tokenizer, strategy)
    heart, tremor = _ids(tiny_tokenizer, ["heart", "tremor"])
    first = [w for w, n in zip(enc.input_ids, enc.note_index) if n == 0]
    assert len(first) == 4 and all(len(w) == 34 for w in first)
    assert heart in first[0] and tremor in first[-1]
    assert enc.note_index.count(1) == 1 and enc.n_notes == 2


def test_select_renumbers_notes():
    enc = Encoded([[1], [2], [3], [4]], [0, 1, 1, 2], 3)
    sub = enc.select([2, 1])
    assert sub.input_ids == [[4], [2], [3]] and sub.note_index == [0, 1, 1] and sub.n_notes == 2


def test_strategy_round_trip_and_validation():
    s = LongNoteStrategy("chunks", 64, 10, 16, 3)
    assert LongNoteStrategy.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError):
        LongNoteStrategy("middle")
    with pytest.raises(ValueError):
        LongNoteStrategy.from_dict({**s.to_dict(), "extra": 1})


def test_data_hash_depends_on_content():
    a = pd.DataFrame({"note_id": ["r1", "r2"], "text": ["x", "y"], "label": ["A", "B"]})
    b = a.assign(label=["A", "A"])
    assert data_hash(a) == data_hash(a.copy()) != data_hash(b)
    assert data_hash(["ab", "c"]) != data_hash(["a", "bc"])


def test_tokenize_split_uses_the_cache(tiny_tokenizer, tmp_path):
    # like the bundled MiniLM: the tokenizer file carries truncation/padding settings, which
    # tokenizing changes; the cache key must not
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.backend_tokenizer.enable_truncation(max_length=8)
    tokenizer.backend_tokenizer.enable_padding(length=8)
    frames = {"train": pd.DataFrame({"text": ["heart murmur", "knee cast"] * 3}),
              "val": pd.DataFrame({"text": ["seizure"]}),
              "test": pd.DataFrame({"text": pd.Series([], dtype="str")})}
    strategy = LongNoteStrategy("head_tail", max_length=16, head_tokens=4)
    first_tok = CountingTokenizer(tokenizer)
    first = tokenize_split(frames, first_tok, strategy, tmp_path)
    assert first_tok.calls > 0
    again_tok = CountingTokenizer(tokenizer)
    again = tokenize_split(frames, again_tok, strategy, tmp_path)
    assert again_tok.calls == 0
    for name in frames:
        assert again[name].input_ids == first[name].input_ids
        assert again[name].note_index == first[name].note_index
    assert first["train"].n_notes == 6 and first["test"].n_notes == 0
    other = CountingTokenizer(tokenizer)
    tokenize_split(frames, other, LongNoteStrategy("head", max_length=16), tmp_path)
    assert other.calls > 0
