"""TrainFlow through Metaflow's Runner, on demo notes and a tiny random model: resume and a
second run (flows tier), the leak guard, and compute backends chosen by config."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOW = str(ROOT / "flows" / "train_flow.py")


@pytest.mark.flows
def test_resume_reuses_the_fine_tune_and_a_new_run_meets_the_champion(tmp_path, flow_config, demo_csv, run_flow):
    """What one run cannot show (the first run's own checks read the session's shared run,
    tests/flows/test_loop.py): resuming, a second run against the champion, the int8 export."""
    cfg = flow_config()
    run = run_flow(tmp_path, cfg, data=str(demo_csv), output_dir=str(tmp_path / "out"))
    assert run["register"].task.data.registered.version.version == 1

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


@pytest.mark.parametrize("flow, section, values, named", [
    ("train_flow.py", "train", {"learning_rate": 0}, "'train.learning_rate' must be > 0"),
    ("train_flow.py", "labels", {"preset": "spec13"}, "'labels.preset' must be 'all40', 'spec12' or 'custom'"),
    ("train_flow.py", "trian", {"epochs": 1}, "unknown config key(s) ['trian']"),
    ("deploy_flow.py", "deploy", {"smoke_tolerance": 1.5}, "'deploy.smoke_tolerance' must be <= 1"),
    ("monitor_flow.py", "monitor", {"alpha": 0}, "'monitor.alpha' must be > 0"),
])
def test_a_bad_config_stops_every_flow_with_one_line_naming_the_key(tmp_path, flow, section, values, named):
    """Found when the config is parsed, before any step runs: no 'Internal error', no traceback."""
    import subprocess
    import sys

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"extends": "base.json", "env": "test", section: values}))
    out = subprocess.run([sys.executable, str(ROOT / "flows" / flow), "--config", "cfg", str(bad), "run"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**os.environ, "USER": "medtx-tests"})
    said = out.stdout + out.stderr
    assert out.returncode != 0 and "Bad config" in said and named in said, said[-2000:]
    assert "Traceback" not in said and "Internal error" not in said
    assert not (tmp_path / ".metaflow").exists()  # no run was started
