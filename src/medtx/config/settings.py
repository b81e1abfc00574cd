"""Typed settings: one frozen dataclass per section of a ``configs/<env>.json`` file.

The recipe, compute, gate, registry, project and AWS sections live here; the sections of a
model's life after training (serving, deploy, monitor) in :mod:`medtx.config.operations`, and
the field types and the ``section`` decorator both use in :mod:`medtx.config.fields`.

The classes are pydantic dataclasses (extra keys forbidden, scalars strict: no ``"3"`` -> 3, a
bool is not a number, an int is fine for a float), so constructing one validates its types and
the bounds of single values (``Gt``/``Ge``/``Lt``/``Le`` in the annotations). Parsing a whole
file, with messages that name the dotted key and the value checks that span fields, lives in
:mod:`medtx.config.parse`.

The defaults of the recipe sections (data, labels, split, model, train, baseline) are the
shipped recipe of ``configs/base.json``, so a config or a test that leaves a key out gets what
every environment runs (``tests/unit/test_config.py`` holds them equal).
"""
from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Annotated, Any, Literal, Optional

from annotated_types import Ge, Gt, Le, Lt
from pydantic import Strict, TypeAdapter, ValidationError

from medtx.config.fields import (
    Bool,
    Count,
    Float,
    Fraction,
    Int,
    NonNegFloat,
    NonNegInt,
    PosFloat,
    Share,
    Str,
    StrList,
    StrMap,
    section,
)
from medtx.config.operations import (
    DeploySettings,
    MonitorSettings,
    ServingSettings,
)
from medtx.config.validation import MIN_MAX_LENGTH, check_values, describe
from medtx.errors import ConfigError


@section
class DataSettings:
    path: Optional[Str] = None  # local path or s3://bucket/key; None = built-in demo set
    text_field: Str = "transcription"
    label_field: Str = "medical_specialty"
    min_chars: Count = 50  # shorter notes are quarantined
    max_chars: Count = 200_000  # longer notes are quarantined (a 5 MB note is not a note)
    max_encoding_damage_frac: Share = 0.01  # table fails above this fraction of damaged rows
    leak_guard_frac: Share = 0.3  # table fails if this fraction of texts carry their label up front
    demo_notes: Count = 600  # size of the built-in demo set (>= 600)


#: the label presets a config may name (medtx.data.labels builds each of them)
LabelPreset = Literal["all40", "spec12", "custom"]


@section
class LabelSettings:
    preset: LabelPreset = "spec12"
    keep: Optional[StrList] = None  # custom: labels to keep (None = all)
    drop: StrList = field(default_factory=list)
    merge: StrMap = field(default_factory=dict)  # {"from": "to"}
    min_samples: NonNegInt = 0  # classes with fewer distinct notes are dropped (counted)
    strict: Bool = False  # unknown labels fail the run instead of being excluded


@section
class SplitSettings:
    test_size: Fraction = 0.15
    val_size: Fraction = 0.15
    seed: Int = 42


@section
class ModelSettings:
    name_or_path: Str = "bundled:all-MiniLM-L6-v2"  # HF id, local dir, or bundled:<name>
    max_length: Annotated[Int, Ge(MIN_MAX_LENGTH)] = 128  # tokens per window, incl. special tokens
    long_note: Literal["head_tail", "head", "chunks"] = "head_tail"
    head_tokens: NonNegInt = 48  # head_tail: tokens kept from the start; the rest come from the end
    chunk_stride: NonNegInt = 64  # chunks: overlap between windows
    max_chunks: Count = 8  # chunks: windows per note at most
    # "model": the checkpoint's own classification head ([CLS] pooler for BERT); "mean": a linear
    # head on the masked mean of the token states (what sentence encoders were trained for)
    pooling: Literal["model", "mean"] = "mean"
    # wide-and-deep: "baseline_scores" joins the TF-IDF + LinearSVC class scores (out-of-fold on
    # the training notes) with the transformer before the linear classification head
    wide: Literal["none", "baseline_scores"] = "baseline_scores"
    wide_folds: Annotated[Int, Ge(2)] = 5  # out-of-fold fits of the lexical branch (grouped by note)


@section
class TrainSettings:
    epochs: Count = 6
    batch_size: Count = 16
    learning_rate: PosFloat = 3e-5
    weight_decay: NonNegFloat = 0.01
    warmup_ratio: Annotated[float, Strict(), Ge(0), Lt(1)] = 0.1
    class_weights: Literal["none", "balanced", "sqrt"] = "balanced"
    patience: Count = 2  # early stopping on validation macro-F1
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto = bf16 on a capable GPU
    compile: Bool = False
    seed: Int = 42
    max_train_notes: Optional[Count] = None  # cap for quick local runs (stratified subsample)
    # chunks: train on every window of a note ("all") or on one window per note, drawn afresh
    # each epoch ("one_per_note": an epoch costs one pass over the notes, not over the windows)
    window_sampling: Literal["all", "one_per_note", "pooled"] = "all"
    # "pooled" (chunks): every window of a note in one batch, logits mean-pooled before the loss
    # targets: "single" trains each row towards its one label; "soft" trains each distinct note
    # towards the set of specialties it is filed under (uniform over the set); "multilabel" trains
    # each distinct note on every class independently (sigmoid per class: is it in the note's set?)
    targets: Literal["single", "soft", "multilabel"] = "soft"
    # layer-wise learning-rate decay in (0, 1] (1.0 = one rate for every layer)
    layer_decay: Annotated[float, Strict(), Gt(0), Le(1)] = 1.0
    # classifier head (and wide branch); None = learning_rate
    head_learning_rate: Optional[PosFloat] = 1e-3


@section
class BaselineSettings:
    """TF-IDF and SVM knobs of the baseline; the defaults are the measured best on the real data."""

    ngram_max: Count = 1  # word n-grams 1..ngram_max
    min_df: Count = 2  # ignore terms in fewer notes than this
    max_features: Optional[Count] = 200_000
    C: PosFloat = 1.0  # inverse regularisation of the SVM
    class_weight: Optional[Literal["balanced"]] = "balanced"  # "balanced" or None
    sublinear_tf: Bool = True  # 1 + log(tf): long notes do not swamp short ones


@section
class ComputeSettings:
    backend: Literal["local", "batch", "kubernetes", "sagemaker"] = "local"
    gpu: NonNegInt = 0
    cpu: Count = 2
    memory: Count = 8000  # MiB
    queue: Optional[Str] = None  # AWS Batch job queue
    image: Optional[Str] = None  # container image for remote steps
    # backend "sagemaker": the fine-tune runs as a SageMaker training job in `image`
    instance_type: Str = "ml.g5.2xlarge"
    volume_gb: Count = 100
    role: Optional[Str] = None  # the training job's execution role ARN
    s3_prefix: Optional[Str] = None  # job inputs/outputs; None = <aws.s3_root>/training-jobs
    spot: Bool = False  # managed spot training (needs max_wait_s >= max_run_s)
    max_run_s: Count = 86_400
    max_wait_s: Optional[Count] = None  # spot: the longest wait for capacity plus the run
    checkpoints: Bool = True  # /opt/ml/checkpoints synced to <s3_prefix>/<job>/checkpoints


@section
class GateSettings:
    min_macro_f1: Share = 0.0
    min_accuracy: Share = 0.0
    min_margin_over_baseline: Float = 0.0  # candidate macro-F1 - baseline macro-F1 must be >= this
    champion_tolerance: NonNegFloat = 0.0  # candidate may trail the champion by at most this
    compare_to_champion: Bool = True
    approval: Literal["auto", "manual"] = "auto"


@section
class RegistrySettings:
    backend: Literal["local", "sagemaker"] = "local"
    path: Str = ".medtx/registry"  # local backend: SQLite file + artifact dir live here
    group: Str = "medtx-specialty"  # model package group
    s3_prefix: Optional[Str] = None  # sagemaker backend: where artifacts and evaluations go
    account: Optional[Str] = None  # name in aws.accounts; None = the default credentials/role


@section
class ProjectSettings:
    """``@project`` of every flow: flows of one project and branch see each other's runs and
    events. A branch per account: ``branch`` gives ``test.<branch>``, ``production`` ``prod``
    (or ``prod.<branch>``); neither gives ``user.<name>`` (a laptop)."""

    name: Str = "medtx"
    branch: Optional[Str] = None
    production: Bool = False


@section
class AccountSettings:
    """One AWS account medtx works in, reached by assuming ``role_arn``."""

    account_id: Str  # 12 digits
    role_arn: Str  # arn:aws:iam::<account_id>:role/<name>
    region: Optional[Str] = None  # None = aws.region
    external_id: Optional[Str] = None  # sts:ExternalId, when the role's trust policy asks for one


@section
class AwsSettings:
    region: Str = "us-east-1"
    endpoint_url: Optional[Str] = None  # e.g. http://127.0.0.1:5000 for moto or MinIO
    role_arn: Optional[Str] = None  # role of the default account (assumed when set)
    account_id: Optional[Str] = None
    s3_root: Optional[Str] = None
    # named accounts (pipeline, deploy target, ...): sessions are per account
    accounts: Annotated[dict[Str, AccountSettings], Strict()] = field(default_factory=dict)

    def get_account(self, name: str) -> AccountSettings:
        """The account called ``name``; ConfigError naming it and the known names."""
        if name not in self.accounts:
            raise ConfigError(f"unknown AWS account {name!r}; aws.accounts has "
                              f"{sorted(self.accounts) or 'no accounts'}")
        return self.accounts[name]


@section
class Settings:
    env: Str
    data: DataSettings = field(default_factory=DataSettings)
    labels: LabelSettings = field(default_factory=LabelSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    compute: ComputeSettings = field(default_factory=ComputeSettings)
    gate: GateSettings = field(default_factory=GateSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    serving: ServingSettings = field(default_factory=ServingSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    project: ProjectSettings = field(default_factory=ProjectSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def with_overrides(self, **sections: dict) -> Settings:
        """Return a copy with some keys of some sections replaced, re-validated.

        ``settings.with_overrides(data={"path": "x.csv"}, labels={"preset": "all40"})``
        """
        raw = self.to_dict()
        for name, values in sections.items():
            if name not in raw or not isinstance(raw[name], dict):
                raise ConfigError(f"unknown config section {name!r}")
            raw[name].update(values)
        return Settings.from_raw(raw)

    @classmethod
    def from_raw(cls, raw: Any) -> Settings:
        """Validate a config dict: types (pydantic), then the checks that span fields."""
        if not isinstance(raw, (dict, Settings)):
            raise ConfigError(f"config must be a JSON object, got {type(raw).__name__}")
        try:
            settings = _adapter().validate_python(raw)
        except ValidationError as exc:
            raise ConfigError(describe(exc, cls)) from None
        check_values(settings)
        return settings


_ADAPTER: list = []


def _adapter() -> TypeAdapter:
    """The pydantic adapter over :class:`Settings` (built once, on first use)."""
    if not _ADAPTER:
        _ADAPTER.append(TypeAdapter(Settings))
    return _ADAPTER[0]
