"""DeployFlow's stages: choose the version, check it may go where it is going, gather smoke
notes, deploy stage by stage (blue/green, smoke-tested), each returning frozen artifacts.

Which version: the model package ARN of a cross-account hand-off (``--model_package``, set by
the ``deploy.handoff_event`` trigger); else the one given with ``--version``; else, when a
TrainFlow run triggered the deploy, that run's version; else the latest Approved one. Whatever
is chosen must be Approved, and a model trained on the built-in demo notes never leaves the
local target. The smoke notes of a TrainFlow version come from that run's split step, read
through :mod:`medtx.flowkit.runs`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from medtx.config import Settings, settings_from
from medtx.deploy.base import Candidate, DeployError, DeployResult
from medtx.evaluation.document import Evaluation
from medtx.registry import APPROVED, ModelVersion

log = logging.getLogger("medtx.stages.deploy")


@dataclass(frozen=True)
class Selection:
    """The version a deploy run works on, and why it was chosen."""

    version: ModelVersion
    chosen_because: str  # "requested", "triggering run TrainFlow/12", "latest Approved"
    package_dir: str  # the verified package, fetched once into the registry cache
    is_demo: bool  # trained on the built-in synthetic demo notes
    evaluated_accuracy: float  # test accuracy in the version's evaluation.json
    train_run: Optional[str]  # TrainFlow/<run_id> that produced it, when known


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage: deployed (with its result), or waiting for approval."""

    stage: str
    state: str  # deployed | awaiting_approval | skipped
    result: Optional[DeployResult] = None
    reason: str = ""


def resolve_settings(cfg: Any) -> Settings:
    """Typed settings from the flow's config."""
    return settings_from(cfg)


def triggering_version(trigger: Any) -> Optional[tuple[int, str]]:
    """(version, TrainFlow/<id>) from the run that triggered this one, if it registered one."""
    run = getattr(trigger, "run", None) if trigger is not None else None
    if run is None:
        return None
    for tag in run.tags:
        if tag.startswith("model_version:"):
            return int(tag.split(":", 1)[1]), run.pathspec
    return None


def handed_off_version(settings: Settings, arn: str) -> int:
    """The version a cross-account hand-off names, checked against this config's registry:
    the ARN must be a package of ``registry.group`` in the registry account (``registry.account``
    or the default account), whose role this run reads it through."""
    from medtx.deploy.handoff import parse_package_arn

    ref = parse_package_arn(arn)
    reg = settings.registry
    account_id = (settings.aws.get_account(reg.account).account_id if reg.account
                  else settings.aws.account_id)
    if ref.group != reg.group or (account_id and ref.account_id != account_id):
        raise DeployError(f"hand-off names {ref.arn}, not a package of group {reg.group!r} in the "
                          f"registry account {account_id or '(default)'}: refused")
    return ref.version


def choose(settings: Settings, requested: str = "", trigger: Any = None,
           model_package: str = "") -> Selection:
    """The version to deploy (see the module docstring); DeployError when there is none."""
    from medtx.registry import open_registry
    from medtx.registry.refs import resolve_model_ref

    registry = open_registry(settings)
    from_trigger = triggering_version(trigger)
    if model_package:  # a cross-account hand-off: the registry is re-read, not the event trusted
        version = registry.get(handed_off_version(settings, model_package))
        because = f"hand-off {model_package}"
    elif requested:
        version, because = registry.resolve(requested), "requested"
    elif from_trigger is not None:
        version, because = registry.get(from_trigger[0]), f"triggering run {from_trigger[1]}"
    else:
        latest = registry.latest(APPROVED)
        if latest is None:
            raise DeployError(f"no Approved version in group {registry.group!r} to deploy")
        version = latest
        because = "latest Approved"
    if version.status != APPROVED:
        raise DeployError(f"version {version.version} is {version.status}, not {APPROVED}: "
                          "only approved models are deployed")
    package = _runtime_package(settings, Path(resolve_model_ref(str(version.version), settings)))
    evaluation = _evaluation(Path(package))
    meta = evaluation.meta
    train_run = "/".join(str(meta.get("pathspec", "")).split("/")[:2]) or None
    log.info("deploying %s version %d (%s)", version.group, version.version, because)
    return Selection(version=version, chosen_because=because, package_dir=str(package),
                     is_demo=bool(meta.get("is_demo", False)),
                     evaluated_accuracy=float(evaluation.model.accuracy),
                     train_run=train_run)


def _runtime_package(settings: Settings, package: Path) -> Path:
    """The package the servers load: as fetched, or with ``serving.runtime: onnx-int8`` a copy
    beside the registry cache that carries the int8 export (the fetched one stays untouched)."""
    from medtx.modeling.onnx_export import INFO_FILE

    if settings.serving.runtime != "onnx-int8" or (package / INFO_FILE).is_file():
        return package
    import shutil

    from medtx.modeling.onnx_runtime import export_onnx

    target = package.with_name(package.name + "-onnx-int8")
    if not target.is_dir():
        tmp = package.with_name(package.name + ".onnx-tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(package, tmp)
        for path in tmp.rglob("*"):  # registry artifacts are read-only; the copy is ours
            path.chmod(0o755 if path.is_dir() else 0o644)
        tmp.chmod(0o755)
        export_onnx(tmp)
        tmp.rename(target)
    return target


def _evaluation(package: Path) -> Evaluation:
    path = package / "evaluation.json"
    if not path.is_file():
        raise DeployError(f"model package {package} carries no evaluation.json; "
                          "deploy only packages registered by TrainFlow")
    return Evaluation.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))


def check_allowed(candidate: Selection, stage: str, settings: Settings) -> None:
    """Refuse what must never reach ``stage``: unapproved versions, demo models off local."""
    target = settings.deploy.targets[stage]
    if candidate.version.status != APPROVED:
        raise DeployError(f"version {candidate.version.version} is {candidate.version.status}; "
                          f"{stage} takes only {APPROVED} versions")
    if candidate.is_demo and (target.target != "local" or settings.env not in ("local", "test")):
        raise DeployError(
            f"version {candidate.version.version} was trained on the built-in synthetic demo "
            f"notes; it may be deployed to a local endpoint of a local environment only, not "
            f"to {stage} ({target.target}, env {settings.env})")


def smoke_notes(settings: Settings, candidate: Selection) -> list[tuple[str, str]]:
    """Labelled notes for the smoke test: ``deploy.smoke_file`` when set, else the producing
    TrainFlow run's test split (the package itself carries no note text)."""
    n = settings.deploy.smoke_notes
    if settings.deploy.smoke_file:
        from medtx.data.prepare import prepare

        notes = prepare(settings, settings.deploy.smoke_file, split=False).notes
    elif candidate.train_run:
        from medtx.flowkit.runs import RunReadError, read_artifact

        try:
            notes = read_artifact(candidate.train_run, "split", "split_data").test
        except RunReadError as exc:
            raise DeployError(f"{exc}: the smoke test needs its test split; set "
                              "deploy.smoke_file") from None
    else:
        raise DeployError("no smoke notes: the version names no TrainFlow run; set deploy.smoke_file")
    notes = notes.drop_duplicates("group").sort_values("note_id").head(n)
    return [(str(t), str(lab)) for t, lab in zip(notes["text"], notes["label"])]


def deploy(settings: Settings, selection: Selection, stages: Optional[list[str]] = None
           ) -> tuple[StageOutcome, ...]:
    """Deploy ``selection`` to each stage in order (``deploy.stages``): blue/green, smoke-tested
    against the producing run's test notes. At a stage with manual approval the new model is
    started and smoke-tested beside the serving one but not given the address: ``medtx
    endpoints promote STAGE`` does that, and the later stages wait. A failure raises
    DeployError with the previous model still serving that stage."""
    from medtx.deploy.factory import open_endpoints
    from medtx.deploy.smoke import SmokeSpec

    order = list(stages or settings.deploy.stages)
    notes = smoke_notes(settings, selection)
    spec = SmokeSpec.from_settings(settings, notes, selection.evaluated_accuracy,
                                   expected_version=selection.version.version)
    candidate = Candidate.from_version(selection.version, Path(selection.package_dir))
    outcomes: list[StageOutcome] = []
    for i, stage in enumerate(order):
        check_allowed(selection, stage, settings)
        manual = settings.deploy.targets[stage].approval == "manual"
        result = open_endpoints(settings, stage).deploy(stage, candidate, smoke=spec,
                                                        promote=not manual)
        if manual:
            why = f"smoke-tested and ready; `medtx endpoints promote {stage}` gives it the address"
            outcomes.append(StageOutcome(stage, "awaiting_approval", result, why))
            outcomes += [StageOutcome(s, "skipped", reason=f"waits for {stage}") for s in order[i + 1:]]
            break
        log.info("%s: version %d serving at %s", stage, selection.version.version,
                 result.after.address)
        outcomes.append(StageOutcome(stage, "deployed", result))
    return tuple(outcomes)
