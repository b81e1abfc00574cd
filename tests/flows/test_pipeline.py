"""``medtx pipeline`` on demo data and a tiny model: TrainFlow, DeployFlow triggered by it,
traffic to the deployed endpoint, MonitorFlow judging it; the endpoint answers afterwards."""
from __future__ import annotations

import json
import urllib.request

import pytest


@pytest.mark.flows
def test_pipeline_runs_the_three_flows_in_order(tmp_path, loop_config, monkeypatch, capsys):
    from medtx.cli.main import main

    cfg, port = loop_config(permutations=99, bootstrap=100)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("USER", "medtx-tests")
    monkeypatch.setenv("MEDTX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["pipeline", "--config", str(cfg), "--traffic", "120", "--quiet", "--json"]) == 0
    out = capsys.readouterr().out
    steps = json.loads(out[out.index("[\n"):])
    assert [s["flow"] for s in steps] == ["TrainFlow", "DeployFlow", "traffic", "MonitorFlow"]
    assert all(s["status"] == "successful" for s in steps)
    assert steps[1]["summary"] == "prod deployed" and "120 notes (none) answered" in steps[2]["summary"]
    assert steps[3]["summary"].startswith(("no drift", "drift: "))
    from metaflow import Run, namespace

    namespace(None)
    deploy = Run(steps[1]["pathspec"])
    assert deploy["start"].task.data.selection.chosen_because == f"triggering run {steps[0]['pathspec']}"
    report = Run(steps[3]["pathspec"])["decide"].task.data.report
    assert report["n_notes"] == 120 and report["status"] == "judged"
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                 data=json.dumps({"inputs": "knee pain after a fall"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert json.loads(resp.read())["predictions"][0]["model_version"] == 1
