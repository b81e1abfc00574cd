"""What the server serves: a model runtime chosen by ``serving.runtime`` and its identity.

The runtime is anything with ``.labels`` and ``.predict_proba(list[str]) -> ndarray``: the fp32
torch :class:`~medtx.modeling.predictor.Predictor`, or the ONNX int8 runtime from
``medtx.modeling.onnx_runtime.load_runtime`` when ``runtime == "onnx-int8"``.
"""
from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from medtx.errors import ConfigError, ModelLoadError

GROUP_ENV, VERSION_ENV = "MEDTX_MODEL_GROUP", "MEDTX_MODEL_VERSION"


@dataclass(frozen=True)
class ModelInfo:
    """The model group and version reported with every prediction (version None when unknown)."""

    group: Optional[str] = None
    version: Optional[int] = None

    def to_dict(self) -> dict:
        return {"model_group": self.group, "model_version": self.version}


def model_info(package_dir: Path, group: Optional[str] = None, version: Optional[int] = None,
               default_group: Optional[str] = None) -> ModelInfo:
    """Group and version: the arguments, else MEDTX_MODEL_GROUP / MEDTX_MODEL_VERSION, else
    ``model_group`` / ``model_version`` in the package's medtx.json, else ``default_group``."""
    try:
        meta = json.loads((Path(package_dir) / "medtx.json").read_text())
    except (OSError, ValueError):
        meta = {}
    group = group or os.environ.get(GROUP_ENV) or meta.get("model_group") or default_group
    raw = version if version is not None else os.environ.get(VERSION_ENV) or meta.get("model_version")
    try:
        version = None if raw in (None, "") else int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"model version must be an integer, got {raw!r}") from None
    return ModelInfo(group, version)


def load_model(package_dir: Path, runtime: str = "torch", batch_size: int = 32,
               threads: Optional[int] = None) -> Any:
    """Load the package at ``package_dir`` with the configured runtime (``threads``: the ONNX
    session's intra-op threads; torch's are set on the inference thread)."""
    package_dir = Path(package_dir)
    if not package_dir.is_dir():
        raise ModelLoadError(f"model folder {package_dir} does not exist")
    if runtime == "torch":
        from medtx.modeling.predictor import Predictor

        return Predictor.load(package_dir, batch_size=batch_size)
    if runtime == "onnx-int8":
        try:
            module = importlib.import_module("medtx.modeling.onnx_runtime")
        except ImportError as exc:
            if getattr(exc, "name", None) != "medtx.modeling.onnx_runtime":
                raise
            raise ConfigError("serving.runtime is 'onnx-int8' but this medtx has no ONNX runtime "
                              "(medtx.modeling.onnx_runtime); use runtime 'torch'") from None
        return module.load_runtime(package_dir, threads=threads, batch_size=batch_size)
    raise ConfigError(f"unknown serving.runtime {runtime!r}; expected 'torch' or 'onnx-int8'")
