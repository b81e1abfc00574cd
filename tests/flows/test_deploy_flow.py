"""DeployFlow end to end on a tiny model: TrainFlow registers, DeployFlow (as triggered by that
run) brings staging and prod up on 127.0.0.1, they answer and capture; refusals fail the run."""
from __future__ import annotations

import json
import urllib.request

import pytest


def _post(port: int, body: dict, headers: dict | None = None) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture
def deploy_config(tmp_path, flow_config):
    from medtx.serving.process import free_port

    ports = {"staging": free_port(), "prod": free_port()}
    cfg = flow_config(
        deploy={"targets": {s: {"port": p} for s, p in ports.items()}, "latency_budget_ms": 5000.0,
                "smoke_tolerance": 1.0},
        serving={"capture_to": str(tmp_path / "capture"), "threads": 1})
    yield cfg, ports
    from medtx.config import load_settings
    from medtx.deploy.factory import open_endpoints

    settings = load_settings(cfg)
    for stage in ports:  # local endpoints outlive the flow run: stop them
        open_endpoints(settings, stage).stop(stage)


def test_deploy_flow_serves_the_triggering_runs_version(tmp_path, deploy_config, demo_csv, run_flow,
                                                         capsys):
    from medtx.serving.capture import read_capture

    cfg, ports = deploy_config
    train = run_flow(tmp_path, cfg, data=str(demo_csv), output_dir=str(tmp_path / "out"))
    deploy = run_flow(tmp_path, cfg, flow="deploy", trigger=[train.pathspec])
    selection = deploy["start"].task.data.selection
    assert selection.version.version == 1 and selection.chosen_because == f"triggering run {train.pathspec}"
    outcomes = {o.stage: o for o in deploy["deploy"].task.data.outcomes}
    assert [o.state for o in outcomes.values()] == ["deployed", "deployed"]
    assert outcomes["prod"].result.smoke.passed and outcomes["prod"].result.after.version == 1
    from medtx.cli.main import main

    capsys.readouterr()
    assert main(["endpoints", "list", "--config", str(cfg), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(d["stage"], d["version"], d["state"]) for d in listed] == [
        ("staging", 1, "serving"), ("prod", 1, "serving")]

    note = "HISTORY: knee pain after a fall. EXAM: medial joint line tenderness. PLAN: MRI of the knee."
    answer = _post(ports["prod"], {"inputs": note}, {"X-Amzn-SageMaker-Inference-Id": "case-1"})
    prediction = answer["predictions"][0]
    assert prediction["model_version"] == 1
    assert prediction["label"] in train["split"].task.data.split_data.labels

    from medtx.config import load_settings
    from medtx.deploy.factory import open_endpoints

    settings = load_settings(cfg)
    open_endpoints(settings, "prod").stop("prod")  # flushes the capture buffer
    records = list(read_capture(str(tmp_path / "capture"), "medtx-prod"))
    mine = [r for r in records if r["eventMetadata"].get("inferenceId") == "case-1"]
    assert len(mine) == 1 and mine[0]["eventVersion"] == "0"
    assert mine[0]["captureData"]["endpointInput"]["mode"] == "INPUT"


def test_deploy_flow_refuses_a_version_that_is_not_approved(tmp_path, deploy_config, demo_csv, run_flow):
    cfg, _ = deploy_config
    run_flow(tmp_path, cfg, data=str(demo_csv), output_dir=str(tmp_path / "out"))
    from medtx.config import load_settings
    from medtx.registry import open_registry

    open_registry(load_settings(cfg)).set_status(1, "Rejected", reason="fails on pediatric notes",
                                                 actor="reviewer")
    status, logs = run_flow(tmp_path, cfg, flow="deploy", expect_failure=True, version="1")
    assert status == "failed" and "is Rejected, not Approved" in logs
    status, logs = run_flow(tmp_path, cfg, flow="deploy", expect_failure=True)
    assert status == "failed" and "no Approved version" in logs
