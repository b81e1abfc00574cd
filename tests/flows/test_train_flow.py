"""TrainFlow end to end through Metaflow's Runner, on demo notes and a tiny random model."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOW = str(ROOT / "flows" / "train_flow.py")


def test_train_flow_end_to_end_registers_and_exports(tmp_path, flow_config, demo_csv, capsys, run_flow):
    cfg = flow_config()
    run = run_flow(tmp_path, cfg, data=str(demo_csv), output_dir=str(tmp_path / "out"))
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

    out = tmp_path / "out" / run.id
    assert (out / "model.tar.gz").is_file()
    written = json.loads((out / "evaluation.json").read_text())
    assert written["model"]["n"] == split["sizes"]["test"]
    assert written["model"]["macro_f1"] == pytest.approx(evaluation.model.macro_f1, abs=1e-6)

    from medtx.cli.main import main

    env_cfg = str(cfg)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out / "model"), "--data", str(demo_csv), "--config", env_cfg, "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    # the registry shows the version's test metrics, baseline and margin (not "-")
    assert main(["models", "list", "--config", env_cfg]) == 0
    listing = capsys.readouterr().out.splitlines()
    row = dict(zip(listing[0].split(), listing[1].split()))
    assert row["MACRO_F1"] == f"{evaluation.model.macro_f1:.4f}"
    assert row["BASELINE_F1"] == f"{evaluation.baseline.macro_f1:.4f}"
    assert row["MARGIN"] == f"{evaluation.margin['macro_f1']:+.4f}"
    assert {"accuracy", "macro_f1", "any_label_accuracy", "ece", "n"} <= set(scored) and scored["n"] > 100
    assert scored["accuracy"] <= scored["ceiling"]["accuracy"]
    note = "HISTORY: knee pain after a fall. EXAM: medial joint line tenderness. PLAN: MRI of the knee."
    for ref in (str(out / "model.tar.gz"), "approved", "1"):
        assert main(["predict", "--model", ref, "--config", env_cfg, "--json", "--text", note]) == 0
        predicted = json.loads(capsys.readouterr().out)
        assert predicted["label"] in split["labels"]
        assert abs(sum(predicted["probabilities"].values()) - 1) < 1e-4

    # resume from evaluate reuses the fine-tuned model: finetune is cloned, not re-run
    resumed = run_flow(tmp_path, cfg, resume_from=(run.id, "evaluate"))
    assert resumed["finetune"].task.origin_pathspec == run["finetune"].task.pathspec
    assert resumed["evaluate"].task.origin_pathspec is None
    assert resumed["register"].task.data.registered.version.version == 2

    # a new run compares itself with the newest Approved version as champion, like for like;
    # serving it with the int8 runtime registers the package with its ONNX export
    cfg2 = flow_config(serving={"runtime": "onnx-int8"})
    run2 = run_flow(tmp_path, cfg2, data=str(demo_csv), output_dir=str(tmp_path / "out"))
    listed = json.loads((tmp_path / "out" / run2.id / "model" / "manifest.json").read_text())["files"]
    assert {"onnx/model.int8.onnx", "onnx/export.json"} <= set(listed)
    reg2 = run2["register"].task.data.registered
    assert reg2.version.version == 3
    assert reg2.champion_version == 2 and reg2.champion.n == len(run2["split"].task.data.split_data.test)
    assert reg2.champion.labels_match
    names = {c.name for c in reg2.decision.conditions}
    assert any("champion" in n for n in names)


def test_leak_guard_fails_the_run_with_a_named_check(tmp_path, flow_config, demo_csv, run_flow):
    cfg = flow_config(data={"text_field": "keywords"})
    status, logs = run_flow(tmp_path, cfg, data=str(demo_csv), expect_failure=True)
    assert status == "failed"
    assert "DataValidationError" in logs and "leak_guard" in logs


@pytest.mark.parametrize("backend, extra", [("batch", {"queue": "gpu-queue"}), ("kubernetes", {}), ("local", {})])
def test_compute_backend_decorates_only_the_finetune_step(tmp_path, flow_config, moto_endpoint, backend, extra):
    """compute.backend in config adds @batch/@kubernetes to finetune, with no code change.

    Remote decorators need an S3 datastore, so `show` runs against the moto server."""
    import subprocess
    import sys

    cfg = flow_config(compute={"backend": backend, "gpu": 1, **extra})
    env = {**os.environ, "USER": "medtx-tests", "AWS_ENDPOINT_URL": moto_endpoint,
           "METAFLOW_DATASTORE_SYSROOT_S3": "s3://medtx-flows/metaflow"}
    out = subprocess.run(
        [sys.executable, FLOW, "--datastore=s3", "--config", "cfg", str(cfg), "show"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    steps, pending = {}, set()
    for line in out.stdout.splitlines():  # `show` prints decorators, then "Step <name>"
        if line.startswith("@"):
            pending.add(line.strip())
        elif line.startswith("Step "):
            steps[line.split()[1]], pending = pending, set()
    remote = {"@batch", "@kubernetes"}
    assert steps["finetune"] & remote == ({f"@{backend}"} if backend != "local" else set())
    assert all(not (decos & remote) for step, decos in steps.items() if step != "finetune")
