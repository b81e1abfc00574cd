"""Settings of a registered model's life after training: the inference server, DeployFlow's
stages and hand-offs, and MonitorFlow (sections ``serving``, ``deploy``, ``monitor``)."""
from __future__ import annotations

from dataclasses import field
from typing import Annotated, Literal, Optional

from annotated_types import Ge, Le
from pydantic import Strict

from medtx.config.fields import (
    Bool,
    Count,
    Fraction,
    Int,
    NonNegFloat,
    NonNegInt,
    Percent,
    Port,
    PosFloat,
    Share,
    Str,
    StrList,
    section,
)


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
    # /docs, /redoc and /openapi.json: for a developer's own `medtx serve`; deployed stages and
    # the SageMaker container always run without them (only /ping and /invocations, as SageMaker)
    debug_routes: Bool = False


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
