"""TrainFlow's stages: one function per flow step, each returning frozen, typed artifacts.

The flow (``flows/train_flow.py``) only orchestrates: it calls one function here per step and
hands the result to a card builder (tokenize and the fine-tune's own work live in
``finetuning``, shared with the training job's container). Model weights travel between steps as package bytes, so
a remote fine-tune step (Batch, Kubernetes) hands its model to local steps through the
datastore, and ``resume`` from evaluate never retrains.
"""
from __future__ import annotations

import json
import logging
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from medtx.config import Settings, settings_from
from medtx.data.checks import ValidationReport
from medtx.data.ingest import IngestInfo
from medtx.data.split import Split
from medtx.errors import ConfigError
from medtx.evaluation.document import Ceiling, Evaluation, SystemScores
from medtx.evaluation.gate import GateDecision
from medtx.evaluation.scoring import PredictorScores
from medtx.registry import ModelVersion
from medtx.stages.finetuning import FineTuned, Tokenized, finetune_local, tokenize

log = logging.getLogger("medtx.stages.train")
#: TrainFlow's steps in order, and what they return (tokenize lives in ``finetuning``)
__all__ = ["resolve_settings", "triggered_by", "ingest", "validate", "split", "tokenize", "finetune",
           "baseline", "evaluate", "package", "register", "export", "Tokenized", "FineTuned",
           "BaselineScores", "Registered", "TriggeredBy", "score_system", "split_ceiling"]


@dataclass(frozen=True)
class BaselineScores:
    val_scores: np.ndarray
    test_scores: np.ndarray
    seconds: float
    description: str


@dataclass(frozen=True)
class Registered:
    version: ModelVersion
    decision: GateDecision
    champion: Optional[PredictorScores]  # the champion re-scored on this run's test split
    champion_version: Optional[int]
    tags: tuple[str, ...]
    handoffs: tuple = ()  # deploy.handoff_to receipts of an Approved version


@dataclass(frozen=True)
class TriggeredBy:
    """Why this run started: ``manual``, ``retrain`` (a MonitorFlow retrain event or its local
    equivalent, with that run's reasons) or ``event`` / ``run`` (another Argo trigger)."""

    kind: str
    reasons: tuple[str, ...] = ()
    payload: Optional[dict] = None
    source: str = ""  # the monitor run, event name or upstream pathspec

    def to_dict(self) -> dict:
        return {"kind": self.kind, "reasons": list(self.reasons), "payload": self.payload,
                "source": self.source}


def triggered_by(retrain_request: str, trigger: Any = None) -> TriggeredBy:
    """Parse the ``retrain_request`` parameter (the retrain event's payload, JSON) and the
    Metaflow trigger, if any; a malformed request fails the run with a ConfigError."""
    if retrain_request:
        try:
            payload = json.loads(retrain_request)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"retrain_request is not JSON (line {exc.lineno}, column "
                              f"{exc.colno})") from None
        reasons = payload.get("reasons") if isinstance(payload, dict) else None
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise ConfigError("retrain_request must be a JSON object with a list of text "
                              "'reasons' (the payload MonitorFlow publishes)")
        return TriggeredBy("retrain", tuple(reasons), payload, str(payload.get("monitor_run", "")))
    event = getattr(trigger, "event", None) if trigger is not None else None
    if event is not None:
        run = getattr(trigger, "run", None)
        return TriggeredBy("run" if run is not None else "event", (),
                           None, run.pathspec if run is not None else str(getattr(event, "name", "")))
    return TriggeredBy("manual")


def resolve_settings(cfg: Any, data: str = "", labels: str = "") -> Settings:
    """Typed settings from the flow's config, with the ``--data`` / ``--labels`` parameters."""
    settings = settings_from(cfg)
    overrides: dict = {"data": {"path": data}} if data else {}
    if labels:
        overrides["labels"] = {"preset": labels}
    return settings.with_overrides(**overrides) if overrides else settings


def ingest(settings: Settings) -> tuple[pd.DataFrame, IngestInfo]:
    """Read the configured CSV (path or s3://) or generate the demo set; with
    ``monitor.labels_to_training`` append the labelled captured notes (provenance in the
    ``medtx_source`` column and ``IngestInfo.extra``), checked like every other row."""
    import dataclasses

    from medtx.data.ingest import ingest as read

    frame, info = read(None, settings)
    if not settings.monitor.labels_to_training:
        return frame, info
    from medtx.monitor.training import labelled_notes

    extra, files = labelled_notes(settings)
    if extra.empty:
        return frame, info
    merged = pd.concat([frame.drop(columns=["row_id"]), extra], ignore_index=True)
    merged.insert(0, "row_id", range(len(merged)))
    log.info("appended %d labelled captured notes from %d file(s)", len(extra), len(files))
    return merged, dataclasses.replace(info, n_rows=len(merged), extra=tuple(files))


def validate(raw: pd.DataFrame, settings: Settings) -> ValidationReport:
    """The data checks and the label policy (:func:`medtx.data.prepare.check_notes`)."""
    from medtx.data.prepare import check_notes

    return check_notes(raw, settings)


def split(report: ValidationReport, settings: Settings) -> Split:
    """Group-aware split of the checked notes."""
    from medtx.data.split import split_notes

    return split_notes(report.notes, settings.split)


def finetune(split: Split, tok: Tokenized, settings: Settings, pathspec: str) -> FineTuned:
    """Fine-tune the configured model; return its package bytes and val/test logits: in this
    process, or with ``compute.backend: sagemaker`` in a SageMaker training job (``training_job``)."""
    if settings.compute.backend == "sagemaker":
        from medtx.stages.training_job import finetune_remote

        return finetune_remote(split, settings, pathspec)
    return finetune_local(split, tok, settings, pathspec)


def baseline(split: Split, settings: Settings) -> BaselineScores:
    """Fit the TF-IDF + linear floor on the same train split; score val and test."""
    from medtx.modeling.baseline import fit_baseline

    t0 = time.perf_counter()
    model = fit_baseline(list(split.train["text"]), split.y("train"), len(split.labels),
                         seed=settings.train.seed, settings=settings.baseline)
    return BaselineScores(
        val_scores=model.decision_scores(list(split.val["text"])),
        test_scores=model.decision_scores(list(split.test["text"])),
        seconds=time.perf_counter() - t0,
        description=repr(model),
    )


def score_system(name: str, val_scores: np.ndarray, test_scores: np.ndarray,
                 split: Split) -> SystemScores:
    """One system on ``split``: temperature on validation, metrics and calibration on test."""
    from medtx.evaluation.scoring import evaluate_system

    return evaluate_system(name, val_scores, split.y("val"), test_scores, split.y("test"),
                           labels=split.labels, test_all_labels=list(split.test["all_labels"]))


def split_ceiling(split: Split) -> Ceiling:
    """The single-label ceiling of ``split``'s test rows."""
    from medtx.evaluation.ceiling import label_ceiling

    return label_ceiling(split.y("test"), list(split.test["group"]), len(split.labels))


def evaluate(split: Split, ft: FineTuned, base: BaselineScores, settings: Settings,
             info: IngestInfo, report: ValidationReport, pathspec: str) -> Evaluation:
    """Score model and baseline side by side on test (temperatures fitted on validation)."""
    from medtx.evaluation.document import build_evaluation

    meta = {
        "pathspec": pathspec, "data_sha256": info.sha256, "data_source": info.source,
        "is_demo": info.is_demo, "labels_policy": report.policy,
        "model": settings.model.name_or_path, "split": split.summary()["sizes"],
    }
    model = score_system("model", ft.val_logits, ft.test_logits, split)
    doc = build_evaluation(model, score_system("baseline", base.val_scores, base.test_scores, split),
                           meta, split_ceiling(split))
    log.info("test macro-F1: model %.4f vs baseline %.4f (margin %+.4f)",
             doc.model.macro_f1, doc.baseline.macro_f1, doc.margin["macro_f1"])
    return doc


def package(split: Split, ft: FineTuned, evaluation: Evaluation, settings: Settings) -> bytes:
    """The fine-tuned package as it is registered: its temperature and metrics, its
    ``evaluation.json`` and the monitoring reference profile added (the manifest is rewritten,
    so it stays verifiable); with ``serving.runtime: onnx-int8`` also its int8 ONNX export, so
    every target (local endpoints, the SageMaker model.tar.gz) serves the same checked file."""
    from medtx.evaluation.document import evaluation_json
    from medtx.modeling.package import add_files, package_from_bytes, package_to_bytes, update_meta
    from medtx.monitor.profile import reference_profile

    model = evaluation.model
    with tempfile.TemporaryDirectory(prefix="medtx-pkg-") as tmp:
        pkg = package_from_bytes(ft.package, Path(tmp) / "model")
        update_meta(pkg, temperature=model.temperature, metrics=model.headline())
        profile = reference_profile(split, {"val": ft.val_logits, "test": ft.test_logits},
                                    model.temperature, settings)
        add_files(pkg, {"evaluation.json": evaluation_json(evaluation),
                        **(profile.files() if profile is not None else {})})
        if settings.serving.runtime == "onnx-int8":  # registered with its int8 export
            from medtx.modeling.onnx_runtime import export_onnx

            export_onnx(pkg)
        return package_to_bytes(pkg)


def git_commit() -> Optional[str]:
    """The commit of the checkout the library runs from, or None outside a git work tree."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def register(settings: Settings, evaluation: Evaluation, package: bytes, split: Split,
             info: IngestInfo, tok: Tokenized, pathspec: str) -> Registered:
    """Gate the candidate against baseline and champion, then register it with that status."""
    from medtx.deploy.handoff import hand_off
    from medtx.evaluation.gate import decide
    from medtx.evaluation.scoring import score_predictor
    from medtx.modeling.package import package_from_bytes
    from medtx.modeling.predictor import Predictor
    from medtx.registry import current_actor, open_registry, run_tags

    lineage = {"pathspec": pathspec, "data_hash": tok.data_hash, "data_sha256": info.sha256,
               "git_commit": git_commit(), "env": settings.env}
    registry = open_registry(settings)
    champion = registry.latest("Approved") if settings.gate.compare_to_champion else None
    champion_scores = None
    with tempfile.TemporaryDirectory(prefix="medtx-reg-") as tmp:
        if champion is not None:  # re-scored on this run's test split: like for like
            predictor = Predictor.load(registry.fetch(champion.version, Path(tmp) / "champion"))
            champion_scores = score_predictor(predictor, split.test, split.labels)
        decision = decide(evaluation.model.headline(), evaluation.baseline.headline(),
                          champion_scores.headline() if champion_scores else None, settings.gate)
        pkg = package_from_bytes(package, Path(tmp) / "candidate")
        version = registry.register(pkg, evaluation, decision.status, decision.reasons, lineage,
                                    current_actor())
    log.info("registered %s version %d as %s", registry.group, version.version, version.status)
    return Registered(version=version, decision=decision, champion=champion_scores,
                      champion_version=champion.version if champion else None,
                      tags=tuple(run_tags(version)), handoffs=hand_off(settings, version))


def export(package: bytes, evaluation: Evaluation, output_dir: str | Path, run_id: str) -> Path:
    """``<output_dir>/<run_id>/{model/, model.tar.gz, evaluation.json}``; returns the folder."""
    from medtx.evaluation.document import write_evaluation
    from medtx.modeling.package import make_tarball, package_from_bytes

    root = Path(output_dir) / str(run_id)
    if root.exists():
        raise FileExistsError(f"export folder {root} already exists; choose another --output-dir")
    root.mkdir(parents=True)
    make_tarball(package_from_bytes(package, root / "model"), root / "model.tar.gz")
    write_evaluation(evaluation, root / "evaluation.json")
    return root
