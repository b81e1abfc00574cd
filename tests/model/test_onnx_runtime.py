"""The int8 ONNX Runtime path: agreement with the fp32 Predictor, the export inside the package
(manifest, tamper refusal, reuse), chunk pooling, input checks and batch slicing.

One export (a few seconds for the tiny BERT) is shared by the module; tests that change a
package work on a copy of it.
"""
from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from medtx.errors import InputError, IntegrityError, ModelLoadError  # noqa: E402
from medtx.modeling.onnx_export import INFO_FILE, INT8_FILE, RECIPE  # noqa: E402
from medtx.modeling.onnx_runtime import OnnxPredictor, export_onnx, load_runtime  # noqa: E402
from medtx.modeling.package import MANIFEST_FILE, sha256_file, update_meta  # noqa: E402
from medtx.modeling.predictor import Predictor  # noqa: E402

# Tolerance on probabilities. Per-channel int8 weights round each weight by at most half a
# step (max|w| of its output channel / 127 / 2), activations are scaled per batch, and the FFN
# down-projections stay fp32; on the confident tiny toy model the worst change measured is
# below 0.001. 0.01 leaves a tenfold margin for other CPUs' kernels yet stays far below what a
# broken export (mask, padding or pooling wrong) does, which moves probabilities by tenths.
PROBA_ATOL = 0.01


@pytest.fixture(scope="module")
def exported(package_dir, tmp_path_factory):
    """A copy of the tiny package with its int8 export added."""
    pkg = tmp_path_factory.mktemp("onnx") / "model"
    shutil.copytree(package_dir, pkg)
    export_onnx(pkg)
    return pkg


@pytest.fixture(scope="module")
def pair(exported):
    """(fp32 Predictor, OnnxPredictor) of the exported package."""
    return Predictor.load(exported, device="cpu"), load_runtime(exported, threads=1)


@pytest.fixture
def copy_of(tmp_path):
    def copy(src):
        dst = tmp_path / "model"
        shutil.copytree(src, dst)
        return dst

    return copy


def test_int8_agrees_with_fp32_on_the_toy_set(pair, toy_set):
    fp32, int8 = pair
    texts, y = toy_set(20, seed=3)
    p32, p8 = fp32.predict_proba(texts), int8.predict_proba(texts)
    assert p8.shape == p32.shape == (len(texts), 3)
    assert (p8.argmax(1) == p32.argmax(1)).all()
    assert (p8.argmax(1) == y).mean() == (p32.argmax(1) == y).mean()
    worst = float(np.abs(p8 - p32).max())
    assert worst <= PROBA_ATOL, f"max |p_int8 - p_fp32| = {worst:.4f}"
    assert np.allclose(p8.sum(1), 1.0)


def test_same_interface_and_metadata(pair, toy_set):
    fp32, int8 = pair
    assert isinstance(int8, OnnxPredictor) and int8.runtime == "onnx-int8"
    assert int8.labels == fp32.labels
    assert int8.temperature == fp32.temperature
    assert int8.strategy == fp32.strategy
    assert int8.meta["labels"] == fp32.meta["labels"]
    assert int8.threads == 1
    texts, _ = toy_set(2, seed=4)
    out, ref = int8.predict(texts), fp32.predict(texts)
    assert [o["label"] for o in out] == [r["label"] for r in ref]
    assert all(set(o["probabilities"]) == set(fp32.labels) for o in out)


def test_temperature_is_applied(exported, copy_of, toy_set):
    pkg = copy_of(exported)
    update_meta(pkg, temperature=2.5)
    texts, _ = toy_set(3, seed=5)
    rt = load_runtime(pkg, threads=1, export_missing=False)  # the export stays current
    assert rt.temperature == 2.5
    logits = rt.logits(texts).astype(np.float64) / 2.5
    e = np.exp(logits - logits.max(1, keepdims=True))
    assert np.allclose(rt.predict_proba(texts), e / e.sum(1, keepdims=True))


def test_export_is_in_the_manifest_and_reused(exported):
    listed = json.loads((exported / MANIFEST_FILE).read_text())["files"]
    assert listed[INT8_FILE] == sha256_file(exported / INT8_FILE)
    assert INFO_FILE in listed
    info = json.loads((exported / INFO_FILE).read_text())
    assert info["recipe"] == RECIPE and info["inputs"] == ["input_ids", "attention_mask"]
    assert info["weights_sha256"] == listed["model.safetensors"]
    before = (exported / MANIFEST_FILE).read_bytes(), (exported / INT8_FILE).stat().st_mtime_ns
    assert export_onnx(exported) == exported / INT8_FILE  # reused, nothing rewritten
    assert ((exported / MANIFEST_FILE).read_bytes(), (exported / INT8_FILE).stat().st_mtime_ns) \
        == before


def test_tampered_onnx_file_is_refused(exported, copy_of):
    pkg = copy_of(exported)
    blob = bytearray((pkg / INT8_FILE).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (pkg / INT8_FILE).write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="onnx/model.int8.onnx"):
        load_runtime(pkg)
    with pytest.raises(IntegrityError):
        export_onnx(pkg)  # no silent re-export over a tampered file


def test_unlisted_onnx_file_is_refused(package_dir, exported, copy_of):
    pkg = copy_of(package_dir)
    (pkg / "onnx").mkdir()
    shutil.copy(exported / INT8_FILE, pkg / INT8_FILE)
    with pytest.raises(IntegrityError, match="not listed"):
        load_runtime(pkg)


def test_package_without_export(package_dir, copy_of):
    pkg = copy_of(package_dir)
    with pytest.raises(ModelLoadError, match="export_onnx"):
        load_runtime(pkg, export_missing=False)
    assert not (pkg / "onnx").exists()


def test_read_only_package_without_export_says_how(package_dir, copy_of, monkeypatch):
    import medtx.modeling.onnx_runtime as rt

    pkg = copy_of(package_dir)
    monkeypatch.setattr(rt.os, "access", lambda *a, **k: False)  # as a registry artifact
    with pytest.raises(ModelLoadError, match="read-only.*export_onnx"):
        load_runtime(pkg)


def test_missing_onnxruntime_names_the_install(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ModelLoadError, match="pip install onnxruntime"):
        load_runtime(exported)


def test_chunk_windows_are_mean_pooled_like_the_predictor(exported, copy_of, toy_task):
    import random

    from medtx.modeling.features import LongNoteStrategy, encode_texts

    pkg = copy_of(exported)
    chunks = LongNoteStrategy("chunks", max_length=16, chunk_stride=4, max_chunks=4)
    update_meta(pkg, long_note=chunks.to_dict())
    fp32, int8 = Predictor.load(pkg, device="cpu"), load_runtime(pkg, threads=1,
                                                                 export_missing=False)
    rng = random.Random(7)
    texts = [" ".join(toy_task.note(rng, lab) for _ in range(k))
             for k, lab in zip([1, 2, 3], toy_task.labels)]
    enc = encode_texts(texts, int8.tokenizer, chunks)
    assert np.bincount(enc.note_index).tolist()[1:] != [1, 1]  # several windows per note
    per_window = int8._window_logits(enc.input_ids)
    pooled = np.stack([per_window[np.asarray(enc.note_index) == i].mean(0) for i in range(3)])
    got = int8.logits(texts)
    assert np.allclose(got, pooled, atol=1e-5)
    assert (got.argmax(1) == fp32.logits(texts).argmax(1)).all()
    assert np.abs(int8.predict_proba(texts) - fp32.predict_proba(texts)).max() <= PROBA_ATOL


@pytest.mark.parametrize("bad", ["one note", 5, [1, "x"], ["ok", "  "], [None]])
def test_input_errors_match_the_predictor(pair, bad):
    fp32, int8 = pair
    with pytest.raises(InputError) as ref:
        fp32.predict(bad)
    with pytest.raises(InputError) as got:
        int8.predict(bad)
    assert str(got.value) == str(ref.value)


def test_empty_request_and_batch_slicing(pair, exported, toy_set):
    _, int8 = pair
    assert int8.logits([]).shape == (0, 3) and int8.predict([]) == []
    texts, _ = toy_set(5, seed=6)
    small = load_runtime(exported, threads=1, batch_size=2)
    # dynamic quantisation scales activations per batch, so batch composition moves the int8
    # logits a little (not the labels); the pooling and ordering must not move them more
    a, b = small.logits(texts), int8.logits(texts)
    assert (a.argmax(1) == b.argmax(1)).all()
    assert np.abs(a - b).max() <= 0.02
    with pytest.raises(ValueError, match="batch_size"):
        load_runtime(exported, batch_size=0)
