"""The false-alarm simulation of bench/monitor_scale.py: captured rows shaped like the reader's,
the retrain rule replayed over windows, binomial intervals, and a tiny end-to-end run."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from medtx.monitor.capture_reader import COLUMNS

BENCH = Path(__file__).resolve().parents[2] / "bench" / "monitor_scale.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("monitor_scale_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_capture_frame_is_shaped_like_the_reader_rows(bench):
    probs = np.array([[0.1, 0.5, 0.3, 0.1], [0.7, 0.1, 0.1, 0.1]])
    rows = bench.capture_frame(["first note", "second note"], probs, ["a", "b", "c", "d"], 3)
    assert list(rows.columns) == list(COLUMNS)
    assert list(rows["label"]) == ["b", "a"] and list(rows["confidence"]) == [0.5, 0.7]
    assert rows["probabilities"][0] == {"b": 0.5, "c": 0.3, "a": 0.1}
    assert rows["event_id"].is_unique and set(rows["model_version"]) == {bench.MODEL_VERSION}


def test_rule_replayed_over_windows_resets_after_firing(bench):
    drifted = [["input_mmd"], ["input_mmd"], ["input_mmd"], [], ["chars"], ["confidence"]]
    assert bench.rule_fires(drifted, 1) == 4  # "chars" is not a retrain_on signal
    assert bench.rule_fires(drifted, 2) == 1
    assert bench.in_a_row(drifted, 2) == (2, 5)


def test_interval_holds_the_rate(bench):
    ci = bench.interval(5, 100)
    assert ci["rate"] == 0.05 and ci["low"] < 0.05 < ci["high"]
    assert bench.interval(0, 30)["low"] == 0.0


def test_tiny_simulation_reports_every_signal_and_shift(bench):
    source = bench.demo_source(0, train_notes=150, reference_notes=80)
    sim = bench.simulate(lambda split: source, splits=2, windows=3, window_notes=30, alpha=0.05,
                         permutations=20)
    for shift in bench.SHIFTS:
        result = sim[shift]
        assert {"chars", "input_mmd", "input_classifier", "confidence"} <= set(result["signals"])
        assert set(result["rule_fires"]) == {"1", "2"}
        assert result["any_signal"]["n"] == 3 and len(result["any_retrain_on_per_split"]) == 2
    from medtx.monitor.descriptors import note_hash

    distinct = len({note_hash(t) for t in source.reference.texts})  # the profile keeps each note once
    assert [r["reference_notes"] for r in sim["splits"]] == [distinct] * 2
