"""Behavioural tests on a trained tiny model: invariance, minimum functionality, long notes."""
from __future__ import annotations

import random

import pytest

from medtx.modeling.features import LongNoteStrategy, encode_texts
from medtx.modeling.predictor import Predictor


@pytest.fixture(scope="module")
def predictor(trained, toy_labels):
    result, tokenizer, strategy = trained
    meta = {"long_note": strategy.to_dict(), "labels": toy_labels}
    return Predictor(result.model, tokenizer, meta, device="cpu")


@pytest.fixture(scope="module")
def held_out(toy_set):
    return toy_set(8, seed=99)


def _labels(predictor, texts):
    return [p["label"] for p in predictor.predict(texts)]


def test_held_out_notes_are_mostly_right(predictor, held_out, toy_labels):
    texts, y = held_out
    hits = sum(p == toy_labels[t] for p, t in zip(_labels(predictor, texts), y))
    assert hits / len(y) >= 0.9


def test_invariant_to_extra_whitespace(predictor, held_out):
    texts, _ = held_out
    spaced = ["  " + t.replace(" ", "   \n ").replace(".", " .\t") + "\n\n" for t in texts]
    assert _labels(predictor, spaced) == _labels(predictor, texts)


def test_invariant_to_patient_name(predictor, held_out):
    texts, _ = held_out
    renamed = [t.replace("mr smith", "mr jones").replace("mr brown", "mr taylor")
               for t in texts]
    assert renamed != texts
    assert _labels(predictor, renamed) == _labels(predictor, texts)


@pytest.mark.parametrize("label", ["cardio", "ortho", "neuro"])  # every toy label
def test_note_full_of_class_words_is_that_class(predictor, toy_task, label):
    text = "mr miller . " + " ".join(toy_task.signal[label] * 2) + " ."
    assert _labels(predictor, [text]) == [label]


def test_probabilities_sum_to_one_and_name_every_label(predictor, held_out, toy_labels):
    out = predictor.predict(held_out[0][:3])
    for p in out:
        assert set(p["probabilities"]) == set(toy_labels)
        assert abs(sum(p["probabilities"].values()) - 1.0) < 1e-6


def _late_signal_note(toy_task, label: str) -> str:
    rng = random.Random(5)
    return "mr smith . " + " ".join(rng.choices(toy_task.filler, k=120)) + " . " + \
        " ".join(toy_task.signal[label][:6]) + " ."


@pytest.mark.parametrize("label", ["ortho", "neuro"])
def test_trained_model_uses_signal_beyond_the_head_window(trained, toy_task, label):
    result, tokenizer, strategy = trained
    text = _late_signal_note(toy_task, label)
    signal_ids = set(tokenizer.convert_tokens_to_ids(toy_task.signal[label]))
    head = encode_texts([text], tokenizer, LongNoteStrategy("head", strategy.max_length))
    assert not signal_ids & set(head.input_ids[0])
    assert signal_ids & set(encode_texts([text], tokenizer, strategy).input_ids[0])
    meta = {"long_note": strategy.to_dict(), "labels": toy_task.labels}
    assert _labels(Predictor(result.model, tokenizer, meta, device="cpu"), [text]) == [label]


@pytest.mark.parametrize("label", ["ortho", "neuro"])
def test_only_head_tail_and_chunks_see_a_late_signal(tiny_tokenizer, keyword_model, toy_task, label):
    model = keyword_model(tiny_tokenizer)
    text = _late_signal_note(toy_task, label)
    labels = toy_task.labels
    seen = {}
    for kind in ("head", "head_tail", "chunks"):
        strategy = LongNoteStrategy(kind, 32, head_tokens=8, chunk_stride=4, max_chunks=3)
        meta = {"long_note": strategy.to_dict(), "labels": labels}
        predictor = Predictor(model, tiny_tokenizer, meta, device="cpu")
        seen[kind] = predictor.logits([text])[0]
    assert not seen["head"].any()
    assert labels[int(seen["head_tail"].argmax())] == label
    assert labels[int(seen["chunks"].argmax())] == label
