"""Quality with bootstrap intervals, the confidence estimate, the retrain rule, the monitor store
and the reference profile round trip (no server, no flow)."""
from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from medtx.config import MonitorSettings
from medtx.monitor.quality import estimate, measure
from medtx.monitor.rules import decide
from medtx.monitor.store import MonitorStore

LABELS = ["Cardiology", "Neurology", "Orthopedic"]


def _joined(n, right_frac, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.choice(LABELS, size=n)
    wrong = rng.random(n) > right_frac
    pred = [LABELS[(LABELS.index(t) + 1) % 3] if w else t for t, w in zip(truth, wrong)]
    return pd.DataFrame({"label": pred, "true_label": truth, "note_hash": [f"h{i}" for i in range(n)]})


def test_measured_quality_matches_sklearn_and_its_interval_covers_it():
    from sklearn.metrics import f1_score

    joined = _joined(300, 0.7)
    q = measure(joined, LABELS, n_notes=400, confidence=np.full(400, 0.7), min_labels=50,
                resamples=300)
    assert q.measured and q.n_labelled == 300 and q.n_notes == 400
    assert q.accuracy.value == pytest.approx((joined["label"] == joined["true_label"]).mean())
    assert q.macro_f1.value == pytest.approx(f1_score(joined["true_label"], joined["label"], average="macro"))
    for iv in (q.accuracy, q.macro_f1, q.any_label_accuracy):
        assert iv.low <= iv.value <= iv.high and iv.high - iv.low < 0.2
    assert q.estimated_accuracy.value == pytest.approx(0.7)
    assert q.to_dict()["estimate_is_estimate"] is True


def test_any_label_accuracy_counts_a_second_label_of_the_same_note():
    joined = pd.DataFrame({"label": ["Cardiology", "Cardiology"],
                           "true_label": ["Cardiology", "Neurology"], "note_hash": ["same", "same"]})
    q = measure(joined, LABELS, 2, [0.9, 0.9], min_labels=1, resamples=100)
    assert q.accuracy.value == 0.5 and q.any_label_accuracy.value == 1.0


def test_too_few_labels_give_no_measurement_but_an_estimate_and_unknown_counts():
    joined = _joined(10, 1.0).assign(true_label=["Dermatology"] + list(_joined(10, 1.0)["true_label"][1:]))
    q = measure(joined, LABELS, 500, np.full(500, 0.6), min_labels=50, resamples=100, unknown_ids=7)
    assert not q.measured and q.macro_f1 is None and q.n_labelled == 9
    assert q.unknown_label_ids == 7 and q.unknown_classes == 1
    assert q.estimated_accuracy.value == pytest.approx(0.6)
    assert estimate([]) is None


def _win(drifted=(), status="judged", version=1, fired=False, f1=None):
    return types.SimpleNamespace(status=status, model_version=version, drifted=tuple(drifted),
                                 quality={"macro_f1": f1} if f1 else {},
                                 retrain={"fire": fired} if fired else {"fire": False})


def test_retrain_rule_needs_the_configured_streak_of_the_same_model_version():
    rule = MonitorSettings(retrain_windows=2)
    assert not decide(_win(["input_mmd"]), [], rule).fire  # 1 of 2
    assert decide(_win(["input_mmd"]), [_win(["confidence"])], rule).fire
    assert not decide(_win(["input_mmd"]), [_win(["confidence"], version=2)], rule).fire
    assert not decide(_win(["chars"]), [_win(["chars"])], rule).fire  # chars is not in retrain_on
    # an insufficient window between two drifted ones does not break the streak
    assert decide(_win(["input_mmd"]), [_win(["input_mmd"]), _win(status="insufficient")], rule).fire
    # drift that already fired a retrain is not counted again
    got = decide(_win(["input_mmd"]), [_win(["input_mmd"]), _win(["input_mmd"], fired=True)], rule)
    assert not got.fire and got.streak == 1
    assert not decide(_win(status="insufficient"), [], rule).fire


def test_quality_floor_fires_only_when_the_whole_interval_is_below_it():
    rule = MonitorSettings(quality_floor=0.6)
    low = {"value": 0.5, "low": 0.45, "high": 0.55}
    unsure = {"value": 0.55, "low": 0.45, "high": 0.65}
    fired = decide(_win(f1=low), [], rule)
    assert fired.fire and "below the floor 0.600" in fired.reasons[0]
    assert not decide(_win(f1=unsure), [], rule).fire


def test_store_keeps_windows_predictions_and_labels(tmp_path):
    store = MonitorStore(tmp_path)
    preds = pd.DataFrame({"event_id": ["e1", "e2"], "position": [0, 0], "inference_id": ["i1", None],
                          "label": ["Cardiology", "Neurology"], "confidence": [0.9, 0.4],
                          "note_hash": ["a", "b"], "time": pd.to_datetime(["2026-12-01T10:00:00Z"] * 2)})
    wid = store.add_window(since="2026-12-01T00:00:00Z", until="2026-12-02T00:00:00Z", status="judged",
                           model_version=3, n_notes=2, verdict="no drift", drifted=[], signals={},
                           quality={}, counts={"read": 2}, predictions=preds)
    assert store.last_judged().id == wid and store.last_judged().model_version == 3
    assert len(store.predictions([wid])) == 2
    labels = pd.DataFrame({"id": ["i1", "e2", "nope"], "key": ["id"] * 3,
                           "label": ["Cardiology", "Orthopedic", "Neurology"], "source": ["f.csv:csv"] * 3})
    got = store.add_labels(labels)
    assert got == {"added": 3, "replaced": 0, "matching_predictions": 2}
    assert store.add_labels(labels.iloc[:1])["replaced"] == 1
    assert len(store.labels()) == 3 and len(store.predictions_for(["i1", "e2"])) == 2
    assert list(store.unmatched_labels()["id"]) == ["nope"]
    store.update_quality(wid, {"n_labelled": 2})
    assert store.windows()[0].quality == {"n_labelled": 2}


def test_profile_round_trips_through_package_files(tmp_path):
    from medtx.data.demo import make_demo_notes
    from medtx.errors import MonitorError
    from medtx.monitor.profile import build_profile, has_profile, load_profile

    notes = list(make_demo_notes(200, seed=2)["transcription"].fillna(""))
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=80)
    profile = build_profile(notes[:120], notes[120:], probs, LABELS, dims=16, max_notes=50)
    assert len(profile) == 50 and profile.meta["reference_available"] == 80
    for rel, blob in profile.files().items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(blob.encode() if isinstance(blob, str) else blob)
    loaded = load_profile(tmp_path)
    assert has_profile(tmp_path) and loaded.labels == tuple(LABELS)
    assert np.allclose(loaded.vectors, profile.vectors, atol=1e-5)
    pd.testing.assert_frame_equal(loaded.descriptors, profile.descriptors)
    assert loaded.vocabulary == profile.vocabulary
    with pytest.raises(MonitorError, match="no reference profile"):
        load_profile(tmp_path / "elsewhere")
    with pytest.raises(MonitorError, match="at least 20 distinct held-out notes"):
        build_profile(notes[:50], notes[50:60], probs[:10], LABELS)
    twice = notes[120:150] + [n.upper() + "  " for n in notes[120:150]]  # the same notes again
    doubled = build_profile(notes[:120], twice, np.vstack([probs[:30]] * 2), LABELS, dims=16)
    assert len(doubled) == len({" ".join(n.lower().split()) for n in notes[120:150]})


def test_labels_outside_the_models_classes_are_left_out_and_counted():
    joined = _joined(60, 1.0)
    joined.loc[:9, "true_label"] = "Dermatology"
    q = measure(joined, LABELS, 60, np.full(60, 0.8), min_labels=50, resamples=100)
    assert q.n_labelled == 50 and q.unknown_classes == 10 and q.accuracy.value == 1.0
