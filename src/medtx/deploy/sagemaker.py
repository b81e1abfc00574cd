"""SageMaker endpoints with plain boto3 behind a thin adapter (:class:`SageMakerApi`).

A deploy creates a model (``deploy.image``, ModelDataUrl = the version's ``model.tar.gz``) and an
endpoint config (serverless when ``serverless_memory_mb`` is set, with no data capture; else
instances with DataCaptureConfig), then creates the endpoint or updates it with the blue/green
guardrail policy and the configured alarms, and waits with boto3 waiters. The new config keeps
the serving variant's name. Each config is tagged with the version, its ModelDataUrl and the
config it replaced, so :meth:`SageMakerEndpoints.rollback` can update back to that one.
``update_endpoint`` is a single adapter method (moto lacks it).
"""
from __future__ import annotations

import math
import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Optional

from medtx.config import Settings
from medtx.deploy.base import (
    READY,
    SERVING,
    STOPPED,
    Candidate,
    DeployError,
    Deployment,
    DeployResult,
)
from medtx.deploy.sagemaker_api import RuntimeTransport, SageMakerApi
from medtx.deploy.smoke import SmokeSpec, Transport, run_smoke
from medtx.serving.contract import stage_endpoint

TAG_VERSION, TAG_DATA, TAG_PREVIOUS, TAG_STAGE = (
    "medtx:version", "medtx:model-data", "medtx:previous-config", "medtx:stage")
__all__ = ["SageMakerEndpoints", "SageMakerApi", "RuntimeTransport", "deployment_config",
           "production_variant", "capture_config"]


def deployment_config(stage_cfg: Any) -> dict:
    """``DeploymentConfig`` for update_endpoint: blue/green traffic shifting plus alarms."""
    kind, wait, pct = stage_cfg.traffic, stage_cfg.wait_s, stage_cfg.canary_percent
    routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": wait}
    steps = 1
    if kind == "CANARY":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": pct}
        steps = 2
    elif kind == "LINEAR":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": pct}
        steps = math.ceil(100 / max(pct, 1))
    termination = min(wait, 3600)
    policy = {"TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": termination,
              "MaximumExecutionTimeoutInSeconds":
                  min(28800, max(600, steps * wait + termination + 1800))}
    out: dict[str, Any] = {"BlueGreenUpdatePolicy": policy}
    if stage_cfg.alarms:
        out["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in stage_cfg.alarms]}
    return out


def production_variant(stage_cfg: Any, model: str, variant: str) -> dict:
    """The single variant: serverless when ``serverless_memory_mb`` is set, else instances."""
    if stage_cfg.serverless_memory_mb:
        return {"VariantName": variant, "ModelName": model, "ServerlessConfig": {
            "MemorySizeInMB": stage_cfg.serverless_memory_mb,
            "MaxConcurrency": stage_cfg.serverless_max_concurrency}}
    return {"VariantName": variant, "ModelName": model, "InstanceType": stage_cfg.instance_type,
            "InitialInstanceCount": stage_cfg.instance_count, "InitialVariantWeight": 1.0}


def capture_config(stage_cfg: Any, destination: Optional[str]) -> Optional[dict]:
    """DataCaptureConfig for a real-time variant (None for serverless or 0 %)."""
    if stage_cfg.serverless_memory_mb or stage_cfg.capture_percent <= 0:
        return None
    if not destination or not destination.startswith("s3://"):
        raise DeployError("data capture needs an s3:// destination (serving.capture_to, "
                          "aws.s3_root or registry.s3_prefix)")
    return {"EnableCapture": True, "InitialSamplingPercentage": int(round(stage_cfg.capture_percent)),
            "DestinationS3Uri": destination,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json",
                                                              "application/jsonlines"],
                                         "CsvContentTypes": ["text/csv"]}}


def _iso(value: Any) -> str:
    return value.astimezone(timezone.utc).isoformat() if hasattr(value, "astimezone") else str(value or "")


class SageMakerEndpoints:
    """The SageMaker target: one endpoint per stage (``endpoint_name`` or ``medtx-<stage>``)."""

    target = "sagemaker"

    def __init__(self, stages: dict[str, Any], image: Optional[str],
                 api_for: Callable[[str], SageMakerApi], capture_to: Optional[str] = None,
                 variant_name: str = "AllTraffic", role: Optional[str] = None,
                 transport_for: Optional[Callable[[str, SageMakerApi, str], Transport]] = None):
        self.stages, self.image, self.api_for = dict(stages), image, api_for
        self.capture_to, self.variant_name, self.role = capture_to, variant_name, role
        self.transport_for = transport_for or (lambda stage, api, name: RuntimeTransport(api, name))

    @classmethod
    def from_settings(cls, settings: Settings, max_attempts: int = 3, waiter_delay_s: int = 15,
                      role: Optional[str] = None, **kwargs: Any) -> SageMakerEndpoints:
        """From ``deploy`` (targets, image), ``serving`` (capture, variant) and ``aws``."""
        from medtx.aws.session import client

        stages = {s: t for s, t in settings.deploy.targets.items() if t.target == "sagemaker"}
        cache: dict[str, SageMakerApi] = {}
        lock = threading.Lock()

        def api_for(stage: str) -> SageMakerApi:
            account = stages[stage].account
            with lock:
                if stage not in cache:
                    cache[stage] = SageMakerApi(
                        client(settings.aws, "sagemaker", account, max_attempts),
                        client(settings.aws, "sagemaker-runtime", account, max_attempts),
                        waiter_delay_s=waiter_delay_s)
                return cache[stage]

        capture = settings.serving.capture_to
        if not (capture or "").startswith("s3://"):
            root = settings.aws.s3_root or settings.registry.s3_prefix
            capture = f"{root.rstrip('/')}/capture" if root else None
        return cls(stages, settings.deploy.image, api_for, capture,
                   settings.serving.variant_name, role or settings.deploy.execution_role, **kwargs)

    def endpoint_name(self, stage: str) -> str:
        if stage not in self.stages:
            raise DeployError(f"stage {stage!r} has no sagemaker target; sagemaker stages: "
                              f"{sorted(self.stages)}")
        return self.stages[stage].endpoint_name or stage_endpoint(stage)

    def _prefix(self, stage: str) -> str:
        """Model and config names: ``<endpoint>-v<version>-<UTC stamp><4 hex>`` (<= 63 chars)."""
        return re.sub(r"[^a-zA-Z0-9-]", "-", self.endpoint_name(stage)[:36]) + "-v"

    def _config_info(self, api: SageMakerApi, config: str) -> tuple[dict, dict[str, str]]:
        desc = api.describe_endpoint_config(config)
        return desc, api.tags(desc["EndpointConfigArn"])

    def _deployment(self, stage: str, config: str, state: str, started: Any,
                    tags: dict[str, str]) -> Deployment:
        return Deployment(stage, self.target, int(tags.get(TAG_VERSION, 0)), state,
                          self.endpoint_name(stage), _iso(started), tags.get(TAG_DATA, ""),
                          config_name=config)

    def current(self, stage: str) -> Optional[Deployment]:
        name = self.endpoint_name(stage)
        api = self.api_for(stage)
        desc = api.describe_endpoint(name)
        if desc is None or desc["EndpointStatus"] in ("Deleting", "Failed"):
            return None
        config = desc["EndpointConfigName"]
        _, tags = self._config_info(api, config)
        return self._deployment(stage, config, SERVING, desc.get("LastModifiedTime"), tags)

    def _serving(self, stage: str) -> Deployment:
        """The stage's deployment right after it was put live; DeployError when it is gone."""
        now = self.current(stage)
        if now is None:
            raise DeployError(f"{stage}: endpoint {self.endpoint_name(stage)} is not serving after the update")
        return now

    def status(self) -> list[Deployment]:
        return [d for d in (self.current(s) for s in self.stages) if d is not None]

    def _prepare(self, stage: str, candidate: Candidate, before: Optional[Deployment]) -> str:
        """Create the candidate's model and endpoint config; the config's name."""
        if not candidate.model_data_url or not candidate.model_data_url.startswith("s3://"):
            raise DeployError(f"version {candidate.version}: a SageMaker deploy needs the "
                              "version's model.tar.gz in S3 (ModelVersion.artifact_uri)")
        if not self.image:
            raise DeployError("deploy.image (the serve image) is required for SageMaker")
        cfg, api, name = self.stages[stage], self.api_for(stage), self.endpoint_name(stage)
        variant = self.variant_name
        if before and before.config_name:
            serving = api.describe_endpoint_config(before.config_name)["ProductionVariants"][0]
            variant = serving["VariantName"]
            if cfg.serverless_memory_mb and not serving.get("ServerlessConfig"):
                raise DeployError(f"{stage}: endpoint {name} runs on instances and cannot become "
                                  "serverless; stop it first (a new endpoint is created)")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:4]
        unique = f"{self._prefix(stage)}{candidate.version}-{stamp}"
        capture = capture_config(cfg, f"{self.capture_to.rstrip('/')}" if self.capture_to else None)
        api.create_model(unique, self.image, candidate.model_data_url, self.role,
                         {"MEDTX_MODEL_VERSION": str(candidate.version),
                          "MEDTX_MODEL_GROUP": candidate.group, "MEDTX_ENDPOINT_NAME": name})
        tags = {TAG_VERSION: str(candidate.version), TAG_DATA: candidate.model_data_url,
                TAG_STAGE: stage, TAG_PREVIOUS: (before.config_name or "") if before else ""}
        api.create_endpoint_config(unique, production_variant(cfg, unique, variant), capture, tags)
        return unique

    def _activate(self, stage: str, config: str, previous: Optional[str]) -> None:
        """Create or blue/green-update the endpoint to ``config`` and wait for InService."""
        api, name = self.api_for(stage), self.endpoint_name(stage)
        if previous is None:
            api.create_endpoint(name, config)
        else:
            api.update_endpoint(name, config, deployment_config(self.stages[stage]))
        api.wait("endpoint_in_service", name)
        desc = api.describe_endpoint(name) or {}
        if desc.get("EndpointConfigName") != config:
            raise DeployError(f"{stage}: SageMaker kept {desc.get('EndpointConfigName')} (an alarm "
                              f"or failed update rolled {config} back): {desc.get('FailureReason', '')}")

    def deploy(self, stage: str, candidate: Candidate, smoke: Optional[SmokeSpec] = None,
               promote: bool = True) -> DeployResult:
        """Model + config, then (with ``promote``) create/update and smoke-test the endpoint;
        a failed smoke test updates back to the previous config (or deletes a new endpoint)."""
        before = self.current(stage)
        config = self._prepare(stage, candidate, before)
        if not promote:
            ready = Deployment(stage, self.target, candidate.version, READY,
                               self.endpoint_name(stage), _iso(datetime.now(timezone.utc)),
                               candidate.model_data_url or "", config_name=config)
            return DeployResult(stage, "deploy", before, ready)
        return self._go_live(stage, config, before, smoke, "deploy")

    def _go_live(self, stage: str, config: str, before: Optional[Deployment],
                 smoke: Optional[SmokeSpec], action: str) -> DeployResult:
        previous = before.config_name if before else None
        self._activate(stage, config, previous)
        api, name = self.api_for(stage), self.endpoint_name(stage)
        report = run_smoke(self.transport_for(stage, api, name), smoke, address=name)
        if not report.passed:
            if previous:
                self._activate(stage, previous, config)
                what = f"rolled back to {previous}"
            else:
                api.delete_endpoint(name)
                api.wait("endpoint_deleted", name)
                what = "the new endpoint was deleted"
            raise DeployError(f"{stage}: {config} failed its smoke tests ({report.summary()}); {what}")
        return DeployResult(stage, action, before, self._serving(stage), report)

    def promote(self, stage: str, config: Optional[str] = None,
                smoke: Optional[SmokeSpec] = None) -> DeployResult:
        """Put a prepared endpoint config live: ``config`` (``deploy(promote=False)``'s
        ``config_name``), else the stage's newest config when it is not the serving one."""
        before = self.current(stage)
        config = config or self.api_for(stage).newest_config(self._prefix(stage))
        if not config or (before and before.config_name == config):
            raise DeployError(f"{stage}: no prepared endpoint config to promote")
        return self._go_live(stage, config, before, smoke, "promote")

    def rollback(self, stage: str, smoke: Optional[SmokeSpec] = None) -> DeployResult:
        """Blue/green update back to the config the current one replaced."""
        before = self.current(stage)
        if before is None:
            raise DeployError(f"{stage}: endpoint {self.endpoint_name(stage)} is not serving")
        _, tags = self._config_info(self.api_for(stage), before.config_name or "")
        previous = tags.get(TAG_PREVIOUS)
        if not previous:
            raise DeployError(f"{stage}: {before.config_name} replaced no earlier config")
        self._activate(stage, previous, before.config_name)
        return DeployResult(stage, "rollback", before, self._serving(stage))

    def stop(self, stage: str) -> Optional[Deployment]:
        """Delete the endpoint (models and configs stay for a later rollback or redeploy)."""
        before = self.current(stage)
        if before is None:
            return None
        api, name = self.api_for(stage), self.endpoint_name(stage)
        api.delete_endpoint(name)
        api.wait("endpoint_deleted", name)
        return Deployment(**{**before.to_dict(), "state": STOPPED})
