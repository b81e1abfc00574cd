"""SageMaker batch transform on a moto server: the job request, model reuse, the waiter, and the
failure path. moto completes every job at once and writes no output, so the failed, stopped and
running states are set on moto's in-process job; ``medtx predict`` picks the path by URI."""
from __future__ import annotations

import re
import urllib.request

import pytest

from medtx.deploy import DeployError
from medtx.deploy.batch import INSTANCE_TYPE, BatchApi, TransformResult, run_transform
from medtx.errors import IngestError
from medtx.registry.base import ModelVersion

BUCKET = "medtx-batch"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/medtx-serve:1"
NOTES = "id,transcription,medical_specialty\n1,\"seen in clinic, stable\",cardiology\n2,follow-up,neurology\n"


@pytest.fixture
def bt_settings(settings, moto_endpoint):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return settings.with_overrides(
        aws={"endpoint_url": moto_endpoint},
        registry={"backend": "sagemaker", "s3_prefix": f"s3://{BUCKET}/registry"},
        deploy={"image": IMAGE, "targets": {
            "staging": {"target": "sagemaker", "serverless_memory_mb": 2048},
            "prod": {"target": "sagemaker", "instance_type": "ml.c5.xlarge", "instance_count": 3}}})


@pytest.fixture
def clients(bt_settings):
    from medtx.aws.session import client

    s3 = client(bt_settings.aws, "s3", max_attempts=1)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="in/notes.csv", Body=NOTES.encode())
    return s3, client(bt_settings.aws, "sagemaker", max_attempts=1)


def version(n=3):
    return ModelVersion("medtx-specialty", n, "Approved", "2024-01-01T00:00:00Z",
                        f"s3://{BUCKET}/registry/medtx-specialty/artifacts/v{n}/model.tar.gz", "")


def make_api(sm, status=None, reason=""):
    """The adapter on moto; with ``status`` each created job is put in that state."""
    class Api(BatchApi):
        def create_transform_job(self, request):
            arn = super().create_transform_job(request)
            if status:
                from moto.sagemaker.models import sagemaker_backends

                account, region = arn.split(":")[4], arn.split(":")[3]
                job = sagemaker_backends[account][region].transform_jobs[request["TransformJobName"]]
                job.transform_job_status, job.failure_reason = status, reason
            return arn
    return Api(sm, waiter_delay_s=1, waiter_attempts=3)


def test_job_request_waiter_and_model_reuse(bt_settings, clients):
    s3, sm = clients
    result = run_transform(bt_settings, version(), f"s3://{BUCKET}/in/notes.csv",
                           f"s3://{BUCKET}/out/", api=make_api(sm), s3=s3)

    assert isinstance(result, TransformResult) and result.status == "Completed"
    assert re.fullmatch(r"medtx-specialty-v3-\d{17}", result.job_name)
    assert result.output_uri == f"s3://{BUCKET}/out/" and result.seconds >= 0
    job = sm.describe_transform_job(TransformJobName=result.job_name)
    assert job["ModelName"] == result.model_name
    assert job["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                        "S3Uri": f"s3://{BUCKET}/in/notes.csv"}},
        "ContentType": "text/csv", "SplitType": "Line"}
    assert job["TransformOutput"] == {"S3OutputPath": f"s3://{BUCKET}/out/",
                                      "AssembleWith": "Line", "Accept": "application/json"}
    assert job["TransformResources"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1}
    assert job["DataProcessing"]["InputFilter"] == "$[1]"  # the transcription column only
    assert job["BatchStrategy"] == "SingleRecord"
    container = sm.describe_model(ModelName=result.model_name)["PrimaryContainer"]
    assert (container["Image"], container["ModelDataUrl"]) == (IMAGE, version().artifact_uri)
    assert container["Environment"]["MEDTX_MODEL_VERSION"] == "3"

    again = run_transform(bt_settings, version(), f"s3://{BUCKET}/in/", f"s3://{BUCKET}/out2/",
                          api=make_api(sm), s3=s3)
    assert again.model_name == result.model_name and again.job_name != result.job_name
    assert len(sm.list_models()["Models"]) == 1


def test_single_column_and_default_instance_type(bt_settings, clients):
    s3, sm = clients
    s3.put_object(Bucket=BUCKET, Key="one/notes.csv", Body=b"text\nfirst note\nsecond note\n")
    settings = bt_settings.with_overrides(deploy={"targets": {
        "staging": {"target": "local"}, "prod": {"target": "local", "port": 8082}}})
    result = run_transform(settings, version(), f"s3://{BUCKET}/one/", f"s3://{BUCKET}/o/",
                           api=make_api(sm), s3=s3)
    job = sm.describe_transform_job(TransformJobName=result.job_name)
    assert job["TransformResources"]["InstanceType"] == INSTANCE_TYPE
    assert not job.get("DataProcessing")


def test_failed_job_names_job_and_failure_reason(bt_settings, clients):
    s3, sm = clients
    api = make_api(sm, "Failed", "ClientError: 400 from /invocations")
    with pytest.raises(DeployError, match=r"batch transform medtx-specialty-v3-\d+ failed: "
                                          r"ClientError: 400 from /invocations"):
        run_transform(bt_settings, version(), f"s3://{BUCKET}/in/", f"s3://{BUCKET}/o/",
                      api=api, s3=s3)


def test_stopped_job_is_an_error_and_no_wait_reports_status(bt_settings, clients):
    s3, sm = clients
    with pytest.raises(DeployError, match=r"medtx-specialty-v3-\d+ stopped"):
        run_transform(bt_settings, version(), f"s3://{BUCKET}/in/", f"s3://{BUCKET}/o/",
                      api=make_api(sm, "Stopped"), s3=s3)
    running = run_transform(bt_settings, version(), f"s3://{BUCKET}/in/", f"s3://{BUCKET}/o/",
                            wait=False, api=make_api(sm, "InProgress"), s3=s3)
    assert running.status == "InProgress"


def test_bad_inputs_fail_before_any_job(bt_settings, clients):
    s3, sm = clients
    s3.put_object(Bucket=BUCKET, Key="bad/notes.csv", Body=b"id,body\n1,x\n")
    api = make_api(sm)
    with pytest.raises(IngestError, match="no 'transcription' or 'text' column"):
        run_transform(bt_settings, version(), f"s3://{BUCKET}/bad/", f"s3://{BUCKET}/o/", api=api, s3=s3)
    with pytest.raises(IngestError, match="no input object"):
        run_transform(bt_settings, version(), f"s3://{BUCKET}/missing/", f"s3://{BUCKET}/o/", api=api, s3=s3)
    with pytest.raises(IngestError, match="output must be an s3:// URI"):
        run_transform(bt_settings, version(), f"s3://{BUCKET}/in/", "out/", api=api, s3=s3)
    with pytest.raises(DeployError, match="deploy.image"):
        run_transform(bt_settings.with_overrides(deploy={"image": None}), version(),
                      f"s3://{BUCKET}/in/", f"s3://{BUCKET}/o/", api=api, s3=s3)
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []


class _Registry:
    def __init__(self):
        self.refs = []

    def resolve(self, ref):
        self.refs.append(ref)
        return version(int(ref))


def test_cli_picks_sagemaker_for_s3_input(bt_settings, clients, monkeypatch, capsys):
    import json

    from medtx.cli import main, predict
    from medtx.registry import factory

    registry = _Registry()
    monkeypatch.setattr(predict, "load_settings_for", lambda args: bt_settings)
    monkeypatch.setattr(factory, "open_registry", lambda settings: registry)
    monkeypatch.setattr(predict, "_load_predictor", lambda *a: pytest.fail("loaded locally"))
    rc = main.main(["predict", "--model", "3", "--input", f"s3://{BUCKET}/in/notes.csv",
                    "--output", f"s3://{BUCKET}/out/", "--json"])
    assert rc == 0 and registry.refs == ["3"]
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "Completed" and out["output_uri"] == f"s3://{BUCKET}/out/"
    assert re.fullmatch(r"medtx-specialty-v3-\d{17}", out["job_name"])


def test_cli_local_paths_and_clear_errors(bt_settings, settings, monkeypatch, capsys, tmp_path):
    from medtx.cli import main, predict

    calls = []
    monkeypatch.setattr(predict, "_load_predictor", lambda ref, s: "predictor")
    monkeypatch.setattr(predict, "_predict_csv", lambda p, s, a: calls.append(a.input) or 0)
    monkeypatch.setattr(predict, "load_settings_for", lambda args: bt_settings)
    local = str(tmp_path / "notes.csv")
    assert main.main(["predict", "--model", "3", "--input", local, "--output", "p.csv"]) == 0
    assert calls == [local]  # a sagemaker registry with a local CSV still predicts locally

    assert main.main(["predict", "--model", "3", "--input", local, "--output", "s3://b/o/"]) == 2
    assert "needs an s3:// --input" in capsys.readouterr().err
    assert main.main(["predict", "--model", "3", "--input", "s3://b/in.csv", "--output", "p.csv"]) == 2
    assert "needs an s3:// --output" in capsys.readouterr().err
    assert main.main(["predict", "--model", "./pkg", "--input", "s3://b/in.csv",
                      "--output", "s3://b/o/"]) == 2
    assert "needs a registry version" in capsys.readouterr().err

    monkeypatch.setattr(predict, "load_settings_for", lambda args: settings)  # local registry
    assert main.main(["predict", "--model", "3", "--input", "s3://b/in.csv", "--output", "s3://b/o/"]) == 2
    assert "registry.backend 'sagemaker'" in capsys.readouterr().err
