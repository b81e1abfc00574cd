"""Fine-tuning: class weights, batching, the training loop and per-note pooling."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from medtx.errors import TrainingError
from medtx.modeling.features import Encoded
from medtx.modeling.inference import predict_logits
from medtx.modeling.loss import class_weights, weighted_loss
from medtx.modeling.train import finetune, linear_schedule, stratified_subsample
from medtx.modeling.windows import WindowData, one_window_per_note


def test_class_weights_favour_the_rare_class():
    y = np.array([0] * 90 + [1] * 10)
    balanced = class_weights(y, 2, "balanced")
    sqrt = class_weights(y, 2, "sqrt")
    assert class_weights(y, 2, "none") is None
    assert balanced[1] > balanced[0]
    assert torch.allclose(balanced, torch.tensor([100 / 180, 100 / 20]))
    for c in range(2):
        lo, hi = sorted([1.0, float(balanced[c])])
        assert lo < float(sqrt[c]) < hi


def test_balanced_weights_are_n_over_k_count_with_absent_classes_kept_finite():
    y = np.array([0] * 6 + [1] * 3 + [3] * 1)  # class 2 absent, 4 classes in all
    n, k = len(y), 4
    expected = [n / (k * 6), n / (k * 3), n / (k * 1), n / (k * 1)]  # absent: as if one member
    np.testing.assert_allclose(class_weights(y, k, "balanced").numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(class_weights(y, k, "sqrt").numpy(), np.sqrt(expected), rtol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        class_weights(y, k, "inverse")
    with pytest.raises(ValueError, match="0..3"):
        class_weights(np.array([0, 4]), k, "balanced")


def test_schedule_warms_up_linearly_then_decays_to_zero():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = linear_schedule(optimizer, total_steps=20, warmup_ratio=0.2)  # 4 warmup steps
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(lrs[:4], [0.25, 0.5, 0.75, 1.0])  # the first step is not at 0
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:]))  # strictly decreasing after the peak
    np.testing.assert_allclose(lrs[4:], [(20 - s) / 16 for s in range(4, 20)])
    assert lrs[-1] > 0 and optimizer.param_groups[0]["lr"] == 0.0  # 0 once every step is done
    no_warmup = torch.optim.SGD([param], lr=1.0)
    linear_schedule(no_warmup, total_steps=10, warmup_ratio=0.0)
    assert no_warmup.param_groups[0]["lr"] == 1.0  # the first step already at full rate


def test_weighted_loss_moves_towards_the_rare_class():
    y = torch.tensor([0] * 9 + [1])
    # the model is confident in class 0 everywhere: right on the common class, wrong on the rare
    logits = torch.tensor([[3.0, -3.0]] * 10)
    plain = weighted_loss(logits, y, None)
    weighted = weighted_loss(logits, y, class_weights(y.numpy(), 2, "balanced"))
    assert weighted > plain
    good_on_rare = torch.tensor([[3.0, -3.0]] * 9 + [[-3.0, 3.0]])
    assert weighted_loss(good_on_rare, y, class_weights(y.numpy(), 2, "balanced")) < weighted


def test_length_grouped_batches_cover_everything_once_and_pad_little():
    lengths = [5, 50, 6, 48, 7, 49, 8, 47]
    enc = Encoded([[1] * n for n in lengths], list(range(8)), 8)
    data = WindowData(enc, np.arange(8), pad_id=0, multiple=8)
    batches = data.batches(2, np.random.default_rng(0), mega=4)
    assert sorted(int(i) for b in batches for i in b) == list(range(8))
    for b in batches:
        assert np.ptp(data.lengths[b]) <= 3
    batch = data.collate(np.array([0, 2]), torch.device("cpu"))  # lengths 5 and 6
    assert batch["input_ids"].shape == (2, 8)
    assert batch["attention_mask"].tolist() == [[1] * 5 + [0] * 3, [1] * 6 + [0] * 2]
    assert data.collate(np.array([1, 5]), torch.device("cpu"))["input_ids"].shape == (2, 50)
    same = data.collate(np.array([1, 1]), torch.device("cpu"))
    assert same["attention_mask"] is None and same["input_ids"].shape == (2, 50)


def test_stratified_subsample_is_deterministic_and_proportional():
    y = np.array([0] * 80 + [1] * 20)
    a, b = stratified_subsample(y, 50, 3), stratified_subsample(y, 50, 3)
    assert np.array_equal(a, b) and len(a) == 50 and len(set(a)) == 50
    assert np.bincount(y[a]).tolist() == [40, 10]
    assert not np.array_equal(a, stratified_subsample(y, 50, 4))  # the seed decides the draw
    assert np.array_equal(stratified_subsample(y, 200, 3), np.arange(100))  # cap above n: all


def test_stratified_subsample_copes_with_single_member_classes():
    y = np.array([0] * 30 + [1] * 10 + [2] + [3])  # two classes with one note each
    keep = stratified_subsample(y, 21, 0)
    assert len(keep) == len(set(keep)) == 21
    counts = np.bincount(y[keep], minlength=4)
    assert counts[0] == 15 and counts[1] == 5  # the big classes stay proportional
    lone = np.array([0] * 30 + [1] * 10 + [2])  # one singleton: it joins the largest class
    assert len(stratified_subsample(lone, 20, 0)) == 20
    many = np.arange(12) % 6  # more classes than the cap: a plain random draw
    assert len(stratified_subsample(many, 3, 0)) == 3


def test_training_reduces_loss_and_keeps_best_epoch(trained):
    result, _, _ = trained
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.5 * losses[0]
    best = max(result.history, key=lambda h: (h["val_macro_f1"], -h["val_loss"]))
    assert result.best_epoch == best["epoch"] and best["val_macro_f1"] > 0.9
    assert result.device == "cpu" and result.precision == "fp32"
    assert set(result.history[0]) >= {"epoch", "train_loss", "val_macro_f1", "val_accuracy",
                                      "seconds", "train_windows", "samples_per_s"}


def test_chunk_logits_are_mean_pooled_per_note(tiny_model_factory):
    model = tiny_model_factory().eval()
    windows = [[2, 10, 11, 3], [2, 12, 3], [2, 13, 14, 15, 3]]
    pooled = predict_logits(model, Encoded(windows, [0, 1, 0], 2), batch_size=2)
    single = predict_logits(model, Encoded(windows, [0, 1, 2], 3), batch_size=1)
    assert pooled.shape == (2, 3)
    np.testing.assert_allclose(pooled[0], (single[0] + single[2]) / 2, atol=1e-5)
    np.testing.assert_allclose(pooled[1], single[1], atol=1e-5)


def test_empty_validation_split_is_refused(tiny_model_factory, toy_train_settings):
    enc = Encoded([[2, 10, 3]], [0], 1)
    with pytest.raises(TrainingError, match="validation"):
        finetune(tiny_model_factory(), enc, [0], Encoded([], [], 0), [],
                 replace(toy_train_settings, epochs=1), pad_id=0, progress=False)


def test_one_window_per_note_draws_each_note_once_and_covers_every_window():
    index = np.array([0, 1, 0, 2, 1, 0, 2, 2, 2])  # windows of a note need not be adjacent
    seen = set()
    for seed in range(60):
        rows = one_window_per_note(index, np.random.default_rng(seed))
        assert sorted(index[rows].tolist()) == [0, 1, 2]  # one window of every note
        seen |= set(rows.tolist())
    assert seen == set(range(len(index)))  # over epochs every window gets its turn


def test_window_sampling_trains_one_window_per_note_per_epoch(tiny_model_factory, toy_train_settings,
                                                              monkeypatch):
    from medtx.modeling import train as train_mod

    windows = [[2, 10 + i % 5, 11, 3] for i in range(30)]
    enc = Encoded(windows, [i // 3 for i in range(30)], 10)  # 10 notes, 3 windows each
    y = np.arange(10) % 3
    seen_rows = []
    original = WindowData.batches

    def spy(self, batch_size, rng, mega=50, rows=None):
        seen_rows.append(None if rows is None else np.asarray(rows))
        return original(self, batch_size, rng, mega, rows)

    monkeypatch.setattr(train_mod.WindowData, "batches", spy)
    settings = replace(toy_train_settings, epochs=2, batch_size=4, window_sampling="one_per_note")
    result = finetune(tiny_model_factory(), enc, y, enc, y, settings, pad_id=0, progress=False)
    assert len(seen_rows) == 2 and all(r is not None and len(r) == 10 for r in seen_rows)
    assert all(sorted(np.asarray(enc.note_index)[r].tolist()) == list(range(10)) for r in seen_rows)
    assert not np.array_equal(seen_rows[0], seen_rows[1])  # a fresh draw each epoch
    seen_rows.clear()
    finetune(tiny_model_factory(), enc, y, enc, y, replace(settings, window_sampling="all", epochs=1),
             pad_id=0, progress=False)
    assert seen_rows == [None]  # "all" trains on all 30 windows
    assert len(result.history) == 2


def test_result_keeps_the_best_epochs_validation_logits(trained, toy_set):
    from medtx.modeling.features import encode_texts

    result, tokenizer, strategy = trained
    x_val, y_val = toy_set(10, seed=2)  # the validation set the fixture trained with
    fresh = predict_logits(result.model, encode_texts(x_val, tokenizer, strategy))
    np.testing.assert_allclose(result.val_logits, fresh, atol=1e-4)
    best = result.history[result.best_epoch - 1]
    assert best["val_accuracy"] == pytest.approx(float((result.val_logits.argmax(1) == y_val).mean()))
