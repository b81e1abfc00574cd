"""The int8 ONNX Runtime path for a model package: same interface as :class:`Predictor`.

``serving.runtime == "onnx-int8"`` serves through :func:`load_runtime`. The package is verified
against its manifest (the ONNX file included), notes are checked with the Predictor's
:func:`~medtx.modeling.predictor.check_notes`, encoded with the package's long-note strategy,
run longest window first in dynamically padded batches, and chunk windows are mean-pooled per
note, exactly as :func:`medtx.modeling.inference.predict_logits` does. Inference itself runs
no torch code (the export does; ``medtx.modeling.predictor`` still imports torch).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from medtx.errors import IntegrityError, ModelLoadError
from medtx.modeling.features import LongNoteStrategy
from medtx.modeling.inference import pool_windows
from medtx.modeling.onnx_export import INFO_FILE, INPUT_NAMES, INT8_FILE, export_onnx, has_current_export
from medtx.modeling.package import MANIFEST_FILE, verify_package
from medtx.modeling.predictor import NoteClassifier

__all__ = ["OnnxPredictor", "export_onnx", "load_runtime", "default_threads"]

log = logging.getLogger("medtx.modeling.onnx_runtime")
PAD_MULTIPLE = 8  # batch widths are rounded up to this, like WindowData


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelLoadError("serving.runtime 'onnx-int8' needs onnxruntime: "
                             "pip install onnxruntime (or set serving.runtime to 'torch')") \
            from None
    return onnxruntime


def default_threads() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def make_session(model: Path | bytes, threads: int | None = None) -> Any:
    """A CPU InferenceSession (from a path or the model's bytes): ``threads`` intra-op
    threads, one inter-op thread, sequential execution."""
    ort = _import_ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or default_threads())
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(model if isinstance(model, bytes) else str(model),
                                    sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph kinds
        raise ModelLoadError(f"cannot open the ONNX model ({type(exc).__name__}); "
                             "re-export it with export_onnx") from None


class OnnxPredictor(NoteClassifier):
    """Classify notes with an ONNX Runtime session, the package tokenizer and its metadata."""

    runtime = "onnx-int8"

    def __init__(self, session: Any, tokenizer: Any, meta: dict, pad_id: int = 0,
                 batch_size: int = 32, wide: Any = None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.session, self.tokenizer, self.meta, self.wide = session, tokenizer, dict(meta), wide
        self.strategy = LongNoteStrategy.from_dict(meta["long_note"])
        self.temperature = float(meta.get("temperature", 1.0))
        self.labels: list[str] = list(meta["labels"])
        self.batch_size = int(batch_size)
        self.pad_id = int(pad_id)
        names = [i.name for i in session.get_inputs()]
        if sorted(names) != sorted(INPUT_NAMES):
            raise ModelLoadError(f"the ONNX model takes inputs {names}, expected "
                                 f"{list(INPUT_NAMES)}; re-export it with export_onnx")

    @property
    def threads(self) -> int | None:
        """Intra-op threads of the session (None when the session does not say)."""
        try:
            return int(self.session.get_session_options().intra_op_num_threads)
        except AttributeError:
            return None

    def _window_logits(self, windows: list[list[int]]) -> np.ndarray:
        """Logits of token windows, longest first in padded batches of ``batch_size``."""
        lengths = np.array([len(w) for w in windows], dtype=np.int64)
        cap = int(lengths.max(initial=1))
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(windows), len(self.labels)), dtype=np.float32)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            longest = int(lengths[idx].max())
            width = min(-(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, cap)
            ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
            for row, w in enumerate(idx):
                ids[row, :lengths[w]] = windows[w]
            mask = (np.arange(width)[None, :] < lengths[idx][:, None]).astype(np.int64)
            (logits,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            out[idx] = logits
        return out

    def _batch_logits(self, enc: Any) -> np.ndarray:
        if enc.n_notes == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return pool_windows(enc.note_index, self._window_logits(enc.input_ids), enc.n_notes)


def _load_tokenizer(root: Path) -> Any:
    from transformers import AutoTokenizer

    from medtx.modeling.pretrained import error_summary

    try:
        return AutoTokenizer.from_pretrained(root, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the tokenizer of {root}: {error_summary(exc)}") \
            from None


def load_runtime(package_dir: Path | str, threads: int | None = None, batch_size: int = 32,
                 export_missing: bool = True) -> OnnxPredictor:
    """Verify a package and serve its int8 ONNX export on CPU.

    A package without a current export is exported first (``export_missing``; the folder
    must be writable), else a :class:`ModelLoadError` says how to add one. ``threads``:
    intra-op threads (default: the cores this process may use).
    """
    _import_ort()
    root = Path(package_dir)
    meta = verify_package(root)
    if not has_current_export(root):
        if not export_missing:
            raise ModelLoadError(
                f"model package {root} has no current int8 ONNX export ({INT8_FILE}); add one "
                "with medtx.modeling.onnx_runtime.export_onnx(package_dir) on a writable copy, "
                "or set serving.runtime to 'torch'")
        if not os.access(root, os.W_OK):
            raise ModelLoadError(
                f"model package {root} has no current int8 ONNX export and is read-only; add "
                "one with export_onnx(package_dir) on a writable copy before registering it, "
                "or set serving.runtime to 'torch'")
        export_onnx(root)
        meta = verify_package(root)
    listed = json.loads((root / MANIFEST_FILE).read_text())["files"]
    if INT8_FILE not in listed or INFO_FILE not in listed:
        raise IntegrityError(f"model package {root}: {INT8_FILE} is not in the manifest")
    blob = (root / INT8_FILE).read_bytes()  # the bytes checked are the bytes loaded
    if hashlib.sha256(blob).hexdigest() != listed[INT8_FILE]:
        raise IntegrityError(f"model package {root}: {INT8_FILE} does not match its sha256 in "
                             "the manifest (changed or corrupted); re-export or re-download")
    config = json.loads((root / "config.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    if labels != meta["labels"]:
        raise IntegrityError(f"model package {root}: config.json labels differ from medtx.json")
    session = make_session(blob, threads)
    from medtx.modeling.wide import load_wide

    return OnnxPredictor(session, _load_tokenizer(root), meta,
                         pad_id=int(config.get("pad_token_id") or 0), batch_size=batch_size,
                         wide=load_wide(root, meta))
