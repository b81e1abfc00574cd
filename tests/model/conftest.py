"""Fixtures for model tests: a word-level BERT tokenizer, a tiny BERT trained on toy notes,
and a saved package of it (helpers live in ``tinymodels.py``)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tinymodels import MAX_LENGTH, tiny_model, toy_set, vocab_words


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
def tiny_tokenizer(tmp_path_factory):
    from transformers import BertTokenizerFast

    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(vocab_words()) + "\n")
    return BertTokenizerFast(vocab=str(path), do_lower_case=True)


@pytest.fixture
def tiny_model_factory():
    return tiny_model


@pytest.fixture(scope="session")
def toy_strategy():
    from medtx.modeling.features import LongNoteStrategy

    return LongNoteStrategy("head_tail", max_length=MAX_LENGTH, head_tokens=8)


@pytest.fixture(scope="session")
def toy_train_settings():
    from medtx.config import TrainSettings

    return replace(TrainSettings(), epochs=8, batch_size=16, learning_rate=2e-3,
                   warmup_ratio=0.1, class_weights="none", patience=8, seed=0)


@pytest.fixture(scope="session")
def trained(tiny_tokenizer, toy_strategy, toy_train_settings):
    """(TrainResult, tokenizer, strategy) of a tiny BERT trained on the toy set."""
    from medtx.modeling.features import encode_texts
    from medtx.modeling.train import finetune, set_seed

    set_seed(0)
    x_train, y_train = toy_set(40, seed=1)
    x_val, y_val = toy_set(10, seed=2)
    enc_train = encode_texts(x_train, tiny_tokenizer, toy_strategy)
    enc_val = encode_texts(x_val, tiny_tokenizer, toy_strategy)
    result = finetune(tiny_model(), enc_train, y_train, enc_val, y_val, toy_train_settings,
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
