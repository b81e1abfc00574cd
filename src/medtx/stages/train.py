"""TrainFlow's model stages, one function per flow step, over plain typed artifacts.

Each function composes library modules (features, train, baseline, evaluate, package, gate,
registry) and returns a dataclass the flow stores as an artifact. Model weights travel between
steps as package bytes, so a remote fine-tune step (Batch, Kubernetes) hands its model to local
steps through the datastore, and ``resume`` from evaluate never retrains.
"""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from medtx.config import Settings
from medtx.data.split import Split

log = logging.getLogger("medtx.stages.train")


@dataclass
class Tokenized:
    encoded: dict  # side -> medtx.features.Encoded
    strategy: dict
    source: str  # resolved model/tokenizer location
    pad_id: int
    data_hash: str
    seconds: float


@dataclass
class FineTuned:
    package: bytes  # medtx.package.package_to_bytes of the best epoch's model package
    history: list
    best_epoch: int
    device: str
    precision: str
    val_logits: np.ndarray
    test_logits: np.ndarray
    seconds: float


@dataclass
class BaselineScores:
    val_scores: np.ndarray
    test_scores: np.ndarray
    seconds: float
    description: str


@dataclass
class Registered:
    version: Any  # medtx.registry.ModelVersion
    decision: Any  # medtx.gate.GateDecision
    champion: Optional[dict] = None  # champion metrics re-scored on this run's test split
    champion_version: Optional[int] = None
    tags: list = field(default_factory=list)


def tokenize(split: Split, settings: Settings, cache_dir: Optional[Path]) -> Tokenized:
    """Tokenize train/val/test with the configured long-note strategy (cached on disk)."""
    from medtx.modeling.features import LongNoteStrategy, data_hash, tokenize_split
    from medtx.modeling.pretrained import load_tokenizer, resolve_model_source

    t0 = time.perf_counter()
    source = resolve_model_source(settings.model.name_or_path)
    tokenizer = load_tokenizer(source)
    strategy = LongNoteStrategy.from_settings(settings.model)
    encoded = tokenize_split(split, tokenizer, strategy, cache_dir)
    texts = [t for side in ("train", "val", "test") for t in split.frame(side)["text"]]
    return Tokenized(
        encoded=encoded, strategy=strategy.to_dict(), source=source,
        pad_id=int(tokenizer.pad_token_id or 0), data_hash=data_hash(texts),
        seconds=time.perf_counter() - t0,
    )


def finetune(split: Split, tok: Tokenized, settings: Settings, pathspec: str) -> FineTuned:
    """Fine-tune the configured model; return its package bytes and val/test logits."""
    from medtx.modeling import train
    from medtx.modeling.pretrained import load_classifier, load_tokenizer
    from medtx.modeling.package import package_to_bytes, save_package

    t0 = time.perf_counter()
    train.set_seed(settings.train.seed)
    model = load_classifier(tok.source, split.labels)
    enc = tok.encoded
    result = train.finetune(
        model, enc["train"], split.y("train"), enc["val"], split.y("val"), settings.train, tok.pad_id,
    )
    test_logits = train.predict_logits(result.model, enc["test"])
    meta = {
        "long_note": tok.strategy, "data_hash": tok.data_hash, "pathspec": pathspec,
        "base_model": settings.model.name_or_path, "training": {
            "best_epoch": result.best_epoch, "history": result.history,
            "device": result.device, "precision": result.precision,
        },
    }
    with tempfile.TemporaryDirectory(prefix="medtx-pkg-") as tmp:
        pkg = save_package(result.model.to("cpu"), load_tokenizer(tok.source), Path(tmp) / "model", meta)
        blob = package_to_bytes(pkg)
    return FineTuned(
        package=blob, history=result.history, best_epoch=result.best_epoch, device=result.device,
        precision=result.precision, val_logits=result.val_logits, test_logits=test_logits,
        seconds=time.perf_counter() - t0,
    )


def baseline(split: Split, settings: Settings) -> BaselineScores:
    """Fit the TF-IDF + linear floor on the same train split; score val and test."""
    from medtx.modeling.baseline import fit_baseline

    t0 = time.perf_counter()
    model = fit_baseline(list(split.train["text"]), split.y("train"), len(split.labels), seed=settings.train.seed)
    return BaselineScores(
        val_scores=model.decision_scores(list(split.val["text"])),
        test_scores=model.decision_scores(list(split.test["text"])),
        seconds=time.perf_counter() - t0,
        description=repr(model),
    )


def score_system(name: str, val_scores: np.ndarray, test_scores: np.ndarray, split: Split) -> dict:
    """One system's test metrics and calibration on ``split`` (temperature fitted on validation)."""
    from medtx.evaluation.scoring import evaluate_system

    return evaluate_system(name, val_scores, split.y("val"), test_scores, split.y("test"),
                           labels=split.labels, test_all_labels=list(split.test["all_labels"]))


def split_ceiling(split: Split) -> dict:
    """The single-label ceiling of ``split``'s test rows (:func:`medtx.evaluation.metrics.label_ceiling`)."""
    from medtx.evaluation.ceiling import label_ceiling

    return label_ceiling(split.y("test"), list(split.test["group"]), len(split.labels))


def evaluate(split: Split, ft: FineTuned, base: BaselineScores, meta: dict) -> tuple[dict, bytes]:
    """Score model and baseline side by side on test (temperature fitted on validation).

    Returns the ``evaluation.json`` document and the model package updated with its
    temperature, metrics and evaluation (the manifest is rewritten, so it stays verifiable).
    """
    from medtx.evaluation.document import build_evaluation, summarize_for_cli, write_evaluation
    from medtx.modeling.package import add_files, package_from_bytes, package_to_bytes, update_meta

    model_eval = score_system("model", ft.val_logits, ft.test_logits, split)
    base_eval = score_system("baseline", base.val_scores, base.test_scores, split)
    doc = build_evaluation(model_eval, base_eval, meta, split_ceiling(split))
    with tempfile.TemporaryDirectory(prefix="medtx-pkg-") as tmp:
        pkg = package_from_bytes(ft.package, Path(tmp) / "model")
        update_meta(pkg, temperature=model_eval["temperature"], metrics=summarize_for_cli(model_eval))
        add_files(pkg, {"evaluation.json": write_evaluation(doc, Path(tmp) / "evaluation.json")})
        blob = package_to_bytes(pkg)
    log.info(
        "test macro-F1: model %.4f vs baseline %.4f (margin %+.4f)",
        model_eval["macro_f1"], base_eval["macro_f1"], doc["margin"]["macro_f1"],
    )
    return doc, blob


def rescore_champion(package_dir: Path, split: Split) -> dict:
    """The champion's accuracy / macro-F1 on this run's test split (like-for-like comparison).

    Predictions of a label this split does not have count as misses.
    """
    from sklearn.metrics import f1_score

    from medtx.modeling.predictor import Predictor

    predictor = Predictor.load(package_dir)
    probs = predictor.predict_proba(list(split.test["text"]))
    predicted = np.array(predictor.labels, dtype=object)[probs.argmax(axis=1)]
    truth = split.test["label"].to_numpy(dtype=object)
    carried = [set(x) for x in split.test["all_labels"]]
    return {
        "n": int(len(truth)),
        "accuracy": float(np.mean(predicted == truth)),
        "macro_f1": float(f1_score(truth, predicted, labels=split.labels, average="macro", zero_division=0)),
        "any_label_accuracy": float(np.mean([p in c for p, c in zip(predicted, carried)])),
        "labels_match": list(predictor.labels) == list(split.labels),
    }


def register(settings: Settings, package: bytes, evaluation: dict, split: Split,
             lineage: dict, actor: str) -> Registered:
    """Gate the candidate against baseline and champion, then register it with that status."""
    from medtx.evaluation.gate import decide
    from medtx.modeling.package import package_from_bytes
    from medtx.registry import open_registry, run_tags

    registry = open_registry(settings)
    champion = registry.latest("Approved") if settings.gate.compare_to_champion else None
    champion_metrics = None
    with tempfile.TemporaryDirectory(prefix="medtx-reg-") as tmp:
        if champion is not None:
            champ_dir = registry.fetch(champion.version, Path(tmp) / "champion")
            champion_metrics = rescore_champion(champ_dir, split)
        decision = decide(evaluation["model"], evaluation["baseline"], champion_metrics, settings.gate)
        pkg = package_from_bytes(package, Path(tmp) / "candidate")
        version = registry.register(pkg, evaluation, decision.status, decision.reasons, lineage, actor)
    log.info("registered %s version %d as %s", registry.group, version.version, version.status)
    return Registered(
        version=version, decision=decision, champion=champion_metrics,
        champion_version=champion.version if champion else None, tags=run_tags(version),
    )
