"""Fixtures for model tests: a toy three-class task, a word-level BERT tokenizer over its
vocabulary, a tiny BERT trained on toy notes, a saved package of it, and a keyword "model".

Toy task: each class has its own signal words, and every note also carries neutral filler
words and a patient name, shared by all classes. The random models come from the shared
``tiny_bert`` factory in ``tests/conftest.py``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest


@dataclass(frozen=True)
class ToyTask:
    """The toy task's words and the notes made from them."""

    labels: list = field(default_factory=lambda: ["cardio", "ortho", "neuro"])
    signal: dict = field(default_factory=lambda: {
        "cardio": "heart cardiac murmur valve coronary troponin stent ventricle".split(),
        "ortho": "knee fracture tendon ligament cast splint femur cartilage".split(),
        "neuro": "seizure tremor migraine cerebral gait aura reflexes cortex".split(),
    })
    filler: list = field(default_factory=lambda: (
        "patient presents with the and a of history today exam noted was is for "
        "follow up visit plan discussed returns clinic stable reports").split())
    names: list = field(default_factory=lambda: ["smith", "jones", "brown", "taylor", "miller"])
    max_length: int = 32  # tokens per window in toy_strategy

    @property
    def vocab(self) -> list[str]:
        """BERT's special tokens, then every word a toy note can hold, sorted."""
        words = [w for ws in self.signal.values() for w in ws] + self.filler + self.names + ["mr", "mrs", ".", ","]
        return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words))

    def note(self, rng: random.Random, label: str, n_signal: int = 4, n_filler: int = 14) -> str:
        words = rng.choices(self.signal[label], k=n_signal) + rng.choices(self.filler, k=n_filler)
        rng.shuffle(words)
        return f"mr {rng.choice(self.names)} . " + " ".join(words) + " ."

    def set(self, n_per_class: int, seed: int) -> tuple[list[str], np.ndarray]:
        """``n_per_class`` notes of each class, interleaved; y holds label ids (int64)."""
        rng = random.Random(seed)
        texts, y = [], []
        for _ in range(n_per_class):
            for i, label in enumerate(self.labels):
                texts.append(self.note(rng, label))
                y.append(i)
        return texts, np.array(y, dtype=np.int64)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and a busy 2-core host makes them crawl.
    Module scope: tests outside tests/model keep torch's default."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def toy_task() -> ToyTask:
    """The toy task: ``.labels``, ``.signal`` (label -> words), ``.filler``, ``.names``,
    ``.vocab``, ``.max_length``, ``.note(rng, label)``, ``.set(n_per_class, seed)``."""
    return ToyTask()


@pytest.fixture(scope="session")
def toy_labels(toy_task) -> list[str]:
    """The toy class names, in label-id order."""
    return list(toy_task.labels)


@pytest.fixture(scope="session")
def toy_set(toy_task):
    """``toy_set(n_per_class, seed) -> (texts, y)``: toy notes, the same for the same seed."""
    return toy_task.set


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory, toy_task, word_tokenizer):
    """A word-level BERT tokenizer over the toy vocabulary."""
    return word_tokenizer(toy_task.vocab, tmp_path_factory.mktemp("vocab"))


@pytest.fixture(scope="session")
def tiny_model_factory(toy_task, tiny_bert):
    """``make(n_labels=3, seed=0)``: a random 2-layer BERT classifier over the toy vocabulary,
    labelled with the first ``n_labels`` toy labels."""
    def make(n_labels: int = 3, seed: int = 0):
        return tiny_bert(toy_task.vocab, labels=toy_task.labels[:n_labels], seed=seed)

    return make


@pytest.fixture(scope="session")
def keyword_model(toy_task):
    """``make(tokenizer)``: a fixed bag-of-words "classifier" over the toy labels, where the logit
    of a class is the count of its signal tokens.

    Neutral windows give all-zero logits, so it isolates what a long-note strategy shows the
    model from how well a model was trained."""
    from types import SimpleNamespace

    import torch

    labels, signal = toy_task.labels, toy_task.signal

    class KeywordModel(torch.nn.Module):
        def __init__(self, tokenizer):
            super().__init__()
            table = torch.zeros(len(tokenizer.get_vocab()), len(labels))
            for c, label in enumerate(labels):
                table[tokenizer.convert_tokens_to_ids(signal[label]), c] = 1.0
            self.table = torch.nn.Parameter(table, requires_grad=False)
            self.config = SimpleNamespace(num_labels=len(labels), pad_token_id=0,
                                          id2label=dict(enumerate(labels)))

        def forward(self, input_ids, attention_mask=None):
            hits = self.table[input_ids]
            if attention_mask is not None:
                hits = hits * attention_mask[..., None]
            return SimpleNamespace(logits=hits.sum(dim=1))

    return KeywordModel


@pytest.fixture(scope="session")
def toy_strategy(toy_task):
    from medtx.modeling.features import LongNoteStrategy

    return LongNoteStrategy("head_tail", max_length=toy_task.max_length, head_tokens=8)


@pytest.fixture(scope="session")
def toy_train_settings():
    from medtx.config import TrainSettings

    return replace(TrainSettings(), epochs=8, batch_size=16, learning_rate=2e-3,
                   warmup_ratio=0.1, class_weights="none", patience=8, seed=0,
                   head_learning_rate=None)  # one rate for the toy model's every layer


@pytest.fixture(scope="session")
def trained(tiny_tokenizer, toy_strategy, toy_train_settings, toy_set, tiny_model_factory):
    """(TrainResult, tokenizer, strategy) of a tiny BERT trained on the toy set
    (train: ``toy_set(40, seed=1)``, validation: ``toy_set(10, seed=2)``)."""
    from medtx.modeling.features import encode_texts
    from medtx.modeling.runtime import set_seed
    from medtx.modeling.train import finetune

    set_seed(0)
    x_train, y_train = toy_set(40, seed=1)
    x_val, y_val = toy_set(10, seed=2)
    enc_train = encode_texts(x_train, tiny_tokenizer, toy_strategy)
    enc_val = encode_texts(x_val, tiny_tokenizer, toy_strategy)
    result = finetune(tiny_model_factory(), enc_train, y_train, enc_val, y_val, toy_train_settings,
                      pad_id=tiny_tokenizer.pad_token_id, progress=False)
    return result, tiny_tokenizer, toy_strategy


@pytest.fixture(scope="session")
def package_dir(trained, tmp_path_factory) -> Path:
    """A saved model package of the trained tiny model (do not modify: copy it first)."""
    from medtx.modeling.package import save_package

    result, tokenizer, strategy = trained
    out = tmp_path_factory.mktemp("pkg") / "model"
    meta = {"long_note": strategy.to_dict(), "metrics": {"val_macro_f1": 1.0},
            "data_hash": "0" * 64, "pathspec": "TrainFlow/1/finetune/2", "base_model": "tiny"}
    return save_package(result.model, tokenizer, out, meta)
