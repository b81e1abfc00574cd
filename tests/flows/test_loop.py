"""The whole loop as a user runs it, once per session (the ``loop`` fixture): TrainFlow on demo
notes and a tiny random model, with one knob changed by ``--set``; DeployFlow triggered by that
run; traffic to prod; MonitorFlow over what prod captured. Each test reads one part of the story.
"""
from __future__ import annotations

import json
import time

import pytest


def test_train_checks_splits_evaluates_and_registers(loop):
    run = loop.train
    assert run.successful
    split = run["split"].task.data.split_data.summary()
    assert split["overlap"] == {"train_val": 0, "train_test": 0, "val_test": 0}
    assert min(split["sizes"].values()) > 0

    validation = run["validate"].task.data.validation
    assert validation.counts["quarantined"] >= 1  # the demo set carries empty notes on purpose
    assert set(validation.quarantine["reason"]) >= {"empty_text"}

    evaluation = run["evaluate"].task.data.evaluation
    doc = evaluation.to_dict()
    for system in ("model", "baseline"):
        assert {"accuracy", "macro_f1", "any_label_accuracy", "ece_before", "ece_after"} <= set(doc[system])
    assert evaluation.model.n == evaluation.baseline.n == split["sizes"]["test"]
    registered = run["register"].task.data.registered
    assert registered.version.version == 1
    assert registered.version.status == "Approved"  # the test gate admits anything
    assert "model_version:1" in run.tags and "approval:Approved" in run.tags

    out = loop.workdir / "out" / run.id
    assert (out / "model.tar.gz").is_file()
    written = json.loads((out / "evaluation.json").read_text())
    assert written["model"]["n"] == split["sizes"]["test"]
    assert written["model"]["macro_f1"] == pytest.approx(evaluation.model.macro_f1, abs=1e-6)


def test_set_changes_one_knob_for_one_run_and_is_recorded(loop):
    run = loop.train
    assert json.loads(loop.config.read_text())["train"]["epochs"] == 3  # the file says 3
    start = run["start"].task.data
    assert start.config_overrides == {"train.epochs": 2}
    assert start.settings.train.epochs == 2
    assert "set:train.epochs=2" in run.tags
    assert len(run["finetune"].task.data.finetuned.history) == 2  # trained two epochs, not three
    assert run["start"].task.data.cfg["train"]["epochs"] == 3  # the stored config stays the file's


def test_cli_scores_lists_and_predicts_the_registered_model(loop, capsys):
    from medtx.cli.main import main

    out, cfg = loop.workdir / "out" / loop.train.id, str(loop.config)
    evaluation = loop.train["evaluate"].task.data.evaluation
    labels = loop.train["split"].task.data.split_data.labels
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out / "model"), "--data", str(loop.demo_csv), "--config", cfg,
                 "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "any_label_accuracy", "ece", "n"} <= set(scored) and scored["n"] > 100
    assert scored["accuracy"] <= scored["ceiling"]["accuracy"]
    # the registry shows the version's test metrics, baseline and margin (not "-")
    assert main(["models", "list", "--config", cfg]) == 0
    listing = capsys.readouterr().out.splitlines()
    row = dict(zip(listing[0].split(), listing[1].split()))
    assert row["MACRO_F1"] == f"{evaluation.model.macro_f1:.4f}"
    assert row["BASELINE_F1"] == f"{evaluation.baseline.macro_f1:.4f}"
    assert row["MARGIN"] == f"{evaluation.margin['macro_f1']:+.4f}"
    for ref in (str(out / "model.tar.gz"), "approved", "1"):
        assert main(["predict", "--model", ref, "--config", cfg, "--json", "--text", loop.case_note]) == 0
        predicted = json.loads(capsys.readouterr().out)
        assert predicted["label"] in labels
        assert abs(sum(predicted["probabilities"].values()) - 1) < 1e-4


def test_deploy_serves_the_triggering_runs_version_on_both_stages(loop, capsys):
    selection = loop.deploy["start"].task.data.selection
    assert selection.version.version == 1
    assert selection.chosen_because == f"triggering run {loop.train.pathspec}"
    outcomes = {o.stage: o for o in loop.deploy["deploy"].task.data.outcomes}
    assert [o.state for o in outcomes.values()] == ["deployed", "deployed"]
    assert outcomes["prod"].result.smoke.passed and outcomes["prod"].result.after.version == 1

    from medtx.cli.main import main

    capsys.readouterr()
    assert main(["endpoints", "list", "--config", str(loop.config), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(d["stage"], d["version"], d["state"]) for d in listed] == [
        ("staging", 1, "serving"), ("prod", 1, "serving")]
    prediction = loop.case_answer["predictions"][0]
    assert prediction["model_version"] == 1
    assert prediction["label"] in loop.train["split"].task.data.split_data.labels


def test_prod_captured_the_case_in_sagemakers_format(loop):
    from medtx.serving.capture import read_capture

    deadline, mine = time.monotonic() + 10, []
    while not mine and time.monotonic() < deadline:  # the writer thread drains every request
        records = list(read_capture(str(loop.workdir / "capture"), "medtx-prod"))
        mine = [r for r in records if r["eventMetadata"].get("inferenceId") == loop.case_id]
        time.sleep(0.2) if not mine else None
    assert len(mine) == 1 and mine[0]["eventVersion"] == "0"
    assert mine[0]["captureData"]["endpointInput"]["mode"] == "INPUT"
    assert mine[0]["captureData"]["endpointOutput"]["mode"] == "OUTPUT"


def test_monitor_judges_held_out_traffic_as_no_drift(loop, no_drift):
    report = loop.monitor["decide"].task.data.report
    no_drift(report, loop.held_out + 1)  # the case note and the held-out notes, not the smoke requests
    state = loop.workdir / "monitor" / "medtx-prod"
    assert json.loads((state / "reports" / "monitor.json").read_text())["window_id"] == report["window_id"]
