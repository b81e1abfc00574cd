"""compute.backend sagemaker on a moto server: the fine-tune step starts a SageMaker training job
through the SDK's ModelTrainer with the configured spec, and pulls its result back. moto runs
nothing, so the test plays the job: it runs the container's entry point
(``python -m medtx.stages.training_job``) on the uploaded input and puts the archive where
SageMaker would."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import boto3
import numpy as np
import pytest

from medtx.errors import TrainingError

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/medtx-train:1.0"
ROLE = "arn:aws:iam::123456789012:role/medtx-dev-train"


@pytest.fixture
def job_settings(moto_endpoint, s3_bucket, settings, tmp_path, monkeypatch, tiny_bert,
                 word_tokenizer, save_hf_folder):
    from medtx.data.demo import make_demo_notes

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)  # the SDK's own clients
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    words = sorted({w for t in make_demo_notes(300, seed=3)["transcription"].dropna()
                    for w in t.lower().replace(",", " ").replace(".", " ").split()})[:3000]
    tok = word_tokenizer(words, tmp_path / "tiny")
    model_dir = save_hf_folder(tiny_bert(tok, seed=0, max_positions=128), tok, tmp_path / "tiny")
    return settings.with_overrides(
        data={"demo_notes": 300}, model={"name_or_path": str(model_dir), "max_length": 64, "head_tokens": 16},
        train={"epochs": 1, "batch_size": 16, "learning_rate": 5e-4},
        compute={"backend": "sagemaker", "image": IMAGE, "role": ROLE, "spot": True,
                 "max_run_s": 3600, "max_wait_s": 7200, "instance_type": "ml.g5.xlarge",
                 "s3_prefix": f"s3://{s3_bucket}/training-jobs"},
        aws={"endpoint_url": moto_endpoint})


def _playing_the_job(tmp_path, monkeypatch):
    """A ModelTrainer whose job 'runs': the real entry point on the real input channel."""
    from sagemaker.train import ModelTrainer

    from medtx.stages import training_job

    class Trainer(ModelTrainer):
        def train(self, input_data_config=None, wait=True, logs=True, dry_run=False):
            super().train(input_data_config=input_data_config, wait=wait, logs=logs)
            s3 = boto3.client("s3")
            job = self._latest_training_job.training_job_name
            desc = boto3.client("sagemaker").describe_training_job(TrainingJobName=job)
            uri = desc["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
            bucket, prefix = uri[5:].split("/", 1)
            inputs, outputs = tmp_path / "job-input", tmp_path / "job-model"
            inputs.mkdir()
            for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
                s3.download_file(bucket, obj["Key"], str(inputs / Path(obj["Key"]).name))
            monkeypatch.setenv("MEDTX_JOB_INPUT", str(inputs))
            monkeypatch.setenv("MEDTX_JOB_OUTPUT", str(outputs))
            assert training_job.main() == 0
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                for path in outputs.iterdir():
                    tar.add(path, arcname=path.name)
            art = desc["ModelArtifacts"]["S3ModelArtifacts"]
            a_bucket, a_key = art[5:].split("/", 1)
            s3.put_object(Bucket=a_bucket, Key=a_key, Body=buf.getvalue())

    return Trainer


def test_the_fine_tune_runs_as_a_training_job_with_the_configured_spec(job_settings, tmp_path, monkeypatch):
    from medtx.data.prepare import prepare
    from medtx.modeling.package import package_from_bytes, read_meta
    from medtx.stages import training_job

    split = prepare(job_settings).split
    ft = training_job.finetune_remote(split, job_settings, "TrainFlow/77/finetune/5",
                                      trainer_factory=_playing_the_job(tmp_path, monkeypatch), poll_s=0)
    assert ft.val_logits.shape == (len(split.val), len(split.labels))
    assert ft.test_logits.shape == (len(split.test), len(split.labels))
    assert np.isfinite(ft.test_logits).all() and ft.device.startswith("sagemaker:")
    meta = read_meta(package_from_bytes(ft.package, tmp_path / "pkg"))
    assert meta["labels"] == list(split.labels)

    sm = boto3.client("sagemaker")
    (summary,) = sm.list_training_jobs(NameContains="medtx-train-77")["TrainingJobSummaries"]
    desc = sm.describe_training_job(TrainingJobName=summary["TrainingJobName"])
    assert desc["AlgorithmSpecification"]["TrainingImage"] == IMAGE and desc["RoleArn"] == ROLE
    assert desc["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert desc["EnableManagedSpotTraining"] is True
    assert desc["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    root = desc["CheckpointConfig"]["S3Uri"].rsplit("/", 1)[0]
    assert desc["CheckpointConfig"]["S3Uri"] == f"{root}/checkpoints"
    assert desc["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == f"{root}/input/"
    assert desc["OutputDataConfig"]["S3OutputPath"] == f"{root}/output"


def test_a_job_without_its_output_fails_the_step(job_settings, tmp_path):
    from medtx.data.prepare import prepare
    from medtx.stages import training_job

    with pytest.raises(TrainingError, match="completed but its output .* cannot be read"):
        training_job.finetune_remote(prepare(job_settings).split, job_settings,
                                     "TrainFlow/78/finetune/5", poll_s=0)


def test_failed_and_stopped_jobs_raise_with_sagemaker_s_reason():
    from medtx.stages.training_job import wait_for

    answers = iter([{"TrainingJobName": "j", "TrainingJobStatus": "InProgress"},
                    {"TrainingJobName": "j", "TrainingJobStatus": "Failed",
                     "FailureReason": "CapacityError: no spot capacity"}])
    with pytest.raises(TrainingError, match="training job j failed: CapacityError: no spot capacity"):
        wait_for(lambda: next(answers), poll_s=0, sleep=lambda s: None)
    with pytest.raises(TrainingError, match="stopped"):
        wait_for(lambda: {"TrainingJobName": "j", "TrainingJobStatus": "Stopped"}, poll_s=0)
    with pytest.raises(TrainingError, match="still InProgress"):
        wait_for(lambda: {"TrainingJobName": "j", "TrainingJobStatus": "InProgress"}, poll_s=1,
                 timeout_s=2, sleep=lambda s: None)
