"""Model package: self-describing, tamper-evident, tarball and bytes round trips."""
from __future__ import annotations

import io
import json
import shutil
import tarfile

import numpy as np
import pytest

from medtx.errors import IntegrityError
from medtx.modeling.package import (
    add_files,
    extract_tarball,
    load_package,
    make_tarball,
    package_from_bytes,
    package_to_bytes,
    update_meta,
    verify_package,
)
from medtx.modeling.predictor import Predictor

LABELS = ["cardio", "ortho", "neuro"]  # the toy task's labels (fixture toy_labels), in id order

NOTES = ["mr smith . heart murmur valve noted .", "mr jones . knee fracture cast ."]


@pytest.fixture
def pkg(package_dir, tmp_path):
    return shutil.copytree(package_dir, tmp_path / "model")


def test_package_describes_itself(pkg):
    meta = verify_package(pkg)
    assert meta["labels"] == LABELS and meta["temperature"] == 1.0
    assert meta["long_note"]["kind"] == "head_tail" and meta["pathspec"].startswith("TrainFlow/")
    config = json.loads((pkg / "config.json").read_text())
    assert config["id2label"] == {str(i): lab for i, lab in enumerate(LABELS)}
    listed = json.loads((pkg / "manifest.json").read_text())["files"]
    assert {"model.safetensors", "config.json", "medtx.json", "tokenizer.json"} <= set(listed)
    assert not [p for p in pkg.iterdir() if p.suffix in {".bin", ".pkl", ".pt"}]


def test_loaded_package_predicts_like_the_trained_model(pkg, trained):
    result, tokenizer, strategy = trained
    fresh = Predictor(result.model, tokenizer, {"long_note": strategy.to_dict()}, device="cpu")
    loaded = Predictor.load(pkg, device="cpu")
    assert loaded.labels == LABELS and loaded.strategy == strategy
    np.testing.assert_allclose(loaded.logits(NOTES), fresh.logits(NOTES), atol=1e-5)


def test_flipped_byte_in_weights_is_refused(pkg):
    weights = pkg / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.safetensors"):
        load_package(pkg)


def test_unlisted_and_missing_files_are_refused(pkg):
    (pkg / "notes.txt").write_text("extra")
    with pytest.raises(IntegrityError, match="notes.txt"):
        verify_package(pkg)
    (pkg / "notes.txt").unlink()
    (pkg / "tokenizer_config.json").unlink()
    with pytest.raises(IntegrityError, match="tokenizer_config.json"):
        verify_package(pkg)


def test_pickle_files_are_refused_even_when_listed(pkg):
    (pkg / "pytorch_model.bin").write_bytes(b"\x80\x04N.")
    manifest = json.loads((pkg / "manifest.json").read_text())
    manifest["files"]["pytorch_model.bin"] = "0" * 64
    (pkg / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="pickle"):
        verify_package(pkg)


def test_update_meta_sets_temperature_and_keeps_package_valid(pkg):
    before = Predictor.load(pkg, device="cpu").predict_proba(NOTES)
    update_meta(pkg, temperature=2.0, metrics={"test_macro_f1": np.float64(0.5)})
    meta = verify_package(pkg)
    assert meta["temperature"] == 2.0 and meta["metrics"] == {"test_macro_f1": 0.5}
    after = Predictor.load(pkg, device="cpu").predict_proba(NOTES)
    assert np.array_equal(after.argmax(1), before.argmax(1))
    assert after.max() < before.max()
    with pytest.raises(ValueError):
        update_meta(pkg, labels=["x"])


def test_added_files_are_listed_and_pickles_still_refused(pkg, tmp_path):
    report = tmp_path / "evaluation.json"
    report.write_text('{"macro_f1": 0.5}')
    manifest = add_files(pkg, {"evaluation.json": report, "cards/notes.txt": "ok"})
    assert {"evaluation.json", "cards/notes.txt"} <= set(manifest["files"])
    assert verify_package(pkg)["labels"] == LABELS
    with pytest.raises(IntegrityError, match="pickle"):
        add_files(pkg, {"extra.pkl": b"\x80\x04N."})
    for name in ("../outside.txt", "model.safetensors", "tokenizer.json"):
        with pytest.raises(ValueError):
            add_files(pkg, {name: "x"})


def test_tarball_round_trip_has_files_at_root(pkg, tmp_path):
    tar = make_tarball(pkg, tmp_path / "model.tar.gz")
    with tarfile.open(tar) as tf:
        names = tf.getnames()
    assert "model.safetensors" in names and "manifest.json" in names
    assert all("/" not in n for n in names)
    assert make_tarball(pkg, tmp_path / "again.tar.gz").read_bytes() == tar.read_bytes()
    out = extract_tarball(tar, tmp_path / "unpacked")
    assert verify_package(out)["labels"] == LABELS


def test_bytes_round_trip(pkg, tmp_path):
    out = package_from_bytes(package_to_bytes(pkg), tmp_path / "from-bytes")
    np.testing.assert_allclose(Predictor.load(out, device="cpu").logits(NOTES),
                               Predictor.load(pkg, device="cpu").logits(NOTES))


def test_unsafe_tarball_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    (tmp_path / "bad.tar.gz").write_bytes(buf.getvalue())
    with pytest.raises(IntegrityError, match="unsafe"):
        extract_tarball(tmp_path / "bad.tar.gz", tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()
