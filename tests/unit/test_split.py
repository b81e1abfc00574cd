"""The split never leaks a note across sides, stratifies by class, and is deterministic."""
import hashlib

import pandas as pd
import pytest

from medtx.config import SplitSettings
from medtx.data.split import split_notes
from medtx.errors import TrainingError


def group(text):
    return hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()


def make_notes(n_per_class=20, classes=("A", "B", "C"), shared=8):
    rows = []
    for c in classes:
        for i in range(n_per_class):
            rows.append((f"{c}-{i}", f"note {c} number {i}", c))
    # the same text under two labels (like Surgery + an organ specialty)
    for i in range(shared):
        rows.append((f"dupB-{i}", f"note A number {i}", "B"))
    frame = pd.DataFrame(rows, columns=["note_id", "text", "label"])
    frame["group"] = frame["text"].map(group)
    return frame


def test_identical_notes_share_a_side_and_overlap_is_zero():
    s = split_notes(make_notes(), SplitSettings(seed=1))
    sides = {side: set(s.frame(side)["group"]) for side in ("train", "val", "test")}
    assert not sides["train"] & sides["test"]
    assert not sides["train"] & sides["val"]
    assert not sides["val"] & sides["test"]
    assert s.overlap == {"train_val": 0, "train_test": 0, "val_test": 0}


def test_every_note_lands_once():
    notes = make_notes()
    s = split_notes(notes, SplitSettings())
    ids = pd.concat([s.train, s.val, s.test])["note_id"]
    assert sorted(ids) == sorted(notes["note_id"])


def test_all_labels_records_every_label_of_a_text():
    s = split_notes(make_notes(), SplitSettings(seed=3))
    everything = pd.concat([s.train, s.val, s.test])
    shared = everything[everything["text"] == "note A number 0"]
    assert len(shared) == 2
    assert all(labels == ["A", "B"] for labels in shared["all_labels"])
    assert s.summary()["test_multi_label_notes"] == sum(
        len(v) > 1 for v in s.test.drop_duplicates("group")["all_labels"]
    )


def test_stratified_per_class():
    s = split_notes(make_notes(n_per_class=40), SplitSettings(test_size=0.2, val_size=0.2, seed=0))
    counts = s.summary()["class_counts"]
    for label in ("A", "C"):
        assert 6 <= counts["test"][label] <= 10
        assert 6 <= counts["val"][label] <= 10


def test_deterministic_by_seed():
    notes = make_notes()
    a = split_notes(notes, SplitSettings(seed=7))
    b = split_notes(notes.sample(frac=1, random_state=3), SplitSettings(seed=7))
    c = split_notes(notes, SplitSettings(seed=8))
    assert list(a.test["note_id"]) == list(b.test["note_id"])
    assert list(a.test["note_id"]) != list(c.test["note_id"])


def test_whitespace_and_case_variants_are_one_note():
    notes = make_notes()
    extra = pd.DataFrame([("v", "NOTE  A number\n0", "C")], columns=["note_id", "text", "label"])
    extra["group"] = extra["text"].map(group)
    s = split_notes(pd.concat([notes, extra], ignore_index=True), SplitSettings())
    side_of = {nid: side for side in ("train", "val", "test") for nid in s.frame(side)["note_id"]}
    assert side_of["v"] == side_of["A-0"] == side_of["dupB-0"]


def test_label_ids_and_y():
    s = split_notes(make_notes(), SplitSettings())
    assert s.labels == ["A", "B", "C"]
    assert [s.labels[i] for i in s.y("test")] == list(s.test["label"])


def test_too_few_notes_fail_clearly():
    notes = make_notes(n_per_class=1, classes=("A",), shared=0)
    with pytest.raises(TrainingError, match="too few distinct notes"):
        split_notes(notes, SplitSettings())
    with pytest.raises(TrainingError, match="no notes"):
        split_notes(notes.iloc[:0], SplitSettings())
