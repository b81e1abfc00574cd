"""The fine-tune step as a SageMaker training job (``compute.backend: sagemaker``).

The step uploads the split (parquet) and the settings to ``<compute.s3_prefix>/<job>/input/``,
starts a job through the SageMaker SDK's ``ModelTrainer`` in ``compute.image`` (the image of
``containers/train``), waits for it, and pulls the result back: the same :class:`FineTuned`
the local step returns. In the container ``python -m medtx.stages.training_job`` reads the input
channel, tokenizes and fine-tunes exactly as the local step does, and writes the package, the
logits and the history to ``/opt/ml/model`` (SageMaker uploads it as ``model.tar.gz``).
Spot capacity and checkpoints come from config; a failed or stopped job fails the step with
SageMaker's reason.
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from medtx.config import Settings
from medtx.data.split import SIDES, Split
from medtx.errors import ConfigError, TrainingError
from medtx.stages.finetuning import FineTuned, finetune_local, tokenize

log = logging.getLogger("medtx.stages.training_job")
CHANNEL = "medtx"
RESULT_FILES = ("package.tar.gz", "logits.npz", "result.json")


# -- what travels to the job and back ------------------------------------------------------
def write_inputs(split: Split, settings: Settings, folder: Path) -> Path:
    """The job's input channel: one parquet file per split side, the split's labels and seed,
    and the settings (the job trains locally in its container)."""
    folder.mkdir(parents=True, exist_ok=True)
    for side in SIDES:
        split.frame(side).to_parquet(folder / f"{side}.parquet", index=False)
    (folder / "split.json").write_text(json.dumps(
        {"labels": list(split.labels), "seed": split.seed, "overlap": split.overlap}))
    raw = settings.with_overrides(compute={"backend": "local"}).to_dict()
    (folder / "settings.json").write_text(json.dumps(raw))
    return folder


def read_inputs(folder: Path) -> tuple[Split, Settings]:
    meta = json.loads((folder / "split.json").read_text())
    frames = {side: pd.read_parquet(folder / f"{side}.parquet") for side in SIDES}
    split = Split(**frames, labels=list(meta["labels"]), seed=int(meta["seed"]),
                  overlap=dict(meta.get("overlap") or {}))
    return split, Settings.from_raw(json.loads((folder / "settings.json").read_text()))


def write_result(ft: FineTuned, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.tar.gz").write_bytes(ft.package)
    np.savez(folder / "logits.npz", val=ft.val_logits, test=ft.test_logits)
    (folder / "result.json").write_text(json.dumps(
        {"history": list(ft.history), "best_epoch": ft.best_epoch, "device": ft.device,
         "precision": ft.precision, "seconds": ft.seconds}, default=float))


def read_result(folder: Path, seconds: float) -> FineTuned:
    """The step's FineTuned, read back from a job's output."""
    missing = [f for f in RESULT_FILES if not (folder / f).is_file()]
    if missing:
        raise TrainingError(f"training job output lacks {missing}: not written by medtx's "
                            "training entry point")
    doc = json.loads((folder / "result.json").read_text())
    with np.load(folder / "logits.npz", allow_pickle=False) as logits:
        val, test = logits["val"], logits["test"]
    return FineTuned(package=(folder / "package.tar.gz").read_bytes(), history=tuple(doc["history"]),
                     best_epoch=int(doc["best_epoch"]), device=f"sagemaker:{doc['device']}",
                     precision=doc["precision"], val_logits=val, test_logits=test, seconds=seconds)


# -- the step side ---------------------------------------------------------------------------
def job_name(pathspec: str) -> str:
    """``medtx-train-<run id>``: the SDK appends a timestamp to this base name."""
    run = re.sub(r"[^A-Za-z0-9-]", "-", (pathspec.split("/") + ["", ""])[1])[:24] or "run"
    return f"medtx-train-{run}"


def job_root(settings: Settings, name: str, now: Optional[datetime] = None) -> str:
    """``<compute.s3_prefix or aws.s3_root/training-jobs>/<name>-<utc stamp>``: one per attempt."""
    base = settings.compute.s3_prefix
    if not base:
        if not settings.aws.s3_root:
            raise ConfigError("a SageMaker training job needs compute.s3_prefix (or aws.s3_root)")
        base = f"{settings.aws.s3_root.rstrip('/')}/training-jobs"
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%f")
    return f"{base.rstrip('/')}/{name}-{stamp}"


def trainer_spec(settings: Settings, name: str, root: str) -> dict:
    """Keyword arguments of ``sagemaker.train.ModelTrainer`` for this job (no session)."""
    from sagemaker.core.training.configs import CheckpointConfig, Compute, OutputDataConfig, StoppingCondition

    c = settings.compute
    spec = dict(
        training_image=c.image, role=c.role, base_job_name=name,
        compute=Compute(instance_type=c.instance_type, instance_count=1,
                        volume_size_in_gb=c.volume_gb, enable_managed_spot_training=c.spot),
        stopping_condition=StoppingCondition(
            max_runtime_in_seconds=c.max_run_s,
            **({"max_wait_time_in_seconds": c.max_wait_s} if c.spot else {})),
        output_data_config=OutputDataConfig(s3_output_path=f"{root}/output"),
        environment={"HF_HUB_OFFLINE": "1", "MEDTX_JOB": name},
    )
    if c.checkpoints:
        spec["checkpoint_config"] = CheckpointConfig(s3_uri=f"{root}/checkpoints",
                                                     local_path="/opt/ml/checkpoints")
    return spec


def _sdk_session(settings: Settings, bucket: str) -> Any:
    """The SDK's session on medtx's boto3 session, with the SDK's telemetry off: medtx makes no
    calls its users did not configure."""
    from sagemaker.core.helper.session_helper import Session

    from medtx.aws.session import client, session

    return Session(boto_session=session(settings.aws), default_bucket=bucket,
                   sagemaker_client=client(settings.aws, "sagemaker", max_attempts=5),
                   sagemaker_config={"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {
                       "Modules": {"TelemetryOptOut": True}}}})


def wait_for(describe: Callable[[], dict], poll_s: float = 30.0, timeout_s: float = 7 * 86_400,
             sleep: Callable[[float], None] = time.sleep) -> dict:
    """Poll ``describe()`` (a DescribeTrainingJob answer) until the job ends; Completed returns
    it, Failed or Stopped raise TrainingError with SageMaker's reason."""
    waited = 0.0
    while True:
        desc = describe()
        status = desc.get("TrainingJobStatus")
        if status == "Completed":
            return desc
        if status in ("Failed", "Stopped"):
            raise TrainingError(f"training job {desc.get('TrainingJobName')} {status.lower()}: "
                                f"{desc.get('FailureReason') or desc.get('SecondaryStatus') or 'no reason given'}")
        if waited >= timeout_s:
            raise TrainingError(f"training job {desc.get('TrainingJobName')} still {status} after "
                                f"{timeout_s:.0f} s")
        sleep(poll_s)
        waited += poll_s


def finetune_remote(split: Split, settings: Settings, pathspec: str,
                    trainer_factory: Optional[Callable[..., Any]] = None, poll_s: float = 30.0) -> FineTuned:
    """Run the fine-tune as a SageMaker training job; the FineTuned it wrote."""
    from medtx.aws.calls import aws_call
    from medtx.aws.s3 import split_s3_uri
    from medtx.aws.session import client

    t0 = time.perf_counter()
    name = job_name(pathspec)
    root = job_root(settings, name)
    bucket, prefix = split_s3_uri(root)
    s3 = client(settings.aws, "s3", max_attempts=5)
    with tempfile.TemporaryDirectory(prefix="medtx-job-") as tmp:
        folder = write_inputs(split, settings, Path(tmp) / "input")
        for path in sorted(folder.iterdir()):
            aws_call("S3 upload of the job input", TrainingError, s3.upload_file,
                     Filename=str(path), Bucket=bucket, Key=f"{prefix}/input/{path.name}",
                     ExtraArgs={"ServerSideEncryption": "AES256"})
    if trainer_factory is None:
        from sagemaker.train import ModelTrainer

        trainer_factory = ModelTrainer
    from sagemaker.core.training.configs import InputData

    trainer = trainer_factory(sagemaker_session=_sdk_session(settings, bucket),
                              **trainer_spec(settings, name, root))
    trainer.train(input_data_config=[InputData(channel_name=CHANNEL, data_source=f"{root}/input/")],
                  wait=False, logs=False)
    job = trainer._latest_training_job.training_job_name
    log.info("training job %s started (%s, spot %s)", job, settings.compute.instance_type,
             settings.compute.spot)
    sm = client(settings.aws, "sagemaker", max_attempts=5)
    desc = wait_for(lambda: aws_call("SageMaker describe_training_job", TrainingError,
                                     sm.describe_training_job, TrainingJobName=job), poll_s)
    artifact = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts") or f"{root}/output/{job}/output/model.tar.gz"
    a_bucket, a_key = split_s3_uri(artifact)
    blob = aws_call(f"training job {job} completed but its output {artifact} cannot be read: "
                    "S3 get_object", TrainingError, s3.get_object, Bucket=a_bucket, Key=a_key)["Body"].read()
    with tempfile.TemporaryDirectory(prefix="medtx-job-out-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name.lstrip("./") in RESULT_FILES and m.isfile()]
            tar.extractall(tmp, members=members, filter="data")
        return read_result(Path(tmp), time.perf_counter() - t0)


# -- the container side ----------------------------------------------------------------------
def job_folders() -> tuple[Path, Path]:
    """The input channel and the model folder of a SageMaker training container (or
    MEDTX_JOB_INPUT / MEDTX_JOB_OUTPUT)."""
    return (Path(os.environ.get("MEDTX_JOB_INPUT", f"/opt/ml/input/data/{CHANNEL}")),
            Path(os.environ.get("MEDTX_JOB_OUTPUT", "/opt/ml/model")))


def main() -> int:
    """A SageMaker training job's entry point (``python -m medtx.stages.training_job`` in
    containers/train): the input channel in, the step's FineTuned files out."""
    logging.basicConfig(level=logging.INFO)
    inputs, output = job_folders()
    split, settings = read_inputs(inputs)
    ft = finetune_local(split, tokenize(split, settings, None), settings,
                        os.environ.get("MEDTX_JOB", "sagemaker"))
    write_result(ft, output)
    log.info("fine-tuned: best epoch %d of %d", ft.best_epoch, len(ft.history))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
