"""DeployFlow refusals fail the run (flows tier). A deploy that succeeds — triggered by a
TrainFlow, staging and prod answering and capturing on 127.0.0.1 — is the session's shared run,
checked in tests/flows/test_loop.py."""
from __future__ import annotations

import pytest


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


@pytest.mark.flows
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
