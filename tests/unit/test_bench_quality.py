"""bench/quality.py: its override syntax, a baseline-only run on the demo set, the recipe table
and writing it into a page between marker lines."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overrides_parse_json_values_and_bare_words(bench):
    got = bench.parse_overrides(["train.epochs=8", "model.long_note=chunks", 'model.name_or_path="x/y"',
                                 "train.compile=true"])
    assert got == {"train": {"epochs": 8, "compile": True},
                   "model": {"long_note": "chunks", "name_or_path": "x/y"}}
    for bad in ("train.epochs", ".epochs=1"):
        with pytest.raises(SystemExit, match="section.key=value"):
            bench.parse_overrides([bad])
    for unknown, key in (("epochs=8", "'epochs'"), ("train.epoch=8", "'train.epoch'")):  # as a flow's --set
        with pytest.raises(SystemExit, match=f"unknown config key {key}"):
            bench.parse_overrides([unknown])


def test_baseline_only_run_writes_baseline_and_ceiling(bench, tmp_path, capsys):
    from medtx.data.demo import write_demo_csv

    data = write_demo_csv(tmp_path / "demo.csv", n=300, seed=5)
    out = tmp_path / "quality.json"
    assert bench.main(["--baseline-only", "--data", str(data), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    (row,) = doc["results"]
    assert row["labels"] == "spec12" and set(row["systems"]) == {"baseline"}
    assert row["ceiling"]["rows"] == row["systems"]["baseline"]["n"] == row["sizes"]["test"]
    assert row["systems"]["baseline"]["accuracy"] <= row["ceiling"]["accuracy"]
    assert row["target"]["met"] is None  # no model, no verdict
    table = capsys.readouterr().out
    assert "baseline" in table and "ceiling" in table


def test_missing_data_is_a_clear_error(bench, tmp_path, capsys):
    assert bench.main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "q.json")]) == 2
    assert "no data at" in capsys.readouterr().err


def test_recipe_table_rows_come_from_kept_result_files(bench, tmp_path, capsys):
    def result(name, f1, base_f1, device, model, split_seed=42, seed=42):
        settings = {"model": {"long_note": "head_tail", "max_length": 128, "max_chunks": 8, **model},
                    "train": {"learning_rate": 3e-5, "head_learning_rate": 1e-3, "layer_decay": 1.0,
                              "epochs": 6, "patience": 2, "targets": "soft", "seed": seed},
                    "split": {"seed": split_seed}}
        doc = {"config": "configs/local.json", "settings": settings, "results": [{
            "labels": "spec12", "seconds": {"finetune": 600.0},
            "training": {"device": device, "best_epoch": 2, "epochs": [{}, {}, {}]},
            "systems": {"model": {"accuracy": 0.7, "macro_f1": f1, "any_label_accuracy": 0.9},
                        "baseline": {"accuracy": 0.75, "macro_f1": base_f1, "any_label_accuracy": 0.93}}}]}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        return path

    worse = result("plain", 0.651, 0.759, "cpu", {})
    better = result("wide", 0.771, 0.759, "cuda:0", {"wide": "baseline_scores", "pooling": "mean"})
    other_split = result("wide-split7", 0.701, 0.699, "cpu", {}, split_seed=7, seed=1)
    doc = json.loads(other_split.read_text())  # the same run, with unweighted classes
    doc["settings"]["train"]["class_weights"] = "none"
    other_split.write_text(json.dumps(doc))
    baseline_only = tmp_path / "base.json"
    baseline_only.write_text(json.dumps({"config": "c.json", "settings": {}, "results": [
        {"labels": "spec12", "seconds": {}, "systems": {"baseline": {"macro_f1": 0.7}}}]}))
    assert bench.main(["--table", str(worse), str(better), str(other_split), str(baseline_only)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| recipe |") and len(lines) == 5  # header, rule, three models
    assert lines[2].startswith("| wide | spec12 |") and "+0.012" in lines[2] and "| GPU |" in lines[2]
    assert "head_tail 128, mean pooling, wide baseline_scores, soft targets, lr 3e-05, head 0.001" in lines[2]
    assert "10 min (3 ep., best 2)" in lines[2] and "model pooling, wide none" in lines[3]
    assert lines[3].startswith("| plain |") and "-0.108" in lines[3] and "| CPU |" in lines[3]
    assert "seed" not in lines[2] + lines[3]  # the default seeds go unsaid
    assert lines[4].startswith("| wide-split7 |")
    assert "patience 2, class weights none, training seed 1, split seed 7 |" in lines[4]


def test_paired_margin_interval_resamples_whole_notes(bench):
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    groups = [f"g{i // 2}" for i in range(200)]  # each note is two rows
    right = np.eye(4)[y] + rng.normal(0, 0.3, (200, 4))
    noise = rng.normal(0, 1, (200, 4))
    ahead = bench.paired_margin(right, noise, y, groups, resamples=200)
    assert ahead["low"] > 0.4 and ahead["p_model_ahead"] == 1.0
    assert ahead["low"] <= ahead["point"] <= ahead["high"]
    behind = bench.paired_margin(noise, right, y, groups, resamples=200)
    assert behind["high"] < -0.4 and behind["p_model_ahead"] == 0.0
    same = bench.paired_margin(right, right, y, groups, resamples=20)
    assert same["low"] == same["high"] == same["point"] == 0.0


def _kept_run(path: Path, f1: float) -> Path:
    """A minimal kept result file with one fine-tuned spec12 model."""
    settings = {"model": {"long_note": "head_tail", "max_length": 128, "max_chunks": 8},
                "train": {"learning_rate": 3e-5, "epochs": 6, "patience": 2}}
    path.write_text(json.dumps({"config": "c.json", "settings": settings, "results": [{
        "labels": "spec12", "seconds": {"finetune": 120.0},
        "training": {"device": "cpu", "best_epoch": 1, "epochs": [{}]},
        "systems": {"model": {"accuracy": 0.7, "macro_f1": f1, "any_label_accuracy": 0.9},
                    "baseline": {"accuracy": 0.75, "macro_f1": 0.759, "any_label_accuracy": 0.93}}}]}))
    return path


def test_write_replaces_only_the_table_between_the_markers(bench, tmp_path):
    run = _kept_run(tmp_path / "r.json", 0.785)
    page = tmp_path / "recipes.md"
    before, after = "# Recipes\n\nProse before.\n\n", "\n\nProse after, kept.\n"
    page.write_text(f"{before}<!-- recipes:start -->\n| stale | table |\n<!-- recipes:end -->{after}")
    assert bench.main(["--table", str(run), "--write", str(page)]) == 0
    text = page.read_text()
    assert text.startswith(before + "<!-- recipes:start -->\n\n| recipe |") and text.endswith(
        "<!-- recipes:end -->" + after)
    assert "stale" not in text and "| r | spec12 |" in text and "+0.026" in text
    assert bench.main(["--table", str(run), "--write", str(page)]) == 0
    assert page.read_text() == text  # writing again changes nothing


@pytest.mark.parametrize("body", ["no markers at all\n", "<!-- recipes:start -->\nonly a start\n",
                                  "<!-- recipes:end -->\n<!-- recipes:start -->\n",
                                  "<!-- recipes:start -->\n<!-- recipes:start -->\n<!-- recipes:end -->\n"])
def test_write_without_one_pair_of_markers_is_a_clear_error(bench, tmp_path, body):
    run = _kept_run(tmp_path / "r.json", 0.785)
    page = tmp_path / "page.md"
    page.write_text(body)
    with pytest.raises(SystemExit, match="<!-- recipes:start --> line and one <!-- recipes:end -->"):
        bench.main(["--table", str(run), "--write", str(page)])
    assert page.read_text() == body  # nothing written


def test_write_needs_table(bench, tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--write", str(tmp_path / "page.md")])
    assert "--write needs --table" in capsys.readouterr().err
