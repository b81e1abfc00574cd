"""Fixtures for running the real flows with Metaflow's Runner on a tiny random model."""
from __future__ import annotations

import json
import os
import re
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def write_config(path: Path, model_dir: Path, registry: Path, **sections) -> Path:
    """Write a config for a fast local run (tiny model, short windows, a gate that admits
    anything, the registry under ``registry``) with ``sections`` merged over it; return ``path``."""
    from medtx.config import load_config_dict

    raw = load_config_dict(ROOT / "configs" / "local.json")
    raw["env"] = "test"
    raw["data"]["demo_notes"] = 300
    raw["model"].update(name_or_path=str(model_dir), max_length=64, head_tokens=16)
    raw["train"].update(epochs=2, batch_size=16, learning_rate=5e-4)
    raw["gate"].update(min_macro_f1=0.0, min_accuracy=0.0, min_margin_over_baseline=-1.0,
                       champion_tolerance=1.0, approval="auto")
    raw["registry"]["path"] = str(registry)
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    path.write_text(json.dumps(raw))
    return path


@pytest.fixture
def flow_config(tmp_path, tiny_model_dir):
    """``make(**sections) -> path``: a fast local config (see ``write_config``) under tmp_path."""

    def make(**sections) -> Path:
        path = tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.json"
        return write_config(path, tiny_model_dir, tmp_path / "registry", **sections)

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


def run_flow_in(workdir: Path, cfg: Path, expect_failure=False, resume_from=None, flow="train",
                trigger=None, **params):
    """Run (or resume: ``resume_from=(run_id, step)``) TrainFlow (or, with ``flow="deploy"`` /
    ``"monitor"``, DeployFlow / MonitorFlow) in ``workdir``, which holds its own .metaflow
    datastore and .medtx cache; ``trigger=[pathspec]`` runs it as if that run had just finished;
    ``set=["section.key=value", ...]`` passes overrides. Returns the Metaflow ``Run`` (asserting
    it succeeded) or, with ``expect_failure``, ``(status, logs)``."""
    from metaflow import Runner

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
                assert result.status == "successful", (result.stdout + result.stderr)[-6000:]
                return result.run
            return result.status, result.stdout + result.stderr  # logs vanish when the Runner closes
    finally:
        os.chdir(old)


@pytest.fixture
def run_flow():
    """``run_flow_in`` as a fixture."""
    return run_flow_in


HELD_OUT_SEED = 12  # demo notes the training set (seed 3) never saw
CASE_NOTE = "HISTORY: knee pain after a fall. EXAM: medial joint line tenderness. PLAN: MRI of the knee."


def held_out_notes(seed: int, n: int, keep=None) -> list[str]:
    """``n`` demo notes of another seed than training (only the specialties in ``keep``, if set):
    the rehearsal's own traffic notes, or a case mix of them."""
    from medtx.data.demo import make_demo_notes
    from medtx.rehearsal.traffic import traffic_notes

    if keep is None:
        return traffic_notes(n, seed=seed)
    frame = make_demo_notes(n=max(n * 3, 600), seed=seed).dropna(subset=["transcription"])
    frame = frame[frame["medical_specialty"].str.strip().isin(keep)]
    return list(frame["transcription"][:n])


def post(port: int, body: dict, inference_id: str | None = None) -> dict:
    """POST ``body`` as JSON to a local endpoint's /invocations; the parsed answer."""
    from medtx.serving.contract import INFERENCE_ID_HEADER

    headers = {"Content-Type": "application/json", **({INFERENCE_ID_HEADER: inference_id} if inference_id else {})}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


@pytest.fixture
def held_out():
    """``held_out_notes`` as a fixture."""
    return held_out_notes


def check_no_drift(report: dict, n_notes: int) -> None:
    """``report`` judged ``n_notes`` of unchanged traffic: no signal moved, no retrain, every
    signal present, quality estimated but not measured (no labels yet)."""
    assert report["status"] == "judged" and report["n_notes"] == n_notes, report["verdict"]
    assert report["drifted"] == [], {k: s["p_value"] for k, s in report["signals"].items()}
    assert report["verdict"] == "no drift" and not report["retrain"]["fire"]
    assert set(report["signals"]) == {"chars", "words", "headers", "non_letter_share", "empty",
                                      "oov_rate", "input_mmd", "input_classifier",
                                      "predicted_label", "confidence"}
    assert report["quality"]["estimated_accuracy"]["value"] > 0
    assert not report["quality"]["measured"]


@pytest.fixture
def no_drift():
    """``check_no_drift`` as a fixture."""
    return check_no_drift


@dataclass(frozen=True)
class Loop:
    """The session's one trained -> registered -> deployed -> monitored story (see ``loop``)."""

    workdir: Path
    config: Path
    demo_csv: Path
    ports: dict
    train: Any  # metaflow Run objects
    deploy: Any
    monitor: Any
    case_answer: dict  # prod's answer to case_note, sent with inference id case_id
    held_out: int  # held-out notes sent to prod after it
    case_note: str = CASE_NOTE
    case_id: str = "case-1"


@pytest.fixture(scope="session")
def loop(tmp_path_factory, tiny_model_dir, demo_csv):
    """Train once per session, as a user would: TrainFlow on the demo notes (its epochs changed
    for this run by ``--set``), DeployFlow triggered by that run (staging and prod on 127.0.0.1),
    one case note and 180 held-out notes sent to prod, MonitorFlow over what prod captured.
    Many small tests read this one story; the flows tier runs the other variants."""
    from medtx.config import load_settings
    from medtx.deploy.factory import open_endpoints
    from medtx.rehearsal.traffic import send_traffic
    from medtx.serving.process import free_port

    workdir = tmp_path_factory.mktemp("loop")
    ports = {"staging": free_port(), "prod": free_port()}
    cfg = write_config(
        workdir / "config.json", tiny_model_dir, workdir / "registry",
        train={"epochs": 3},  # the run's --set below says 2
        deploy={"targets": {s: {"port": p} for s, p in ports.items()}, "latency_budget_ms": 5000.0,
                "smoke_tolerance": 1.0},
        serving={"capture_to": str(workdir / "capture"), "threads": 1},
        monitor={"state_dir": str(workdir / "monitor"), "min_notes": 100, "permutations": 200, "bootstrap": 200})
    try:
        train = run_flow_in(workdir, cfg, data=str(demo_csv), output_dir=str(workdir / "out"),
                            set=["train.epochs=2"])
        deploy = run_flow_in(workdir, cfg, flow="deploy", trigger=[train.pathspec])
        answer = post(ports["prod"], {"inputs": CASE_NOTE}, Loop.case_id)
        held = held_out_notes(HELD_OUT_SEED, 180)
        send_traffic(ports["prod"], held, prefix="held")
        monitor = run_flow_in(workdir, cfg, flow="monitor")
        yield Loop(workdir, cfg, demo_csv, ports, train, deploy, monitor, answer, len(held))
    finally:
        settings = load_settings(cfg)
        for stage in ports:  # local endpoints outlive the flow runs
            open_endpoints(settings, stage).stop(stage)
