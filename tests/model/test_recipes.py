"""Recipe parts: soft and label-set targets for notes filed under several labels, the wide-and-deep model
(lexical class scores joined with the transformer), whole-note (pooled) training and
layer-wise learning rates; and that a wide-and-deep package serves what evaluation scored.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from medtx.errors import IntegrityError, TrainingError
from medtx.modeling.baseline import Baseline, fit_baseline, out_of_fold_scores
from medtx.modeling.features import Encoded
from medtx.modeling.loss import class_weights, weighted_loss
from medtx.modeling.targets import note_targets
from medtx.modeling.train import TrainStep, finetune, layer_depth, param_groups
from medtx.modeling.windows import WindowData

# --- soft targets -----------------------------------------------------------------------------

def _frame(rows):
    """rows: (text, label, all_labels); the group is the text."""
    return pd.DataFrame({"note_id": [f"n{i}" for i in range(len(rows))],
                         "text": [r[0] for r in rows], "label": [r[1] for r in rows],
                         "group": [r[0] for r in rows], "all_labels": [list(r[2]) for r in rows]})


def test_soft_targets_train_each_note_once_towards_its_label_set():
    labels = ["a", "b", "c"]
    frame = _frame([("x", "a", ["a", "b"]), ("y", "c", ["c"]), ("x", "b", ["a", "b"]),
                    ("z", "b", ["b", "surgery"])])  # "surgery" is not a model class
    rows, soft = note_targets(frame, labels, "soft")
    assert rows.tolist() == [0, 1, 3]  # the twin row of "x" is not trained on twice
    np.testing.assert_allclose(soft, [[0.5, 0.5, 0], [0, 0, 1], [0, 1, 0]])
    rows, hard = note_targets(frame, labels, "single")
    assert rows.tolist() == [0, 1, 2, 3] and hard.tolist() == [0, 2, 1, 1]
    with pytest.raises(ValueError, match="not model classes"):
        note_targets(frame, ["a", "b"], "soft")


def test_soft_loss_equals_weighted_cross_entropy_on_one_hot_targets():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 2])
    w = class_weights(y.numpy(), 3, "balanced")
    one_hot = torch.nn.functional.one_hot(y, 3).float()
    assert torch.allclose(weighted_loss(logits, one_hot, w), weighted_loss(logits, y, w), atol=1e-6)
    # class weights from soft targets count each class's target mass
    soft = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(class_weights(soft, 3, "balanced").numpy(),
                               [4 / (3 * 0.5), 4 / (3 * 0.5), 4 / (3 * 3.0)], rtol=1e-6)
    # a split note pulls towards both labels: the loss is lowest at the 50/50 prediction
    target = torch.tensor([[0.5, 0.5, 0.0]])
    even, sure = torch.tensor([[3.0, 3.0, -3.0]]), torch.tensor([[6.0, 0.0, -3.0]])
    assert weighted_loss(even, target, None) < weighted_loss(sure, target, None)


def test_multilabel_targets_mark_every_label_of_a_note():
    labels = ["a", "b", "c"]
    frame = _frame([("x", "a", ["a", "b"]), ("y", "c", ["c"]), ("x", "b", ["a", "b"]),
                    ("z", "b", ["b", "surgery"])])
    rows, sets = note_targets(frame, labels, "multilabel")
    assert rows.tolist() == [0, 1, 3]
    np.testing.assert_array_equal(sets, [[1, 1, 0], [0, 0, 1], [0, 1, 0]])
    with pytest.raises(ValueError, match="'single', 'soft' or 'multilabel'"):
        note_targets(frame, labels, "sets")


def test_multilabel_loss_asks_each_class_whether_it_is_in_the_set():
    torch.manual_seed(0)
    logits = torch.randn(5, 3)
    sets = torch.tensor([[1, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]]).float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, sets, reduction="none").sum(1).mean()
    assert torch.allclose(weighted_loss(logits, sets, None, multilabel=True), bce, atol=1e-6)
    # class weights scale the positive terms only
    w = torch.tensor([2.0, 1.0, 0.5])
    manual = -(sets * w * torch.nn.functional.logsigmoid(logits)
               + (1 - sets) * torch.nn.functional.logsigmoid(-logits)).sum(1).mean()
    assert torch.allclose(weighted_loss(logits, sets, w, multilabel=True), manual, atol=1e-6)
    # a note in two classes: surer of both is better, where soft targets only want them equal
    target = torch.tensor([[1.0, 1.0, 0.0]])
    even, surer = torch.tensor([[3.0, 3.0, -3.0]]), torch.tensor([[6.0, 6.0, -3.0]])
    assert weighted_loss(surer, target, None, multilabel=True) < weighted_loss(even, target, None, multilabel=True)
    assert torch.isclose(weighted_loss(surer, target / 2, None), weighted_loss(even, target / 2, None), atol=5e-3)


def test_multilabel_fine_tune_learns_and_refuses_distributions(tiny_model_factory, toy_train_settings,
                                                                tiny_tokenizer, toy_strategy, toy_set):
    from medtx.modeling.features import encode_texts

    x_train, y_train = toy_set(40, seed=1)
    x_val, y_val = toy_set(6, seed=2)
    sets = np.eye(3, dtype=np.float32)[y_train]
    second = np.arange(0, len(y_train), 6)  # one note in six is filed under a second class too
    sets[second, (y_train[second] + 1) % 3] = 1.0
    enc_train = encode_texts(x_train, tiny_tokenizer, toy_strategy)
    enc_val = encode_texts(x_val, tiny_tokenizer, toy_strategy)
    settings = replace(toy_train_settings, targets="multilabel")
    result = finetune(tiny_model_factory(), enc_train, sets, enc_val, y_val, settings,
                      pad_id=tiny_tokenizer.pad_token_id, progress=False)
    assert result.history[result.best_epoch - 1]["val_macro_f1"] >= 0.9
    assert (result.val_logits.argmax(axis=1) == y_val).mean() >= 0.9
    step = TrainStep(tiny_model_factory().eval(), settings, torch.device("cpu"), total_steps=1)
    ids, mask = torch.tensor([[2, 10, 3], [2, 11, 3]]), torch.ones(2, 3, dtype=torch.long)
    labels = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with torch.no_grad():  # the step's loss is the per-class one, not a cross-entropy
        assert torch.isclose(step._eager_forward_loss(ids, mask, labels),
                             weighted_loss(step.logits(ids, mask), labels, None, multilabel=True))
    for wrong in (sets / sets.sum(axis=1, keepdims=True), y_train):  # distributions, class ids
        with pytest.raises(TrainingError, match="label sets"):
            finetune(tiny_model_factory(), enc_train, wrong, enc_val, y_val,
                     replace(settings, epochs=1), pad_id=0, progress=False)


# --- the lexical branch -----------------------------------------------------------------------

def _lexical_set(seed=0, n=60):
    rng = np.random.default_rng(seed)
    words = {0: "heart valve murmur", 1: "knee fracture cast", 2: "seizure migraine aura"}
    texts, y = [], []
    for i in range(n):
        c = i % 3
        texts.append(f"{words[c]} patient visit {rng.integers(1000)} " + " ".join(
            rng.choice("the and follow plan stable".split(), 4)))
        y.append(c)
    return texts, np.array(y)


def test_exported_baseline_scores_exactly_like_the_fitted_one():
    texts, y = _lexical_set()
    fitted = fit_baseline(texts, y, 4, seed=0)  # class 3 absent from training
    spec, arrays = fitted.export()
    json.dumps(spec)  # parameters are plain JSON
    restored = Baseline.restore(json.loads(json.dumps(spec)), arrays)
    new = texts[:5] + ["unseen words only", "HEART Valve, knee!"]
    np.testing.assert_allclose(restored.decision_scores(new), fitted.decision_scores(new), atol=1e-5)
    arrays["coef"] = arrays["coef"][:, :-1]
    with pytest.raises(ValueError, match="do not match"):
        Baseline.restore(spec, arrays)


def test_wide_head_for_label_sets_starts_per_class():
    from medtx.modeling.wide import initial_head

    rng = np.random.default_rng(0)
    sets = np.zeros((90, 4), dtype=np.float32)
    sets[np.arange(90), np.arange(90) % 3] = 1.0
    sets[::5, 1] = 1.0  # some notes also carry class 1; class 3 is in no set
    scores = sets * 3.0 + rng.normal(0, 0.3, sets.shape)
    weight, bias = initial_head(scores, sets.argmax(axis=1), 4, sets=sets)
    member = 1 / (1 + np.exp(-(scores @ weight.T + bias)))
    assert member[sets == 1].min() > 0.5 and member[:, :3][sets[:, :3] == 0].max() < 0.5
    assert (weight[3] == 0).all() and bias[3] == -5.0  # never a member: unlikely everywhere
    everywhere = np.ones_like(sets)
    assert (initial_head(scores, sets.argmax(axis=1), 4, sets=everywhere)[1] == 5.0).all()
    with pytest.raises(ValueError, match="label sets of shape"):
        initial_head(scores, sets.argmax(axis=1), 4, sets=sets[:10])


def test_out_of_fold_scores_come_from_fits_that_never_saw_the_note_or_its_twin():
    # Each group's text holds a token no other group has, plus a twin row with the same text:
    # a fit that saw the group scores its label high; an out-of-fold fit cannot know it.
    rng = np.random.default_rng(1)
    texts, y, groups = [], [], []
    for g in range(40):
        label = int(rng.integers(3))
        text = f"common words here uniq{g}token"
        texts += [text, text]
        y += [label, label]
        groups += [f"g{g}", f"g{g}"]
    y = np.array(y)
    in_sample = fit_baseline(texts, y, 3).decision_scores(texts)
    oof = out_of_fold_scores(texts, y, groups, 3, folds=5)
    assert (in_sample.argmax(axis=1) == y).mean() == 1.0  # memorised
    assert (oof.argmax(axis=1) == y).mean() < 0.7  # unseen groups: no memory to lean on
    np.testing.assert_allclose(oof[0::2], oof[1::2])  # twins are held out together
    with pytest.raises(TrainingError, match="at least 50 distinct notes"):
        out_of_fold_scores(texts, y, groups, 3, folds=50)


# --- optimisation and whole-note training ------------------------------------------------------

def test_layer_wise_learning_rates(tiny_model_factory, toy_train_settings):
    model = tiny_model_factory()  # 2 layers
    assert layer_depth("bert.embeddings.word_embeddings.weight", 2) == 0
    assert layer_depth("bert.encoder.layer.1.attention.self.query.weight", 2) == 2
    assert layer_depth("classifier.weight", 2) == 3
    settings = replace(toy_train_settings, learning_rate=1e-3, layer_decay=0.5, head_learning_rate=1e-2)
    extra = torch.nn.Linear(3, 3)
    groups = param_groups(model, settings, [extra])
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["bert.encoder.layer.1.output.dense.weight"])] == pytest.approx(1e-3)
    assert lr_of[id(named["bert.encoder.layer.0.output.dense.weight"])] == pytest.approx(5e-4)
    assert lr_of[id(named["bert.embeddings.word_embeddings.weight"])] == pytest.approx(2.5e-4)
    assert lr_of[id(named["classifier.weight"])] == pytest.approx(1e-2)
    assert lr_of[id(extra.weight)] == pytest.approx(1e-2)
    assert sum(len(g["params"]) for g in groups) == len(named) + 2
    assert all(g["weight_decay"] == 0 for g in groups if any(p.ndim < 2 for p in g["params"]))


def test_pooled_batches_mean_the_windows_of_a_note_before_the_loss(tiny_model_factory, toy_train_settings):
    windows = [[2, 10, 11, 3], [2, 12, 3], [2, 13, 14, 15, 3], [2, 16, 3]]
    enc = Encoded(windows, [1, 0, 1, 2], 3)  # note 1 has two windows, not adjacent
    data = WindowData(enc, np.array([1, 0, 1, 2]), pad_id=0, wide=np.eye(4, 3)[[1, 0, 1, 2]])
    batch = data.collate_notes(np.array([1, 2]), torch.device("cpu"))
    assert batch["input_ids"].shape[0] == 3 and batch["pool"].tolist() == [0, 0, 1]
    assert batch["labels"].tolist() == [1, 2]
    model = tiny_model_factory().eval()
    step = TrainStep(model, replace(toy_train_settings, epochs=1), torch.device("cpu"), 1,
                     wide=torch.nn.Linear(3, 3))
    with torch.no_grad():
        pooled = step.logits(batch["input_ids"], batch["attention_mask"], batch["pool"], batch["wide"])
        single = data.collate(np.array([0, 2, 3]), torch.device("cpu"))
        each = step.logits(single["input_ids"], single["attention_mask"], None, single["wide"])
    torch.testing.assert_close(pooled[0], (each[0] + each[1]) / 2)
    torch.testing.assert_close(pooled[1], each[2])


def test_pooled_training_draws_notes_not_windows(tiny_model_factory, toy_train_settings, monkeypatch):
    from medtx.modeling import train as train_mod

    enc = Encoded([[2, 10 + i % 5, 11, 3] for i in range(30)], [i // 3 for i in range(30)], 10)
    y = np.arange(10) % 3
    seen = []
    original = WindowData.collate_notes

    def spy(self, notes, device):
        seen.append(np.asarray(notes))
        return original(self, notes, device)

    monkeypatch.setattr(train_mod.WindowData, "collate_notes", spy)
    settings = replace(toy_train_settings, epochs=1, batch_size=4, window_sampling="pooled")
    result = finetune(tiny_model_factory(), enc, y, enc, y, settings, pad_id=0, progress=False)
    assert sorted(np.concatenate(seen).tolist()) == list(range(10))  # every note once per epoch
    assert result.history[0]["train_windows"] == 10


def test_soft_targets_must_be_distributions(tiny_model_factory, toy_train_settings):
    enc = Encoded([[2, 10, 3], [2, 11, 3]], [0, 1], 2)
    with pytest.raises(TrainingError, match="soft targets"):
        finetune(tiny_model_factory(), enc, np.array([[0.5, 0.2, 0.0], [0, 0, 1]]), enc, [0, 2],
                 replace(toy_train_settings, epochs=1), pad_id=0, progress=False)


# --- wide-and-deep end to end ------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_split(toy_set, toy_labels):
    from medtx.data.split import Split

    def side(n, seed, twins=0):
        texts, y = toy_set(n, seed=seed)
        rows = [(t, toy_labels[c], [toy_labels[c]]) for t, c in zip(texts, y)]
        for t, c in list(zip(texts, y))[:twins]:  # the same note filed under a second label
            other = toy_labels[(c + 1) % 3]
            rows = [(r[0], r[1], [r[1], other]) if r[0] == t else r for r in rows] + [
                (t, other, [toy_labels[c], other])]
        return _frame(rows)

    return Split(train=side(20, 1, twins=6), val=side(6, 2), test=side(6, 3), labels=list(toy_labels),
                 seed=0)


@pytest.fixture(scope="module")
def wide_package(toy_split, tiny_tokenizer, tiny_model_factory, save_hf_folder, toy_strategy,
                 tmp_path_factory):
    """stages.finetune with soft targets and the wide branch on the toy split: (FineTuned, package dir)."""
    from medtx.config import Settings
    from medtx.modeling.features import tokenize_split
    from medtx.modeling.package import package_from_bytes
    from medtx.stages.finetuning import Tokenized
    from medtx.stages.train import finetune as stage_finetune

    source = save_hf_folder(tiny_model_factory(), tiny_tokenizer, tmp_path_factory.mktemp("tiny"))
    settings = Settings.from_raw({
        "env": "test", "model": {"name_or_path": str(source), "max_length": toy_strategy.max_length,
                                 "head_tokens": toy_strategy.head_tokens, "wide": "baseline_scores",
                                 "wide_folds": 3},
        "train": {"epochs": 3, "batch_size": 8, "learning_rate": 2e-3, "targets": "soft",
                  "head_learning_rate": 1e-2, "class_weights": "none", "seed": 0}})
    tok = Tokenized(encoded=tokenize_split(toy_split, tiny_tokenizer, toy_strategy),
                    strategy=toy_strategy.to_dict(), source=str(source),
                    pad_id=tiny_tokenizer.pad_token_id, data_hash="0" * 64, seconds=0.0)
    ft = stage_finetune(toy_split, tok, settings, "TrainFlow/1/finetune/1")
    return ft, package_from_bytes(ft.package, tmp_path_factory.mktemp("wide") / "model")


def test_wide_package_serves_exactly_what_evaluation_scored(wide_package, toy_split):
    from medtx.modeling.predictor import Predictor
    from medtx.modeling.wide import ARRAYS_FILE, SPEC_FILE

    ft, pkg = wide_package
    meta = json.loads((pkg / "medtx.json").read_text())
    assert meta["wide"]["kind"] == "baseline_scores" and meta["training"]["targets"] == "soft"
    assert meta["training"]["train_notes"] == toy_split.train["group"].nunique()
    listed = json.loads((pkg / "manifest.json").read_text())["files"]
    assert SPEC_FILE in listed and ARRAYS_FILE in listed
    predictor = Predictor.load(pkg, device="cpu")
    assert predictor.wide is not None
    texts = list(toy_split.test["text"])
    np.testing.assert_allclose(predictor.logits(texts), ft.test_logits, atol=1e-4)
    assert (ft.test_logits.argmax(axis=1) == toy_split.y("test")).mean() >= 0.9
    # the wide branch contributes: without it the logits differ
    deep_only = Predictor.load(pkg, device="cpu")
    deep_only.wide = None
    assert not np.allclose(deep_only.logits(texts), ft.test_logits, atol=1e-3)


def test_wide_branch_files_are_checked(wide_package, tmp_path):
    from medtx.modeling.package import _write_manifest
    from medtx.modeling.predictor import Predictor
    from medtx.modeling.wide import ARRAYS_FILE

    _, pkg = wide_package
    copy = tmp_path / "model"
    shutil.copytree(pkg, copy)
    raw = bytearray((copy / ARRAYS_FILE).read_bytes())
    raw[-1] ^= 0xFF
    (copy / ARRAYS_FILE).write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="wide/branch.safetensors"):
        Predictor.load(copy)
    shutil.rmtree(copy)
    shutil.copytree(pkg, copy)
    (copy / ARRAYS_FILE).unlink()
    _write_manifest(copy)  # a consistent manifest, but medtx.json still names the branch
    with pytest.raises(IntegrityError, match="names a wide branch but wide/branch.safetensors is missing"):
        Predictor.load(copy)


def test_int8_runtime_adds_the_same_wide_logits(wide_package, toy_split, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from medtx.modeling.onnx_runtime import load_runtime
    from medtx.modeling.predictor import Predictor

    _, pkg = wide_package
    copy = tmp_path / "model"
    shutil.copytree(pkg, copy)
    int8 = load_runtime(copy, threads=1)
    assert int8.wide is not None
    texts = list(toy_split.test["text"])
    fp32 = Predictor.load(copy, device="cpu").predict_proba(texts)
    np.testing.assert_allclose(int8.predict_proba(texts), fp32, atol=0.01)


# --- mean pooling -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mean_pool_package(tiny_tokenizer, tiny_bert, toy_labels, save_hf_folder, toy_strategy,
                      tmp_path_factory):
    """A package of a mean-pool classifier around a tiny encoder folder (no head of its own)."""
    from medtx.modeling.package import save_package
    from medtx.modeling.pretrained import load_classifier

    source = save_hf_folder(tiny_bert(tiny_tokenizer, seed=3), tiny_tokenizer,
                            tmp_path_factory.mktemp("encoder"))
    model = load_classifier(str(source), toy_labels, pooling="mean").eval()
    pkg = save_package(model, tiny_tokenizer, tmp_path_factory.mktemp("mean") / "model",
                       {"long_note": toy_strategy.to_dict()})
    return model, pkg


def test_mean_pooling_head_reads_the_masked_mean_of_token_states(mean_pool_package):
    model, _ = mean_pool_package
    ids = torch.tensor([[2, 10, 11, 12, 3, 0, 0], [2, 13, 14, 15, 16, 17, 3]])
    mask = (ids != 0).long()
    with torch.no_grad():
        got = model(input_ids=ids, attention_mask=mask).logits
        states = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        want0 = model.classifier(states[0, :5].mean(dim=0))
        # padding does not move a note's logits: the same note alone, unpadded
        alone = model(input_ids=ids[:1, :5], attention_mask=mask[:1, :5]).logits
    torch.testing.assert_close(got[0], want0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[0], alone[0], atol=1e-5, rtol=1e-5)
    assert model.config.num_hidden_layers == 2 and model.config.pad_token_id == 0
    assert layer_depth("encoder.encoder.layer.1.output.dense.weight", 2) == 2


def test_mean_pool_package_loads_and_exports_like_any_classifier(mean_pool_package, toy_set, tmp_path):
    from medtx.modeling.predictor import Predictor

    model, pkg = mean_pool_package
    assert json.loads((pkg / "config.json").read_text())["model_type"] == "medtx-mean-pool"
    predictor = Predictor.load(pkg, device="cpu")
    texts, _ = toy_set(4, seed=9)
    from medtx.modeling.features import encode_texts
    from medtx.modeling.inference import predict_logits

    direct = predict_logits(model, encode_texts(texts, predictor.tokenizer, predictor.strategy))
    np.testing.assert_allclose(predictor.logits(texts), direct, atol=1e-5)
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from medtx.modeling.onnx_runtime import load_runtime

    copy = tmp_path / "model"
    shutil.copytree(pkg, copy)
    int8 = load_runtime(copy, threads=1)
    np.testing.assert_allclose(int8.predict_proba(texts), predictor.predict_proba(texts), atol=0.01)
