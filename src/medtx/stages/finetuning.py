"""The tokenize and fine-tune work of TrainFlow, wherever the fine-tune runs: in the step
(``compute.backend`` local, Batch, Kubernetes) or in a SageMaker training job's container
(:mod:`medtx.stages.training_job`), which calls the same functions on the same inputs.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from medtx.config import Settings
from medtx.data.split import Split
from medtx.errors import TrainingError
from medtx.modeling.features import Encoded


@dataclass(frozen=True)
class Tokenized:
    encoded: dict[str, Encoded]  # side -> token windows
    strategy: dict  # the long-note strategy (LongNoteStrategy.to_dict)
    source: str  # resolved model/tokenizer location
    pad_id: int
    data_hash: str
    seconds: float


@dataclass(frozen=True)
class FineTuned:
    package: bytes  # the best epoch's model package as tar.gz bytes
    history: tuple[dict, ...]
    best_epoch: int
    device: str
    precision: str
    val_logits: np.ndarray
    test_logits: np.ndarray
    seconds: float


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


def finetune_local(split: Split, tok: Tokenized, settings: Settings, pathspec: str) -> FineTuned:
    """Fine-tune the configured model in this process; its package bytes and val/test logits."""
    from medtx.modeling import train
    from medtx.modeling.inference import predict_logits
    from medtx.modeling.package import add_files, package_to_bytes, save_package
    from medtx.modeling.pretrained import load_classifier, load_tokenizer
    from medtx.modeling.runtime import set_seed
    from medtx.modeling.targets import note_targets
    from medtx.modeling.wide import wide_inputs

    t0 = time.perf_counter()
    set_seed(settings.train.seed)
    model = load_classifier(tok.source, split.labels, pooling=settings.model.pooling)
    enc = tok.encoded
    rows, targets = note_targets(split.train, split.labels, settings.train.targets)
    wide = wide_inputs(split, rows, settings, targets) if settings.model.wide != "none" else None
    result = train.finetune(
        model, enc["train"].select(rows), targets, enc["val"], split.y("val"), settings.train,
        tok.pad_id, wide=None if wide is None else wide[1],
    )
    test_logits = predict_logits(result.model, enc["test"])
    meta = {
        "long_note": tok.strategy, "data_hash": tok.data_hash, "pathspec": pathspec,
        "base_model": settings.model.name_or_path, "training": {
            "best_epoch": result.best_epoch, "history": result.history,
            "device": result.device, "precision": result.precision,
            "targets": settings.train.targets, "train_notes": int(len(rows)),
        },
    }
    branch = None
    if wide is not None:
        from medtx.modeling.wide import FILES, KIND, WideBranch

        if result.wide_head is None:
            raise TrainingError("the wide branch was trained but no wide head came back")
        branch = WideBranch(wide[0], *result.wide_head)
        test_logits = test_logits + branch.logits_from(wide[2])
        meta["wide"] = {"kind": KIND, "files": list(FILES), "folds": settings.model.wide_folds}
    with tempfile.TemporaryDirectory(prefix="medtx-pkg-") as tmp:
        pkg = save_package(result.model.to("cpu"), load_tokenizer(tok.source), Path(tmp) / "model", meta)
        if branch is not None:
            add_files(pkg, branch.files())
        blob = package_to_bytes(pkg)
    return FineTuned(
        package=blob, history=tuple(result.history), best_epoch=result.best_epoch,
        device=result.device, precision=result.precision, val_logits=result.val_logits,
        test_logits=test_logits, seconds=time.perf_counter() - t0,
    )
