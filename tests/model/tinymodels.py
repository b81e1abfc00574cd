"""Toy data and a tiny random BERT for the behavioural tests (importable helpers).

Toy task with three classes; each class has its own signal words, and every note also carries
neutral filler words and a patient name, shared by all classes.
"""
from __future__ import annotations

import random

import numpy as np

LABELS = ["cardio", "ortho", "neuro"]
SIGNAL = {
    "cardio": "heart cardiac murmur valve coronary troponin stent ventricle".split(),
    "ortho": "knee fracture tendon ligament cast splint femur cartilage".split(),
    "neuro": "seizure tremor migraine cerebral gait aura reflexes cortex".split(),
}
FILLER = ("patient presents with the and a of history today exam noted was is for "
          "follow up visit plan discussed returns clinic stable reports").split()
NAMES = ["smith", "jones", "brown", "taylor", "miller"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_LENGTH = 32


def vocab_words() -> list[str]:
    words = [w for ws in SIGNAL.values() for w in ws] + FILLER + NAMES + ["mr", "mrs", ".", ","]
    return SPECIALS + sorted(set(words))


def toy_note(rng: random.Random, label: str, n_signal: int = 4, n_filler: int = 14) -> str:
    words = rng.choices(SIGNAL[label], k=n_signal) + rng.choices(FILLER, k=n_filler)
    rng.shuffle(words)
    return f"mr {rng.choice(NAMES)} . " + " ".join(words) + " ."


def toy_set(n_per_class: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = random.Random(seed)
    texts, y = [], []
    for _ in range(n_per_class):
        for i, label in enumerate(LABELS):
            texts.append(toy_note(rng, label))
            y.append(i)
    return texts, np.array(y, dtype=np.int64)


def tiny_model(n_labels: int = 3, seed: int = 0):
    """A random-init 2-layer BERT classifier (hidden 64) over the toy vocabulary."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab_words()), hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128,
                        max_position_embeddings=64, attn_implementation="sdpa",
                        id2label=dict(enumerate(LABELS[:n_labels])),
                        label2id={l: i for i, l in enumerate(LABELS[:n_labels])})
    return BertForSequenceClassification(config)



class KeywordModel:
    """A fixed bag-of-words "classifier": logit of a class = count of its signal tokens.

    Neutral windows give all-zero logits, so it isolates what a long-note strategy shows the
    model from how well a model was trained.
    """

    def __new__(cls, tokenizer):
        import torch
        from types import SimpleNamespace

        class _Keyword(torch.nn.Module):
            def __init__(self):
                super().__init__()
                table = torch.zeros(len(tokenizer.get_vocab()), len(LABELS))
                for c, label in enumerate(LABELS):
                    table[tokenizer.convert_tokens_to_ids(SIGNAL[label]), c] = 1.0
                self.table = torch.nn.Parameter(table, requires_grad=False)
                self.config = SimpleNamespace(num_labels=len(LABELS), pad_token_id=0,
                                              id2label=dict(enumerate(LABELS)))

            def forward(self, input_ids, attention_mask=None):
                hits = self.table[input_ids]
                if attention_mask is not None:
                    hits = hits * attention_mask[..., None]
                return SimpleNamespace(logits=hits.sum(dim=1))

        return _Keyword()
