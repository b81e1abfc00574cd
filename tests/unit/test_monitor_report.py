"""A window recorded end to end through the monitor stages (no flow, no server): monitor.json
and every monitor card component render, name signals and atypical notes by capture id, and
never carry note text."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from medtx.config import MonitorSettings
from medtx.monitor.capture_reader import CaptureCounts, Pending
from medtx.monitor.target import Target

SECRET = "Zebediah Quux-Whitfield"
LABELS = ["Cardiology", "Neurology", "Orthopedic"]


def _rows(texts, rng, start=0):
    out = []
    for i, text in enumerate(texts):
        p = rng.dirichlet(np.ones(3) * 2)
        top = np.argsort(-p)[:2]
        out.append({"event_id": f"ev-{start + i}", "inference_id": f"case-{start + i}", "position": 0,
                    "time": pd.Timestamp("2026-12-01T10:00:00Z"), "text": text,
                    "label": LABELS[top[0]], "confidence": float(p[top[0]]),
                    "probabilities": {LABELS[j]: float(p[j]) for j in top}, "model_version": 2})
    return pd.DataFrame(out)


def test_recorded_window_reports_without_note_text(tmp_path, settings):
    from medtx.data.demo import make_demo_notes
    from medtx.monitor.analysis import window_features
    from medtx.monitor.profile import build_profile
    from medtx.reports import monitor_card, quality_card, signals_card, window_card
    from medtx.stages import monitor as stages

    notes = list(make_demo_notes(400, seed=5)["transcription"].dropna())
    rng = np.random.default_rng(0)
    profile = build_profile(notes[:200], notes[200:300], rng.dirichlet(np.ones(3) * 2, size=100),
                            LABELS, dims=16)
    traffic = [f"{n[:120]} Seen with {SECRET}." for n in notes[300:380]]  # truncated + a name
    features = window_features(_rows(traffic, rng), profile, model_version=2)
    target = Target("prod", "medtx-prod", "AllTraffic", str(tmp_path / "capture"), str(tmp_path / "state"))
    read = stages.WindowRead(target=target, since="2026-12-01T00:00:00Z", until="2026-12-02T00:00:00Z",
                             counts=CaptureCounts(read=80, rows=80, corrupt=2, duplicates=1),
                             model_version=2, version_source="capture", enough=True, message="",
                             pending=Pending(), features=features, profile=profile)
    cfg = settings.with_overrides(monitor={"state_dir": str(tmp_path / "state"), "permutations": 99,
                                           "bootstrap": 100, "retrain_windows": 1})
    signals = stages.drift(read, cfg)
    assert {"chars", "words"} <= {s.name for s in signals if s.drifted}
    outcome, doc = stages.record(read, signals, stages.quality(read, cfg), cfg, "MonitorFlow/1/decide/4")
    assert outcome.decision.fire == bool(set(outcome.drifted) & set(MonitorSettings().retrain_on))
    assert doc["counts"]["corrupt"] == 2 and doc["verdict"].startswith("drift: ")
    saved = json.loads((tmp_path / "state" / "reports" / "monitor.json").read_text())
    assert saved["window_id"] == outcome.window_id and saved["signals"].keys() == doc["signals"].keys()

    components = (window_card(stages.window_summary(read)) + signals_card(doc["signals"])
                  + [quality_card(doc["quality"])] + monitor_card(doc))
    rendered = [c.render() for c in components]
    assert {r["type"] for r in rendered} <= {"markdown", "table", "vegaChart"}
    text = json.dumps(rendered) + json.dumps(saved)
    assert SECRET not in text and "Seen with" not in text
    assert "ev-" in text and "chars" in text and "*Estimate*" in text
    assert signals_card({}, "not enough traffic: 3 note(s)")[0].render()["type"] == "markdown"
