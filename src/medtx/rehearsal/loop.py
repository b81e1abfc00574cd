"""A local rehearsal of the whole loop: TrainFlow -> DeployFlow -> MonitorFlow on one machine.

Each flow runs through Metaflow's Runner with the trigger Argo would pass: DeployFlow is started
as if the TrainFlow run had just finished (``trigger=[pathspec]``, and only when that run
registered an Approved version), MonitorFlow then judges the prod endpoint's captured traffic
and, with ``retrain``, starts TrainFlow when its rule fires. ``traffic`` sends that many
synthetic held-out notes (``shift``: unchanged, truncated or without section headers) to the
monitored local endpoint first (:mod:`medtx.rehearsal.traffic`), so the monitor has something
to judge.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from medtx.config.paths import SOURCE_ROOT
from medtx.errors import RehearsalError
from medtx.rehearsal.traffic import send_traffic, traffic_notes

if TYPE_CHECKING:
    from metaflow import Run


@dataclass(frozen=True)
class PipelineStep:
    flow: str
    pathspec: Optional[str]
    status: str  # successful | failed | skipped
    summary: str


def flows_dir() -> Path:
    """``$MEDTX_FLOWS_DIR``, else ``flows/`` of the source checkout."""
    return Path(os.environ.get("MEDTX_FLOWS_DIR") or SOURCE_ROOT / "flows")


def _run(flow: str, config: str, show_output: bool, trigger: Optional[list] = None, **params: Any) -> Run:
    from metaflow import Runner

    top: dict[str, Any] = {"trigger": trigger} if trigger else {}
    path = flows_dir() / flow
    if not path.is_file():
        raise RehearsalError(f"flow file {path} not found; set MEDTX_FLOWS_DIR to the flows/ folder")
    with Runner(str(path), show_output=show_output, config=[("cfg", str(config))], **top) as runner:
        result = runner.run(**params)
        if result.status != "successful" or result.run is None:
            raise RehearsalError(f"{flow} run {result.run.pathspec if result.run else '?'} "
                                 f"{result.status}; see its logs above or in the Metaflow UI")
        return result.run


def run_pipeline(config: str, data: str = "", traffic: int = 0, shift: str = "none",
                 retrain: bool = False, show_output: bool = True,
                 echo: Callable[[str], None] = print,
                 overrides: Optional[dict] = None) -> list[PipelineStep]:
    """Train, deploy when approved, send traffic, monitor; one PipelineStep per stage.
    ``overrides`` (``{dotted key: value}``, ``medtx pipeline --set``) reach every flow as its
    ``--set``."""
    from medtx.config import load_settings
    from medtx.flowkit.overrides import refuse_compiled, runner_set
    from medtx.flowkit.runs import read_artifact

    refuse_compiled(overrides or {})
    settings = load_settings(config, overrides)
    set_kw = runner_set(overrides)  # each flow takes the same --set values
    steps: list[PipelineStep] = []

    def done(step: PipelineStep) -> None:
        steps.append(step)
        echo(f"[pipeline] {step.flow}: {step.status} {step.pathspec or ''} - {step.summary}")

    train_params: dict[str, Any] = {**({"data": data} if data else {}), **set_kw}
    train = _run("train_flow.py", config, show_output, **train_params)
    tags = {t.split(":", 1)[0]: t.split(":", 1)[1] for t in train.tags if ":" in t}
    done(PipelineStep("TrainFlow", train.pathspec, "successful",
                      f"version {tags.get('model_version')} {tags.get('approval')}"))
    if tags.get("approval") != "Approved":
        done(PipelineStep("DeployFlow", None, "skipped", f"version {tags.get('model_version')} is "
                          f"{tags.get('approval')}, not Approved (approve it: medtx models approve)"))
        return steps
    deploy = _run("deploy_flow.py", config, show_output, trigger=[train.pathspec], **set_kw)
    outcomes = read_artifact(deploy, "deploy", "outcomes")
    done(PipelineStep("DeployFlow", deploy.pathspec, "successful",
                      "; ".join(f"{o.stage} {o.state}" for o in outcomes)))
    if traffic:
        stage = settings.monitor.stage
        target = settings.deploy.targets[stage]
        if target.target != "local":
            raise RehearsalError(f"--traffic sends notes to local endpoints only; {stage} is {target.target}")
        answered = send_traffic(target.port, traffic_notes(traffic, shift))
        done(PipelineStep("traffic", None, "successful",
                          f"{answered} notes ({shift}) answered by {stage} on 127.0.0.1:{target.port}"))
    monitor = _run("monitor_flow.py", config, show_output, retrain=retrain, **set_kw)
    report = read_artifact(monitor, "decide", "report")
    event = read_artifact(monitor, "decide", "retrain_event")
    summary = report["verdict"] + (f"; retrain: {event.how} {event.train_run or ''}".rstrip()
                                   if event is not None else "")
    done(PipelineStep("MonitorFlow", monitor.pathspec, "successful", summary))
    return steps
