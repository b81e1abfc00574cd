"""``--set`` on the flows: what the start step applies, refuses, tags and shows."""
from __future__ import annotations

import pytest

from medtx.config import parse_overrides
from medtx.errors import ConfigError
from medtx.flowkit.overrides import COMPILED_KEYS, apply_set, runner_set, set_tags


def test_apply_set_returns_the_settings_and_what_changed(settings):
    cfg = settings.to_dict()  # what a run stores as its config artifact
    got, overrides = apply_set(cfg, ("train.epochs=1", "model.max_length=64,model.head_tokens=16"))
    assert overrides == {"train.epochs": 1, "model.max_length": 64, "model.head_tokens": 16}
    assert (got.train.epochs, got.model.max_length, got.model.head_tokens) == (1, 64, 16)
    same, none = apply_set(cfg, ())
    assert none == {} and same == settings


def test_apply_set_refuses_an_unknown_key_before_anything_runs(settings):
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.epoch'"):
        apply_set(settings.to_dict(), ["train.epoch=1"])


@pytest.mark.parametrize("item", ["compute.gpu=1", "compute.backend=batch", "project.branch=x",
                                  "deploy.schedule=0 1 * * *", "monitor.retrain_schedule=null",
                                  'compute={"gpu": 1}'])
def test_keys_fixed_at_compile_time_are_refused(settings, item):
    with pytest.raises(ConfigError, match=r"--set cannot change compute|--set cannot change "
                                          r"(project|deploy|monitor)\..* read when the flow is compiled"):
        apply_set(settings.to_dict(), [item])


def test_compiled_keys_are_the_ones_the_mutators_read():
    import inspect
    from pathlib import Path

    from medtx.flowkit import mutators

    source = inspect.getsource(mutators)
    for key in ("compute", "project", "handoff_event", "retrain_event", "retrain_schedule", "deploy.schedule"):
        assert key in source
    flows = Path(__file__).resolve().parents[2] / "flows"
    assert 'schedule_from_config("monitor.schedule")' in (flows / "monitor_flow.py").read_text()
    assert {"compute", "project", "deploy.schedule", "deploy.handoff_event", "monitor.schedule",
            "monitor.retrain_event", "monitor.retrain_schedule"} == set(COMPILED_KEYS)


def test_tags_and_the_runner_keyword_round_trip():
    overrides = {"train.epochs": 1, "labels.preset": "all40", "deploy.stages": ["dev"], "data.path": None}
    assert set_tags(overrides) == ["set:train.epochs=1", "set:labels.preset=all40",
                                   'set:deploy.stages=["dev"]', "set:data.path=null"]
    assert len(set_tags({"data.path": "x" * 600})[0]) == 500
    kwargs = runner_set(overrides)
    assert list(kwargs) == ["set"] and parse_overrides(kwargs["set"]) == overrides
    assert runner_set({}) == {} and runner_set(None) == {}


def test_the_card_names_the_overrides():
    from medtx.reports import overrides_text

    assert overrides_text({}) == ""
    assert overrides_text({"train.epochs": 1, "labels.preset": "all40"}) == (
        "Changed for this run with --set: `train.epochs=1`, `labels.preset=all40`")


def test_cli_commands_take_set_like_the_flows(tmp_path):
    import argparse

    from medtx.cli.common import add_common, load_settings_for

    p = argparse.ArgumentParser()
    add_common(p)
    args = p.parse_args(["--set", "train.epochs=1", "--set", "serving.port=8090,data.path=notes.csv",
                         "--labels", "all40"])
    s = load_settings_for(args)
    assert (s.train.epochs, s.serving.port, s.data.path, s.labels.preset) == (1, 8090, "notes.csv", "all40")
    with pytest.raises(ConfigError, match=r"unknown config key 'serving\.prot'"):
        load_settings_for(p.parse_args(["--set", "serving.prot=1"]))


def test_medtx_pipeline_passes_set_to_every_flow(monkeypatch, capsys):
    from types import SimpleNamespace

    from medtx.cli.main import main
    from medtx.rehearsal import loop

    calls = []

    def fake_run(flow, config, show_output, trigger=None, **params):
        calls.append((flow, params))
        return SimpleNamespace(tags=["model_version:1", "approval:PendingManualApproval"],
                               pathspec="TrainFlow/1")

    monkeypatch.setattr(loop, "_run", fake_run)
    assert main(["pipeline", "--quiet", "--set", "train.epochs=1", "--set", "labels.preset=all40"]) == 0
    assert calls == [("train_flow.py", {"set": ["train.epochs=1", 'labels.preset="all40"']})]
    assert main(["pipeline", "--quiet", "--set", "compute.gpu=1"]) == 2
    assert "--set cannot change compute.gpu" in capsys.readouterr().err
    assert len(calls) == 1  # refused before any flow ran
