"""Predictor: input checks at the boundary, batched inference, output shapes."""
from __future__ import annotations

import numpy as np
import pytest

from medtx.errors import InputError, MedtxError
from medtx.modeling import predictor as predictor_mod
from medtx.modeling.features import LongNoteStrategy
from medtx.modeling.predictor import Predictor

NOTES = [
    "mr smith . heart murmur valve noted .",
    "mr jones . knee fracture cast .",
    "mrs brown . seizure tremor aura today .",
    "patient presents with cardiac history . stent ventricle troponin coronary .",
    "mr taylor . gait reflexes cortex migraine follow up visit .",
    "mr miller . tendon ligament splint femur cartilage plan discussed .",
    "mrs jones . exam was stable .",
    " ".join(["mr brown . knee fracture tendon ligament cast splint femur cartilage ."] * 4),
]
SECRET = "mrs secretname . heart"


@pytest.fixture
def predictor(trained):
    result, tokenizer, strategy = trained
    return Predictor(result.model, tokenizer, {"long_note": strategy.to_dict()}, device="cpu")


def test_input_errors_are_typed_and_name_positions_not_text(predictor):
    with pytest.raises(InputError, match="single string") as bare:
        predictor.predict_proba(SECRET)
    assert isinstance(bare.value, MedtxError) and isinstance(bare.value, ValueError)
    with pytest.raises(InputError, match=r"2 note\(s\) are not strings .*position\(s\) 1, 3"):
        predictor.logits([SECRET, None, SECRET, 7])
    with pytest.raises(InputError, match=r"empty or whitespace only at position\(s\) 0, 2$"):
        predictor.predict(["", SECRET, " \n\t"])
    with pytest.raises(InputError, match="list of notes"):
        predictor.logits(42)
    with pytest.raises(InputError, match=r"\(and 2 more\)"):
        predictor.logits([""] * 12)
    for texts in (SECRET, [SECRET, ""], [SECRET, b"heart"]):
        with pytest.raises(InputError) as err:
            predictor.logits(texts)
        assert "secretname" not in str(err.value) and "heart" not in str(err.value)


def test_empty_request_gives_empty_results(predictor):
    n_classes = len(predictor.labels)
    assert predictor.logits([]).shape == (0, n_classes)
    assert predictor.predict_proba([]).shape == (0, n_classes)
    assert predictor.predict([]) == []


def test_batch_size_does_not_change_probabilities(predictor, trained):
    result, tokenizer, strategy = trained
    meta = {"long_note": strategy.to_dict()}
    small = Predictor(result.model, tokenizer, meta, device="cpu", batch_size=2)
    large = Predictor(result.model, tokenizer, meta, device="cpu", batch_size=64)
    np.testing.assert_allclose(small.predict_proba(NOTES), large.predict_proba(NOTES), atol=1e-6)
    chunks = {"long_note": LongNoteStrategy("chunks", max_length=16, chunk_stride=4).to_dict()}
    enc = predictor_mod.encode_texts(NOTES, tokenizer, LongNoteStrategy.from_dict(chunks["long_note"]))
    assert len(enc.input_ids) > len(NOTES)  # the long note spans several windows
    np.testing.assert_allclose(  # several windows per note, pooled the same way in any slice
        Predictor(result.model, tokenizer, chunks, device="cpu", batch_size=2).logits(NOTES),
        Predictor(result.model, tokenizer, chunks, device="cpu", batch_size=64).logits(NOTES),
        atol=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        Predictor(result.model, tokenizer, meta, device="cpu", batch_size=0)


def test_request_is_encoded_in_slices_of_batch_size(trained, monkeypatch):
    result, tokenizer, strategy = trained
    sizes = []
    original = predictor_mod.encode_texts

    def spy(texts, tok, strat):
        sizes.append(len(texts))
        return original(texts, tok, strat)

    monkeypatch.setattr(predictor_mod, "encode_texts", spy)
    p = Predictor(result.model, tokenizer, {"long_note": strategy.to_dict()}, device="cpu",
                  batch_size=3)
    assert p.logits(NOTES).shape == (len(NOTES), len(p.labels))
    assert sizes == [3, 3, 2]


def test_predict_gives_one_label_and_distribution_per_note(package_dir):
    p = Predictor.load(package_dir, device="cpu", batch_size=4)
    out = p.predict(NOTES)
    assert len(out) == len(NOTES)
    for row, proba in zip(out, p.predict_proba(NOTES)):
        assert set(row) == {"label", "probabilities"}
        assert list(row["probabilities"]) == p.labels and row["label"] in p.labels
        assert sum(row["probabilities"].values()) == pytest.approx(1.0)
        assert row["label"] == p.labels[int(np.argmax(proba))]
    assert p.predict_proba(tuple(NOTES[:2])).shape == (2, len(p.labels))  # any sequence of str
