"""SageMaker Model Registry backend (boto3), with artifacts and the audit trail in S3.

A medtx group is a SageMaker *model package group*; a version is a versioned *model
package* whose ``ModelApprovalStatus`` is the medtx status. S3 layout under
``registry.s3_prefix`` (``s3://bucket/prefix``)::

    <group>/artifacts/sha256/<digest>/model.tar.gz         package files at the archive root
    <group>/registrations/<id>/evaluation.json             ModelMetrics.ModelQuality.Statistics
    <group>/registrations/<id>/registration.json           lineage, reasons, file hashes
    <group>/audit/<version>/<time>-<uuid>.json             one object per audit event

SageMaker keeps no audit list, hence the append-only audit objects; the service assigns the
version numbers; ``CustomerMetadataProperties`` show lineage and metrics in the console.
"""
from __future__ import annotations

import builtins
import json
import re
import tempfile
import threading
import uuid
from collections.abc import Callable
from datetime import timezone
from pathlib import Path
from typing import Any, Optional

from medtx.aws.calls import aws_call
from medtx.clock import utc_now
from medtx.config import AwsSettings, Settings
from medtx.errors import ConfigError, RegistryError
from medtx.evaluation.document import Evaluation
from medtx.modeling.package import verify_package
from medtx.registry.base import (
    AuditEvent,
    ModelVersion,
    Registry,
    check_status,
    evaluation_document,
    file_listing,
    listing_digest,
    metric_summary,
    missing_version,
    replace_dir,
    transition_allowed,
    verify_listing,
)

_UNSAFE = re.compile(r"[^\w .:/=+\-@]")  # complement of SageMaker's metadata character set


def _call(what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Run one AWS call; botocore failures become RegistryError naming the call."""
    return aws_call(what, RegistryError, fn, **kwargs)


def _clean(text: Any, limit: int) -> str:
    """A metadata key/value in SageMaker's allowed character set and length."""
    return _UNSAFE.sub("_", str(text))[:limit] or "_"


def read_policy(group_arn: str, account_ids: list[str]) -> dict:
    """Read-only access for ``account_ids`` to the group's versioned packages."""
    package_arns = group_arn.replace(":model-package-group/", ":model-package/") + "/*"
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "MedtxCrossAccountRead", "Effect": "Allow",
        "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in account_ids]},
        "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages",
                   "sagemaker:DescribeModelPackageGroup"],
        "Resource": [group_arn, package_arns]}]}


def metadata_properties(registration: dict) -> dict[str, str]:
    """``CustomerMetadataProperties`` for a registration (medtx keys, lineage, metrics; <= 50)."""
    props = {
        "medtx:package_sha256": registration["package_sha256"],
        "medtx:registration": registration["registration_uri"],
        "medtx:artifact_uri": registration["artifact_uri"],
    }
    for key, value in sorted(registration["lineage"].items()):
        props[_clean(f"lineage:{key}", 128)] = _clean(value, 256)
    for key, value in sorted(registration["metrics"].items()):
        props[_clean(f"metric:{key}", 128)] = f"{value:.6g}"
    return dict(list(props.items())[:50])  # the service accepts at most 50 properties


class SageMakerRegistry(Registry):
    """One SageMaker model package group plus its S3 artifacts and audit objects."""

    def __init__(self, aws: AwsSettings, group: str, s3_prefix: str, image_uri: Optional[str] = None,
                 max_attempts: int = 2, account: Optional[str] = None):
        from medtx.aws.s3 import split_s3_uri

        self.aws, self.group, self.image_uri, self.max_attempts = aws, group, image_uri, max_attempts
        self.account = account  # name in aws.accounts; None = the default credentials/role
        if _UNSAFE.search(s3_prefix) or _UNSAFE.search(group):
            raise ConfigError("registry.s3_prefix and registry.group may only use letters, "
                              "digits, spaces and _ . : / = + - @ (SageMaker metadata rules)")
        self.bucket, prefix = split_s3_uri(s3_prefix.rstrip("/"))
        self.base = f"{prefix}/{group}" if prefix else group
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> SageMakerRegistry:
        """Built from ``registry`` (group, s3_prefix), ``aws`` and ``compute.image``."""
        if not settings.registry.s3_prefix:
            raise ConfigError(
                "registry.backend 'sagemaker' needs registry.s3_prefix (s3://bucket/prefix)")
        return cls(settings.aws, settings.registry.group, settings.registry.s3_prefix,
                   image_uri=settings.compute.image, account=settings.registry.account)

    def _client(self, service: str) -> Any:
        with self._lock:  # boto3 sessions are not safe to share while creating clients
            if service not in self._clients:
                from medtx.aws.session import client

                self._clients[service] = client(self.aws, service, account=self.account,
                                                max_attempts=self.max_attempts)
            return self._clients[service]

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _put_json(self, key: str, payload: dict | bytes) -> str:
        body = payload if isinstance(payload, bytes) else json.dumps(
            payload, indent=2, sort_keys=True, allow_nan=False, default=str).encode("utf-8")
        _call("S3 put_object", self._client("s3").put_object, Bucket=self.bucket, Key=key,
              Body=body, ContentType="application/json")
        return self._uri(key)

    def _get_json(self, uri: str) -> dict:
        from medtx.aws.s3 import split_s3_uri

        bucket, key = split_s3_uri(uri)
        obj = _call("S3 get_object", self._client("s3").get_object, Bucket=bucket, Key=key)
        return json.loads(obj["Body"].read())

    def _group_exists(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client("sagemaker").describe_model_package_group(ModelPackageGroupName=self.group)
            return True
        except ClientError as exc:  # a missing group is a ValidationException
            if exc.response.get("Error", {}).get("Code") == "ValidationException":
                return False
            raise RegistryError(f"SageMaker describe_model_package_group failed: {exc}") from None

    def _ensure_group(self) -> None:
        """Create the model package group on first use (a concurrent creator may win)."""
        if self._group_exists():
            return
        try:
            _call("SageMaker create_model_package_group",
                  self._client("sagemaker").create_model_package_group,
                  ModelPackageGroupName=self.group,
                  ModelPackageGroupDescription="medtx model versions")
        except RegistryError:
            if not self._group_exists():
                raise

    def group_arn(self) -> str:
        desc = _call("SageMaker describe_model_package_group",
                     self._client("sagemaker").describe_model_package_group,
                     ModelPackageGroupName=self.group)
        return desc["ModelPackageGroupArn"]

    def share_with(self, account_ids: list[str]) -> dict:
        """Let other accounts read this group's packages (the model-package-group resource
        policy a cross-account DeployFlow relies on); returns the policy put in place."""
        ids = sorted({str(a) for a in account_ids})
        bad = [a for a in ids if not re.fullmatch(r"\d{12}", a)]
        if not ids or bad:
            raise ConfigError(f"share_with needs 12-digit account ids, got {bad or 'none'}")
        self._ensure_group()
        arn = self.group_arn()
        policy = read_policy(arn, ids)
        _call("SageMaker put_model_package_group_policy",
              self._client("sagemaker").put_model_package_group_policy,
              ModelPackageGroupName=self.group, ResourcePolicy=json.dumps(policy))
        return policy

    def _upload_artifact(self, package_dir: Path, digest: str) -> str:
        """Upload ``model.tar.gz`` once per package digest; return its URI."""
        key = f"{self.base}/artifacts/sha256/{digest}/model.tar.gz"
        s3 = self._client("s3")
        listed = _call("S3 list_objects_v2", s3.list_objects_v2, Bucket=self.bucket, Prefix=key)
        if not any(o["Key"] == key for o in listed.get("Contents", [])):
            from medtx.modeling.package import make_tarball

            with tempfile.TemporaryDirectory() as tmp:
                archive = make_tarball(package_dir, Path(tmp) / "model.tar.gz")
                _call("S3 upload", s3.upload_file, Filename=str(archive), Bucket=self.bucket,
                      Key=key)
        return self._uri(key)

    def register(
        self, package_dir: Path, evaluation: Evaluation, status: str, reasons: list[str],
        lineage: dict, actor: str,
    ) -> ModelVersion:
        check_status(status)
        metrics = metric_summary(evaluation)
        package_dir = Path(package_dir)
        verify_package(package_dir)
        listing = file_listing(package_dir)
        digest = listing_digest(listing)
        artifact_uri = self._upload_artifact(package_dir, digest)
        reg_key = f"{self.base}/registrations/{utc_now().replace(':', '')}-{uuid.uuid4().hex[:12]}"
        evaluation_uri = self._put_json(f"{reg_key}/evaluation.json", evaluation_document(evaluation))
        registration = {
            "package_sha256": digest, "files": listing, "artifact_uri": artifact_uri,
            "evaluation_uri": evaluation_uri,
            "registration_uri": self._uri(f"{reg_key}/registration.json"),
            "metrics": metrics, "lineage": dict(lineage),
            "reasons": list(reasons),
        }
        self._put_json(f"{reg_key}/registration.json", registration)
        self._ensure_group()
        request: dict[str, Any] = {
            "ModelPackageGroupName": self.group,
            "ModelPackageDescription": f"medtx package sha256 {digest}",
            "ModelApprovalStatus": status,
            "ModelMetrics": {"ModelQuality": {"Statistics": {
                "ContentType": "application/json", "S3Uri": evaluation_uri}}},
            "CustomerMetadataProperties": metadata_properties(registration),
        }
        if self.image_uri:
            request["InferenceSpecification"] = {
                "Containers": [{"Image": self.image_uri, "ModelDataUrl": artifact_uri}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            }
        sm = self._client("sagemaker")
        arn = _call("SageMaker create_model_package", sm.create_model_package,
                    **request)["ModelPackageArn"]
        desc = self._describe_arn(arn)
        version = int(desc["ModelPackageVersion"])
        reason = "; ".join(reasons) if reasons else "registered"
        self._audit(AuditEvent(version, utc_now(), actor, "register", None, status, reason))
        return self._to_version(desc)

    def _audit(self, event: AuditEvent) -> None:
        stamp = event.at.replace(":", "")
        self._put_json(f"{self.base}/audit/{event.version:06d}/{stamp}-{uuid.uuid4().hex[:8]}.json",
                       event.to_dict())

    def _list_all(self, what: str, service: str, field: str, **kwargs: Any) -> list[dict]:
        """Every item of a paginated listing (botocore failures become RegistryError)."""
        pages = self._client(service).get_paginator(what).paginate(**kwargs)
        return _call(f"{service} {what}", lambda: [x for p in pages for x in p.get(field, [])])

    def _summaries(self, status: Optional[str] = None) -> list[dict]:
        kwargs: dict[str, Any] = {"ModelPackageGroupName": self.group}
        if status:
            kwargs["ModelApprovalStatus"] = status
        found = self._list_all("list_model_packages", "sagemaker", "ModelPackageSummaryList",
                               **kwargs)
        return sorted(found, key=lambda s: int(s.get("ModelPackageVersion", 0)))

    def _describe_arn(self, arn: str) -> dict:
        return _call("SageMaker describe_model_package",
                     self._client("sagemaker").describe_model_package, ModelPackageName=arn)

    def _describe(self, version: int) -> dict:
        for summary in self._summaries():
            if int(summary.get("ModelPackageVersion", -1)) == int(version):
                return self._describe_arn(summary["ModelPackageArn"])
        raise missing_version(version, self.group)

    def _registration(self, desc: dict) -> dict:
        uri = (desc.get("CustomerMetadataProperties") or {}).get("medtx:registration")
        if not uri:
            raise RegistryError(f"version {desc.get('ModelPackageVersion')} of group "
                                f"{self.group!r} was not registered by medtx (no metadata)")
        return self._get_json(uri)

    def _to_version(self, desc: dict) -> ModelVersion:
        reg = self._registration(desc)
        created = desc["CreationTime"].astimezone(timezone.utc)
        return ModelVersion(
            group=self.group, version=int(desc["ModelPackageVersion"]),
            status=desc["ModelApprovalStatus"],
            created_at=created.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            artifact_uri=reg["artifact_uri"], evaluation_uri=reg["evaluation_uri"],
            metrics=reg["metrics"], lineage=reg["lineage"], reasons=reg["reasons"],
            package_sha256=reg["package_sha256"], arn=desc["ModelPackageArn"],
        )

    def get(self, version: int) -> ModelVersion:
        return self._to_version(self._describe(version))

    def list(self, status: Optional[str] = None) -> list[ModelVersion]:
        if status is not None:
            check_status(status)
        return [self._to_version(self._describe_arn(s["ModelPackageArn"]))
                for s in self._summaries(status)]

    def set_status(
        self, version: int, status: str, reason: str, actor: str, force: bool = False
    ) -> ModelVersion:
        check_status(status)
        desc = self._describe(version)
        current = desc["ModelApprovalStatus"]
        action = transition_allowed(current, status, force, reason)
        request: dict[str, Any] = {"ModelPackageArn": desc["ModelPackageArn"],
                                   "ModelApprovalStatus": status,
                                   "ApprovalDescription": reason.strip()[:1024]}
        if desc.get("CustomerMetadataProperties"):
            request["CustomerMetadataProperties"] = desc["CustomerMetadataProperties"]
        sm = self._client("sagemaker")
        _call("SageMaker update_model_package", sm.update_model_package, **request)
        self._audit(AuditEvent(int(version), utc_now(), actor, action, current, status,
                               reason.strip()))
        return self.get(version)

    def history(self, version: int) -> builtins.list[AuditEvent]:
        self._describe(version)
        objects = self._list_all("list_objects_v2", "s3", "Contents", Bucket=self.bucket,
                                 Prefix=f"{self.base}/audit/{int(version):06d}/")
        return [AuditEvent(**self._get_json(self._uri(o["Key"])))
                for o in sorted(objects, key=lambda o: o["Key"])]

    def fetch(self, version: int, dest: Path) -> Path:
        from medtx.aws.s3 import split_s3_uri
        from medtx.modeling.package import extract_tarball

        reg = self._registration(self._describe(version))
        dest = Path(dest)
        if dest.exists() and any(dest.iterdir()):
            verify_listing(dest, reg["files"])
            return dest
        bucket, key = split_s3_uri(reg["artifact_uri"])
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            archive = Path(tmp) / "model.tar.gz"
            _call("S3 download", self._client("s3").download_file, Bucket=bucket, Key=key,
                  Filename=str(archive))
            unpacked = Path(tmp) / "package"
            extract_tarball(archive, unpacked)  # safe paths only; checks manifest.json
            verify_listing(unpacked, reg["files"])  # exactly the registered bytes
            replace_dir(unpacked, dest)
        return dest
