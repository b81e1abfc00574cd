"""Typed settings: one frozen dataclass per section of a ``configs/<env>.json`` file.

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
import json
from dataclasses import field
from typing import Annotated, Any, Literal, Optional, TypeVar

from annotated_types import Ge, Gt, Le, Lt
from pydantic import ConfigDict, Strict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass
from typing_extensions import dataclass_transform  # 3.10 has no typing.dataclass_transform

from medtx.config.validation import MIN_MAX_LENGTH, check_values, describe
from medtx.errors import ConfigError

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # strict float still takes an int (3 -> 3.0), never a bool
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
StrList = Annotated[list[Str], Strict()]
StrMap = Annotated[dict[Str, Str], Strict()]
Count = Annotated[int, Strict(), Ge(1)]  # 1, 2, ...
NonNegInt = Annotated[int, Strict(), Ge(0)]
PosFloat = Annotated[float, Strict(), Gt(0)]
NonNegFloat = Annotated[float, Strict(), Ge(0)]
Fraction = Annotated[float, Strict(), Gt(0), Lt(1)]  # open interval (0, 1)
Share = Annotated[float, Strict(), Ge(0), Le(1)]  # closed interval [0, 1]
Percent = Annotated[float, Strict(), Ge(0), Le(100)]
Port = Annotated[int, Strict(), Ge(1), Le(65535)]

_T = TypeVar("_T")


def _stable_hash(self: Any) -> int:
    """Hash of the section's content (sections hold lists and dicts, so not field-wise)."""
    return hash(json.dumps(dataclasses.asdict(self), sort_keys=True, default=str))


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def section(cls: type[_T]) -> type[_T]:
    """A frozen, validating config section, hashable by content and picklable."""
    made: Any = dataclass(frozen=True, config=ConfigDict(extra="forbid"))(cls)
    made.__hash__ = _stable_hash
    return made


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


@section
class LabelSettings:
    preset: Literal["all40", "spec12", "custom"] = "spec12"
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
class ServingSettings:
    """The inference server (``medtx serve``, the serve container, local endpoints)."""

    host: Str = "127.0.0.1"  # the container entry point binds 0.0.0.0
    port: Port = 8080  # SAGEMAKER_BIND_TO_PORT wins where set
    token_env: Str = "MEDTX_SERVE_TOKEN"  # bearer token required when this variable is set
    runtime: Literal["torch", "onnx-int8"] = "torch"  # fp32 torch is always available
    threads: Optional[Count] = None  # torch threads of the inference thread (None = all cores)
    max_payload_bytes: Count = 4_000_000  # SageMaker serverless accepts at most 4 MB
    max_notes: Count = 256  # notes per request
    max_note_chars: Count = 200_000
    note_overflow: Literal["reject", "truncate"] = "reject"
    top_k: Count = 3  # probabilities returned per note unless the request asks otherwise
    batch_max_notes: Count = 32  # micro-batch size across concurrent requests
    batch_wait_ms: NonNegFloat = 5.0  # longest wait for a micro-batch to fill
    capture_to: Optional[Str] = ".medtx/capture"  # folder or s3:// prefix; None = no capture
    capture_percent: Percent = 100.0  # share of requests captured
    endpoint_name: Str = "medtx-local"  # capture path: <prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh
    variant_name: Str = "AllTraffic"


@section
class DeployStageSettings:
    """One deploy stage (staging, prod): where the model goes and who approves it."""

    target: Literal["local", "sagemaker"] = "local"
    approval: Literal["auto", "manual"] = "auto"
    port: Port = 8081  # local: the stable port clients use
    account: Optional[Str] = None  # sagemaker: name in aws.accounts
    endpoint_name: Optional[Str] = None  # sagemaker: default medtx-<stage>
    serverless_memory_mb: Optional[Int] = None  # sagemaker: serverless when set (1024..6144)
    serverless_max_concurrency: Annotated[Int, Ge(1), Le(200)] = 5
    instance_type: Str = "ml.m5.large"  # sagemaker: real-time variant
    instance_count: Count = 1
    capture_percent: Percent = 100.0  # sagemaker real-time: DataCaptureConfig sampling
    traffic: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = "ALL_AT_ONCE"
    canary_percent: Int = 10  # CANARY: share first shifted; LINEAR: step size
    wait_s: NonNegInt = 300  # between traffic shifts
    alarms: StrList = field(default_factory=list)  # CloudWatch alarms that roll back


@section
class HandoffTarget:
    """An account whose DeployFlow is told about each Approved version (Argo Events webhook)."""

    webhook_url: Str  # https://.../<event source path> of that account's Argo Events webhook
    event: Str = "medtx.model-approved"
    token_env: Optional[Str] = None  # variable holding the webhook's bearer token
    attempts: Count = 3  # tries before the hand-off fails the step


@section
class DeploySettings:
    """DeployFlow: which stages, in which order, and what a deploy must pass."""

    stages: StrList = field(default_factory=lambda: ["staging", "prod"])
    targets: Annotated[dict[Str, DeployStageSettings], Strict()] = field(
        default_factory=lambda: {"staging": DeployStageSettings(port=8081),
                                 "prod": DeployStageSettings(port=8082)})
    schedule: Optional[Str] = None  # cron for scheduled deploys (Argo Workflows)
    image: Optional[Str] = None  # serve image for SageMaker endpoints
    execution_role: Optional[Str] = None  # IAM role SageMaker models run as (ExecutionRoleArn)
    smoke_file: Optional[Str] = None  # labelled notes CSV; default: the producing run's test split
    smoke_notes: Count = 64
    smoke_tolerance: Share = 0.1  # smoke accuracy may trail the evaluated accuracy by this much
    latency_budget_ms: PosFloat = 500.0  # p95 of single-note smoke requests
    # cross-account: accounts told of every Approved version, and the event this one waits for
    handoff_to: Annotated[dict[Str, HandoffTarget], Strict()] = field(default_factory=dict)
    handoff_event: Optional[Str] = None  # DeployFlow runs on it with the package ARN


@section
class ProjectSettings:
    """``@project`` of every flow: flows of one project and branch see each other's runs and
    events. A branch per account: ``branch`` gives ``test.<branch>``, ``production`` ``prod``
    (or ``prod.<branch>``); neither gives ``user.<name>`` (a laptop)."""

    name: Str = "medtx"
    branch: Optional[Str] = None
    production: Bool = False


@section
class MonitorSettings:
    """MonitorFlow: which endpoint's capture, how a window is judged, and when to retrain."""

    stage: Str = "prod"  # the deploy stage whose endpoint is watched
    capture_from: Optional[Str] = None  # folder or s3:// prefix; None = serving.capture_to
    endpoint_name: Optional[Str] = None  # None = medtx-<stage> (the deploy default)
    variant_name: Optional[Str] = None  # None = serving.variant_name
    account: Optional[Str] = None  # aws.accounts entry whose session reads an s3:// capture
    state_dir: Str = ".medtx/monitor"  # reader offsets, window history, imported labels
    schedule: Optional[Str] = "0 6 * * *"  # cron for MonitorFlow on Argo Workflows
    window_hours: PosFloat = 24.0  # first window (later ones start where the last judged one ended)
    min_notes: Annotated[Int, Ge(2)] = 200  # fewer notes in a window: "not enough traffic", no verdict
    alpha: Fraction = 0.05  # false discovery rate across a window's signals
    permutations: Annotated[Int, Ge(19)] = 500  # MMD permutation test
    reference_sides: StrList = field(default_factory=lambda: ["val", "test"])  # held-out notes
    reference_max_notes: Annotated[Int, Ge(20)] = 2000  # reference sample kept in the package (stratified cut)
    reducer_dims: Annotated[Int, Ge(2)] = 64  # TF-IDF -> SVD dimensions of the text representation
    bootstrap: Annotated[Int, Ge(100)] = 1000  # resamples for the quality confidence intervals
    min_labels: Count = 50  # labelled notes a window needs before its quality counts
    retrain_on: StrList = field(default_factory=lambda: [
        "input_mmd", "input_classifier", "predicted_label", "confidence"])
    retrain_windows: Count = 2  # drift in this many judged windows in a row fires the rule
    quality_floor: Optional[Fraction] = None  # macro-F1 whose CI lies wholly below fires the rule
    retrain_event: Str = "medtx.retrain"  # Argo event TrainFlow is triggered by
    retrain_schedule: Optional[Str] = None  # cron: TrainFlow also retrains on a calendar
    labels_to_training: Bool = False  # labelled captured notes join the next training set
    recent_windows: Count = 12  # windows shown on the card


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
