"""MonitorFlow against a local endpoint from DeployFlow, on a tiny model trained on demo notes.

Traffic is sent over HTTP to the prod endpoint, captured by its server, and each MonitorFlow run
judges the records that arrived since the last one: held-out notes give no drift; truncated
notes and a different specialty mix (and, in the slow tier, notes in another template and notes
with a section missing) each move the signals they should; the last fired rule, run with
``--retrain``, starts TrainFlow with the payload, which TrainFlow records (one deployment serves
the whole sequence).
"""
from __future__ import annotations

import json
import re

import pytest

SHIFT_SIGNALS = {  # signals that must move for each kind of shifted traffic
    "truncated": {"chars", "words", "headers"},
    "other_template": {"headers", "non_letter_share"},
    "section_missing": {"headers", "chars"},
    "specialty_mix": {"input_mmd", "input_classifier"},
}
PREDICTION_SIDE = {"predicted_label", "confidence"}  # a new case mix moves one of them at least

RETRAIN_ON = {"input_mmd", "input_classifier", "predicted_label", "confidence"}  # the default


def _drop_section(note: str) -> str:
    """The note without its physical examination / findings sections."""
    parts = note.split(",")
    out, skip = [], False
    for part in parts:
        head = re.match(r"\s*([A-Z][A-Z /&-]+):", part)
        if head:
            skip = head.group(1) in ("PHYSICAL EXAMINATION", "FINDINGS", "PAST MEDICAL HISTORY",
                                     "TECHNIQUE", "DESCRIPTION OF PROCEDURE")
        if not skip:
            out.append(part)
    return ",".join(out)


@pytest.fixture
def monitored(tmp_path, loop_config, demo_csv, run_flow):
    """A trained, deployed (prod only, local) tiny model and its config."""
    cfg, port = loop_config(retrain_windows=1)
    train = run_flow(tmp_path, cfg, data=str(demo_csv), output_dir=str(tmp_path / "out"))
    run_flow(tmp_path, cfg, flow="deploy", trigger=[train.pathspec])
    return cfg, port


def _monitor(run_flow, tmp_path, cfg, **params):
    run = run_flow(tmp_path, cfg, flow="monitor", **params)
    return run["decide"].task.data.report


@pytest.mark.parametrize("kinds", [
    pytest.param(("truncated", "specialty_mix"), id="structure-and-case-mix", marks=pytest.mark.flows),
    pytest.param(tuple(SHIFT_SIGNALS), id="every-shift", marks=pytest.mark.slow),
])
def test_monitor_flow_tells_unchanged_from_shifted_traffic_and_starts_the_retrain(
        tmp_path, monitored, run_flow, held_out, no_drift, kinds):
    # The flows tier sends one structural shift and the case-mix shift through the flow; the
    # slow tier sends all four (each shift's signals are also checked in test_monitor_drift;
    # unchanged traffic through the flow is the session's shared run, tests/flows/test_loop.py).
    from medtx.rehearsal.traffic import send_traffic

    cfg, port = monitored
    state = tmp_path / "monitor" / "medtx-prod"

    report = _monitor(run_flow, tmp_path, cfg)  # nothing captured yet
    assert report["status"] == "insufficient" and report["n_notes"] == 0
    assert "not enough traffic: 0 note(s)" in report["verdict"] and "minimum 100" in report["verdict"]
    assert "smoke tests" in report["verdict"]  # the deploy's own checks are left out, and said so

    send_traffic(port, held_out(seed=11, n=40), prefix="few")
    report = _monitor(run_flow, tmp_path, cfg)
    assert report["status"] == "insufficient" and report["n_notes"] == 40  # judged on nothing
    send_traffic(port, held_out(seed=12, n=140), prefix="held")
    report = _monitor(run_flow, tmp_path, cfg)  # the 40 left over plus the 140: one window
    no_drift(report, 180)
    assert json.loads((state / "reports" / "monitor.json").read_text())["window_id"] == report["window_id"]

    from medtx.rehearsal.traffic import shift_notes

    base = held_out(seed=13, n=160)
    make = {
        "truncated": lambda: shift_notes(base, "truncate"),
        "other_template": lambda: shift_notes(base, "template"),
        "section_missing": lambda: [_drop_section(n) for n in base],
        "specialty_mix": lambda: held_out(seed=14, n=160, keep={"Orthopedic", "Radiology"}),
    }
    assert kinds[-1] == "specialty_mix"
    fired = []
    for kind in kinds:
        notes = make[kind]()
        send_traffic(port, notes, prefix=kind)
        last = kind == "specialty_mix"  # its window also runs the retrain the rule asks for
        run = run_flow(tmp_path, cfg, flow="monitor", **({"retrain": True} if last else {}))
        report = run["decide"].task.data.report
        assert report["status"] == "judged" and report["n_notes"] == len(notes)
        moved = set(report["drifted"])
        assert SHIFT_SIGNALS[kind] <= moved, (kind, {k: s["p_value"] for k, s in report["signals"].items()})
        if last:
            assert moved & PREDICTION_SIDE, report["signals"]
        fires = bool(moved & RETRAIN_ON)  # the rule counts only the configured signals
        assert report["retrain"]["fire"] == fires and bool(report["retrain_payload"]) == fires
        fired.append(kind) if fires else None
    assert "truncated" in fired and "specialty_mix" in fired
    classes = report["drifting_classes"]
    assert classes and classes[0]["label"]  # the specialty mix names the classes that moved

    # --retrain: the fired rule started TrainFlow with the payload, and TrainFlow recorded it
    outcome, event = run["decide"].task.data.outcome, run["decide"].task.data.retrain_event
    assert outcome.decision.fire and event.how == "runner" and event.status == "successful"
    from metaflow import Run, namespace

    namespace(None)
    train = Run(event.train_run)
    triggered = train["start"].task.data.triggered_by
    assert triggered.kind == "retrain" and triggered.source == run.pathspec
    assert list(triggered.reasons) == outcome.retrain_payload["reasons"]
    assert triggered.payload["window_id"] == outcome.window_id
    assert triggered.payload["endpoint"] == "medtx-prod" and triggered.payload["model_version"] == 1
    assert any(t.startswith("model_version:") for t in train.tags)  # it trained and registered
