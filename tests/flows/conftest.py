"""Fixtures for running the real flows with Metaflow's Runner on a tiny random model."""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAIN_FLOW = str(ROOT / "flows" / "train_flow.py")
DEPLOY_FLOW = str(ROOT / "flows" / "deploy_flow.py")
MONITOR_FLOW = str(ROOT / "flows" / "monitor_flow.py")


@pytest.fixture(scope="session")
def demo_csv(tmp_path_factory) -> Path:
    from medtx.data.demo import write_demo_csv

    return write_demo_csv(tmp_path_factory.mktemp("demo") / "demo.csv", n=300, seed=3)


@pytest.fixture(scope="session")
def demo_vocab(demo_csv) -> list[str]:
    """The 3000 commonest lower-case words of the demo notes, sorted (a word-level vocabulary)."""
    import pandas as pd

    words = Counter(
        w for text in pd.read_csv(demo_csv)["transcription"].dropna()
        for w in re.findall(r"[a-z]+", text.lower())
    )
    return sorted(w for w, _ in words.most_common(3000))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, demo_vocab, word_tokenizer, tiny_bert, save_hf_folder) -> Path:
    """A random 2-layer BERT + word-level tokenizer over the demo vocabulary, saved like an HF folder."""
    out = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = word_tokenizer(demo_vocab, out)
    return save_hf_folder(tiny_bert(tokenizer, seed=0, max_positions=128), tokenizer, out)


@pytest.fixture
def flow_config(tmp_path, tiny_model_dir):
    """Write a config for a fast local run (tiny model, short windows) and return its path."""

    def make(**sections) -> Path:
        from medtx.config import load_config_dict

        raw = load_config_dict(ROOT / "configs" / "local.json")
        raw["env"] = "test"
        raw["data"]["demo_notes"] = 300
        raw["model"].update(name_or_path=str(tiny_model_dir), max_length=64, head_tokens=16)
        raw["train"].update(epochs=2, batch_size=16, learning_rate=5e-4)
        raw["gate"].update(min_macro_f1=0.0, min_accuracy=0.0, min_margin_over_baseline=-1.0,
                           champion_tolerance=1.0, approval="auto")
        raw["registry"]["path"] = str(tmp_path / "registry")
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.json"
        path.write_text(json.dumps(raw))
        return path

    return make


@pytest.fixture
def loop_config(tmp_path, flow_config):
    """``make(**monitor) -> (config, port)``: one local prod stage on a free port, capture and
    monitoring state under tmp_path, small monitor resamples; the stage is stopped afterwards."""
    from medtx.serving.process import free_port

    made = []

    def make(**monitor):
        port = free_port()
        cfg = flow_config(
            deploy={"stages": ["prod"], "targets": {"prod": {"port": port}},
                    "latency_budget_ms": 5000.0, "smoke_tolerance": 1.0},
            serving={"capture_to": str(tmp_path / "capture"), "threads": 1},
            monitor={"state_dir": str(tmp_path / "monitor"), "min_notes": 100,
                     "permutations": 200, "bootstrap": 200, **monitor})
        made.append(cfg)
        return cfg, port

    yield make
    from medtx.config import load_settings
    from medtx.deploy.factory import open_endpoints

    for cfg in made:  # local endpoints outlive the flow runs
        open_endpoints(load_settings(cfg), "prod").stop("prod")


@pytest.fixture
def run_flow():
    """A function that runs (or resumes: ``resume_from=(run_id, step)``) TrainFlow (or, with
    ``flow="deploy"``, DeployFlow) in ``workdir``, which holds its own .metaflow datastore and
    .medtx cache; ``trigger=[pathspec]`` runs it as if that run had just finished.

    ``run_flow(workdir, cfg, expect_failure=False, resume_from=None, flow="train", trigger=None,
    **params)`` returns the Metaflow ``Run`` (asserting it succeeded) or, with
    ``expect_failure``, ``(status, logs)``."""
    from metaflow import Runner

    def run(workdir, cfg, expect_failure=False, resume_from=None, flow="train", trigger=None,
            **params):
        path = {"train": TRAIN_FLOW, "deploy": DEPLOY_FLOW, "monitor": MONITOR_FLOW}[flow]
        top = {"trigger": list(trigger)} if trigger else {}
        env = {"USER": "medtx-tests", "MEDTX_CACHE": str(workdir / "cache"), "HF_HUB_OFFLINE": "1"}
        old = os.getcwd()
        os.chdir(workdir)  # the Client finds the run's .metaflow from the working directory
        try:
            config = [] if resume_from else [("cfg", str(cfg))]  # a resume reuses the run's config
            with Runner(path, show_output=False, env=env, cwd=str(workdir), config=config, **top) as runner:
                if resume_from:
                    result = runner.resume(origin_run_id=resume_from[0], step_to_rerun=resume_from[1])
                else:
                    result = runner.run(**params)
                if not expect_failure:
                    assert result.status == "successful", result.stderr[-4000:]
                    return result.run
                return result.status, result.stdout + result.stderr  # logs vanish when the Runner closes
        finally:
            os.chdir(old)

    return run
