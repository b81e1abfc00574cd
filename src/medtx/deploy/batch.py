"""Batch prediction on SageMaker: one batch transform job over a CSV (or a prefix of CSVs) in S3.

:func:`run_transform` creates (or reuses) a SageMaker model for the registry version (the serve
image ``deploy.image``, ModelDataUrl = the version's ``model.tar.gz``), then a transform job:

* input: ``S3Prefix`` data source, ``text/csv`` split by line, one request per line
  (``SingleRecord``, so a request never exceeds ``serving.max_notes``); when the CSV has more
  than one column, ``DataProcessing.InputFilter`` sends only the text column (the
  ``data.text_field`` or ``text`` column of the first object's header);
* output: ``S3OutputPath`` = the output URI, ``AssembleWith Line``, ``Accept application/json``:
  one JSON document (the server's ``{"predictions": [...]}``) per input line, in input order. The
  first line answers the header row. Notes holding line breaks are split by SageMaker; keep one
  note per line;
* resources: the ``prod`` SageMaker target's ``instance_type`` when ``deploy.targets`` has one,
  else :data:`INSTANCE_TYPE`; :data:`INSTANCE_COUNT` instances.

Calls go through :class:`BatchApi` (the endpoint adapter plus the transform calls) in the
registry's account; a failed or stopped job raises DeployError naming the job and its
FailureReason.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from medtx.config import Settings
from medtx.deploy.base import DeployError
from medtx.deploy.sagemaker_api import SageMakerApi, _aws_call, _describe
from medtx.errors import IngestError
from medtx.registry import ModelVersion

INSTANCE_TYPE = "ml.m5.xlarge"  # when deploy.targets has no sagemaker "prod" target
INSTANCE_COUNT = 1
HEADER_BYTES = 65536  # read of the input's first object to find the text column
TAG_VERSION, TAG_DATA = "medtx:version", "medtx:model-data"


@dataclass(frozen=True)
class TransformResult:
    """One batch transform job: its name, final (or current) status, output and duration."""

    job_name: str
    status: str
    output_uri: str
    seconds: float
    model_name: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class BatchApi(SageMakerApi):
    """The SageMaker adapter plus the calls batch transform makes."""

    def describe_model(self, name: str) -> Optional[dict]:
        return _describe("describe_model", self.sm.describe_model, ModelName=name)

    def create_transform_job(self, request: dict) -> str:
        return _aws_call("create_transform_job", self.sm.create_transform_job,
                         **request)["TransformJobArn"]

    def describe_transform_job(self, name: str) -> dict:
        return _aws_call("describe_transform_job", self.sm.describe_transform_job,
                         TransformJobName=name)

    def wait_transform(self, name: str) -> None:
        """``transform_job_completed_or_stopped``; the waiter fails on a Failed job."""
        _aws_call("waiter transform_job_completed_or_stopped",
                  self.sm.get_waiter("transform_job_completed_or_stopped").wait,
                  TransformJobName=name, WaiterConfig=self.waiter)


def _base(group: str) -> str:
    """``medtx-<group>`` in SageMaker's name characters (no doubled ``medtx-``)."""
    name = re.sub(r"[^a-zA-Z0-9-]", "-", group).strip("-") or "model"
    return name if name.startswith("medtx-") else f"medtx-{name}"


def _name(group: str, version: int, suffix: str) -> str:
    """``medtx-<group>-v<N>-<suffix>`` cut to SageMaker's 63 characters."""
    tail = f"-v{version}-{suffix}"
    return _base(group)[:63 - len(tail)].rstrip("-") + tail


def job_name(group: str, version: int, now: Optional[datetime] = None) -> str:
    """``medtx-<group>-v<N>-<UTC yyyymmddHHMMSS + milliseconds>``."""
    now = now or datetime.now(timezone.utc)
    return _name(group, version, now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}")


def model_name(group: str, version: int, image: str, model_data_url: str) -> str:
    """The batch model of a version: the same image and model data give the same name."""
    digest = hashlib.sha256(f"{image}\n{model_data_url}".encode()).hexdigest()[:8]
    return _name(group, version, f"batch-{digest}")


def resources(settings: Settings) -> dict:
    """TransformResources: the prod SageMaker target's instance type, else INSTANCE_TYPE."""
    prod = settings.deploy.targets.get("prod")
    kind = prod.instance_type if prod is not None and prod.target == "sagemaker" else INSTANCE_TYPE
    return {"InstanceType": kind, "InstanceCount": INSTANCE_COUNT}


def _first_object(s3: Any, uri: str) -> tuple[str, str]:
    from medtx.aws.s3 import split_s3_uri

    bucket, key = split_s3_uri(uri)
    out = _aws_call("list_objects_v2", s3.list_objects_v2, Bucket=bucket, Prefix=key, MaxKeys=50)
    keys = [o["Key"] for o in out.get("Contents", []) if not o["Key"].endswith("/")]
    if not keys:
        raise IngestError(f"no input object under {uri}")
    return bucket, key if key in keys else sorted(keys)[0]


def input_filter(s3: Any, uri: str, text_field: str) -> Optional[str]:
    """``$[i]`` for the text column of the first input object's header; None for one column."""
    bucket, key = _first_object(s3, uri)
    head = _aws_call("get_object", s3.get_object, Bucket=bucket, Key=key,
                     Range=f"bytes=0-{HEADER_BYTES - 1}")["Body"].read()
    line = head.decode("utf-8-sig", errors="replace").splitlines()[:1]
    header = next(csv.reader(io.StringIO(line[0])), []) if line else []
    column = next((c for c in (text_field, "text") if c in header), None)
    if column is None:
        raise IngestError(f"s3://{bucket}/{key} has no {text_field!r} or 'text' column "
                          f"(columns: {header[:8]})")
    return None if len(header) == 1 else f"$[{header.index(column)}]"


def transform_request(settings: Settings, version: ModelVersion, name: str, model: str, input_uri: str,
                      output_uri: str, column_filter: Optional[str]) -> dict:
    """The create_transform_job request."""
    max_mb = max(1, int(settings.serving.max_payload_bytes) // (1024 * 1024))
    request: dict[str, Any] = {
        "TransformJobName": name, "ModelName": model, "BatchStrategy": "SingleRecord",
        "MaxPayloadInMB": max_mb,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                           "S3Uri": input_uri}},
                           "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": output_uri, "AssembleWith": "Line",
                            "Accept": "application/json"},
        "TransformResources": resources(settings),
        "Tags": [{"Key": TAG_VERSION, "Value": str(version.version)},
                 {"Key": TAG_DATA, "Value": version.artifact_uri}]}
    if column_filter:
        request["DataProcessing"] = {"InputFilter": column_filter, "JoinSource": "None",
                                     "OutputFilter": "$"}
    return request


def _api(settings: Settings) -> BatchApi:
    from medtx.aws.session import client

    sm = client(settings.aws, "sagemaker", settings.registry.account, 3)
    return BatchApi(sm, waiter_delay_s=30, waiter_attempts=480)  # up to 4 hours


def _s3(settings: Settings) -> Any:
    from medtx.aws.session import client

    return client(settings.aws, "s3", settings.registry.account, 3)


def ensure_model(api: BatchApi, settings: Settings, version: ModelVersion, role: Optional[str] = None) -> str:
    """The version's batch model, created unless one with the same image and data exists."""
    if not settings.deploy.image:
        raise DeployError("deploy.image (the serve image) is required for SageMaker batch transform")
    if not str(version.artifact_uri or "").startswith("s3://"):
        raise DeployError(f"version {version.version}: batch transform needs the version's "
                          "model.tar.gz in S3 (ModelVersion.artifact_uri)")
    name = model_name(version.group, version.version, settings.deploy.image, version.artifact_uri)
    if api.describe_model(name) is None:
        api.create_model(name, settings.deploy.image, version.artifact_uri, role,
                         {"MEDTX_MODEL_VERSION": str(version.version),
                          "MEDTX_MODEL_GROUP": version.group})
    return name


def run_transform(settings: Settings, version: ModelVersion, input_uri: str, output_uri: str, wait: bool = True,
                  *, api: Optional[BatchApi] = None, s3: Any = None,
                  role: Optional[str] = None) -> TransformResult:
    """Run (and with ``wait``, wait for) a batch transform of ``input_uri`` into ``output_uri``
    with registry version ``version``; DeployError naming the job when it fails or stops."""
    for what, uri in (("input", input_uri), ("output", output_uri)):
        if not str(uri).startswith("s3://") or len(str(uri)) <= 5:
            raise IngestError(f"batch transform {what} must be an s3:// URI, got {uri!r}")
    api = api or _api(settings)
    column_filter = input_filter(s3 or _s3(settings), input_uri, settings.data.text_field)
    model = ensure_model(api, settings, version, role or settings.deploy.execution_role)
    name = job_name(version.group, version.version)
    start = time.monotonic()
    api.create_transform_job(transform_request(settings, version, name, model, input_uri,
                                               output_uri, column_filter))
    if wait:
        try:
            api.wait_transform(name)
        except DeployError:
            desc = api.describe_transform_job(name)
            if desc.get("TransformJobStatus") != "Failed":
                raise
            raise DeployError(f"batch transform {name} failed: "
                              f"{desc.get('FailureReason') or 'no FailureReason given'}") from None
    desc = api.describe_transform_job(name)
    status = desc.get("TransformJobStatus", "")
    if status in ("Failed", "Stopped"):
        raise DeployError(f"batch transform {name} {status.lower()}: "
                          f"{desc.get('FailureReason') or 'no FailureReason given'}")
    out = desc.get("TransformOutput", {}).get("S3OutputPath", output_uri)
    return TransformResult(name, status, out, round(time.monotonic() - start, 3), model)
