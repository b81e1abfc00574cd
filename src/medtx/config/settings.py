"""Typed settings parsed from a Metaflow ``Config`` file (``configs/<env>.json``).

Every section is a frozen dataclass. Unknown keys, missing required keys and values of the
wrong type raise :class:`~medtx.errors.ConfigError` naming the offending key, so a typo in a
config file fails before any work starts.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from medtx.errors import ConfigError

_REQUIRED = dataclasses.MISSING
#: the shortest token window a model may use (special tokens included)
MIN_MAX_LENGTH = 16


@dataclass(frozen=True)
class DataSettings:
    path: Optional[str] = None  # local path or s3://bucket/key; None = built-in demo set
    text_field: str = "transcription"
    label_field: str = "medical_specialty"
    min_chars: int = 50  # shorter notes are quarantined
    max_chars: int = 200_000  # longer notes are quarantined (a 5 MB note is not a note)
    max_encoding_damage_frac: float = 0.01  # table fails above this fraction of damaged rows
    leak_guard_frac: float = 0.3  # table fails if this fraction of texts carry their label up front
    demo_notes: int = 600  # size of the built-in demo set (>= 600)


@dataclass(frozen=True)
class LabelSettings:
    preset: str = "spec12"  # all40 | spec12 | custom
    keep: Optional[list] = None  # custom: labels to keep (None = all)
    drop: list = field(default_factory=list)
    merge: dict = field(default_factory=dict)  # {"from": "to"}
    min_samples: int = 0  # classes with fewer distinct notes are dropped (counted)
    strict: bool = False  # unknown labels fail the run instead of being excluded


@dataclass(frozen=True)
class SplitSettings:
    test_size: float = 0.15
    val_size: float = 0.15
    seed: int = 42


@dataclass(frozen=True)
class ModelSettings:
    name_or_path: str = "bundled:all-MiniLM-L6-v2"  # HF id, local dir, or bundled:<name>
    max_length: int = 256  # tokens per window, incl. special tokens
    long_note: Literal["head_tail", "head", "chunks"] = "head_tail"
    head_tokens: int = 64  # head_tail: tokens kept from the start; the rest come from the end
    chunk_stride: int = 64  # chunks: overlap between windows
    max_chunks: int = 8  # chunks: windows per note at most


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 8e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    class_weights: Literal["none", "balanced", "sqrt"] = "balanced"
    patience: int = 2  # early stopping on validation macro-F1
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto = bf16 on a capable GPU
    compile: bool = False
    seed: int = 42
    max_train_notes: Optional[int] = None  # cap for quick local runs (stratified subsample)
    # chunks: train on every window of a note ("all") or on one window per note, drawn afresh
    # each epoch ("one_per_note": an epoch costs one pass over the notes, not over the windows)
    window_sampling: Literal["all", "one_per_note"] = "all"


@dataclass(frozen=True)
class ComputeSettings:
    backend: Literal["local", "batch", "kubernetes"] = "local"
    gpu: int = 0
    cpu: int = 2
    memory: int = 8000  # MiB
    queue: Optional[str] = None  # AWS Batch job queue
    image: Optional[str] = None  # container image for remote steps


@dataclass(frozen=True)
class GateSettings:
    min_macro_f1: float = 0.0
    min_accuracy: float = 0.0
    min_margin_over_baseline: float = 0.0  # candidate macro-F1 - baseline macro-F1 must be >= this
    champion_tolerance: float = 0.0  # candidate may trail the champion by at most this
    compare_to_champion: bool = True
    approval: Literal["auto", "manual"] = "auto"


@dataclass(frozen=True)
class RegistrySettings:
    backend: Literal["local", "sagemaker"] = "local"
    path: str = ".medtx/registry"  # local backend: SQLite file + artifact dir live here
    group: str = "medtx-specialty"  # model package group
    s3_prefix: Optional[str] = None  # sagemaker backend: where artifacts and evaluations go


@dataclass(frozen=True)
class AwsSettings:
    region: str = "us-east-1"
    endpoint_url: Optional[str] = None  # e.g. http://127.0.0.1:5000 for moto or MinIO
    role_arn: Optional[str] = None  # cross-account role to assume
    account_id: Optional[str] = None
    s3_root: Optional[str] = None


@dataclass(frozen=True)
class Settings:
    env: str
    data: DataSettings = field(default_factory=DataSettings)
    labels: LabelSettings = field(default_factory=LabelSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    compute: ComputeSettings = field(default_factory=ComputeSettings)
    gate: GateSettings = field(default_factory=GateSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    aws: AwsSettings = field(default_factory=AwsSettings)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def with_overrides(self, **sections: dict) -> "Settings":
        """Return a copy with some keys of some sections replaced, re-validated.

        ``settings.with_overrides(data={"path": "x.csv"}, labels={"preset": "all40"})``
        """
        raw = self.to_dict()
        for name, values in sections.items():
            if name not in raw or not isinstance(raw[name], dict):
                raise ConfigError(f"unknown config section {name!r}")
            raw[name].update(values)
        return parse_settings(raw)


def _check_type(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(value, inner[0], key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"config key {key!r} must be one of {list(args)}, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {key!r} must be a number, got {type(value).__name__}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {key!r} must be an integer, got {type(value).__name__}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r} must be a string, got {type(value).__name__}")
        return value
    if tp is list or origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r} must be a list, got {type(value).__name__}")
        return list(value)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} must be an object, got {type(value).__name__}")
        return dict(value)
    return value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"config section {prefix or 'root'!r} must be an object")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        where = f" in section {prefix!r}" if prefix else ""
        raise ConfigError(
            f"unknown config key(s) {unknown}{where}; allowed: {sorted(fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in raw:
            if f.default is _REQUIRED and f.default_factory is _REQUIRED:  # type: ignore[misc]
                raise ConfigError(f"missing required config key {key!r}")
            continue
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, raw[name], key)
        else:
            kwargs[name] = _check_type(raw[name], tp, key)
    return cls(**kwargs)


def parse_settings(raw: dict) -> Settings:
    """Validate a config dict and return typed :class:`Settings`."""
    settings = _build(Settings, raw, "")
    _check_values(settings)
    return settings


def _check_values(s: Settings) -> None:
    if not 0 < s.split.test_size < 1 or not 0 < s.split.val_size < 1:
        raise ConfigError("split.test_size and split.val_size must be between 0 and 1")
    if s.split.test_size + s.split.val_size >= 0.9:
        raise ConfigError("split.test_size + split.val_size must leave at least 10% for training")
    if s.model.max_length < MIN_MAX_LENGTH:
        raise ConfigError(f"model.max_length must be at least {MIN_MAX_LENGTH} tokens")
    if s.model.long_note == "head_tail" and not 0 <= s.model.head_tokens < s.model.max_length - 2:
        raise ConfigError("model.head_tokens must be >= 0 and smaller than model.max_length - 2")
    if s.train.epochs < 1 or s.train.batch_size < 1:
        raise ConfigError("train.epochs and train.batch_size must be >= 1")
    if s.data.min_chars < 1 or s.data.max_chars <= s.data.min_chars:
        raise ConfigError("data.min_chars must be >= 1 and below data.max_chars")
    if s.compute.backend == "batch" and not s.compute.queue:
        raise ConfigError("compute.backend 'batch' needs compute.queue (an AWS Batch job queue)")


def parse_config(text: str) -> dict:
    """Metaflow ``Config(parser=...)`` hook: validate JSON text, return the normalised dict."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config is not valid JSON: {exc}") from None
    return parse_settings(raw).to_dict()


def load_settings(path: str | Path) -> Settings:
    """Read and validate a config file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    return parse_settings(json.loads(p.read_text(encoding="utf-8")))


def settings_from(cfg: Any) -> Settings:
    """Typed settings from a Metaflow config value (a ConfigValue/dict) or a Settings."""
    if isinstance(cfg, Settings):
        return cfg
    if hasattr(cfg, "to_dict"):
        cfg = cfg.to_dict()
    return parse_settings(_plain(cfg))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
