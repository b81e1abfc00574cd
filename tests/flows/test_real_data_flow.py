"""TrainFlow on the real Medical Transcriptions file (skipped when absent), with a tiny model:
this checks the data half on real data — checks pass, the split is text-disjoint, every test
note records all its labels — not model quality (see bench/ and docs/recipes.md for that)."""
from __future__ import annotations

import json

import pytest

CHUNKED = {"model": {"long_note": "chunks", "max_chunks": 4, "chunk_stride": 8},
           "train": {"window_sampling": "one_per_note"}}


@pytest.mark.flows
@pytest.mark.real_data
@pytest.mark.parametrize("preset, n_classes, recipe", [("spec12", 12, {}), ("all40", 40, CHUNKED)])
def test_real_data_runs_with_a_text_disjoint_split(tmp_path, flow_config, run_flow, real_data_path, preset,
                                                   n_classes, recipe):
    train = {"epochs": 1, "max_train_notes": 300, **recipe.get("train", {})}
    cfg = flow_config(train=train, **{k: v for k, v in recipe.items() if k != "train"})
    run = run_flow(tmp_path, cfg, data=str(real_data_path), labels=preset, output_dir=str(tmp_path / "out"))
    split = run["split"].task.data.split_data
    summary = split.summary()
    assert summary["overlap"] == {"train_val": 0, "train_test": 0, "val_test": 0}
    groups = {side: set(split.frame(side)["group"]) for side in ("train", "val", "test")}
    assert not (groups["train"] & groups["test"]) and not (groups["train"] & groups["val"])
    assert len(split.labels) == n_classes
    # notes filed under several specialties keep every label for the any-label metric
    assert summary["test_multi_label_notes"] > 0
    assert all(label in labels for label, labels in zip(split.test["label"], split.test["all_labels"]))
    validation = run["validate"].task.data.validation
    assert validation.counts["quarantined"] >= 33  # the empty transcriptions, kept with a reason
    assert (validation.quarantine["reason"] == "empty_text").sum() >= 33
    evaluation = run["evaluate"].task.data.evaluation
    assert evaluation.model.n == evaluation.baseline.n == len(split.test)
    # multi-label notes cap what any single-label classifier can score; both systems stay below
    ceiling = evaluation.ceiling
    assert ceiling.rows == len(split.test) and ceiling.notes == split.test["group"].nunique()
    assert ceiling.multi_label_notes == summary["test_multi_label_notes"]
    assert ceiling.accuracy < 1.0
    for system in (evaluation.model, evaluation.baseline):
        assert system.accuracy <= ceiling.accuracy + 1e-9
    if recipe:  # chunked training: the package keeps the strategy, so prediction pools windows too
        meta = json.loads((tmp_path / "out" / run.id / "model" / "medtx.json").read_text())
        assert meta["long_note"]["kind"] == "chunks" and meta["long_note"]["max_chunks"] == 4
        tokenized = run["tokenize"].task.data.tokenized
        assert tokenized.encoded["train"].n_windows > tokenized.encoded["train"].n_notes
        # one window of each of the 300 sampled notes per epoch, not every window
        assert run["finetune"].task.data.finetuned.history[0]["train_windows"] == 300
