"""Which endpoint target serves a deploy stage (the only module that knows both targets).

The targets import lazily-heavy libraries only when used, so importing this module stays cheap.
"""
from __future__ import annotations

from typing import Any

from medtx.config import Settings
from medtx.deploy.base import DeployError, Endpoints, stage_settings
from medtx.deploy.local import LocalEndpoints
from medtx.deploy.sagemaker import SageMakerEndpoints


def open_endpoints(settings: Settings, stage: str, **kwargs: Any) -> Endpoints:
    """The target that serves ``stage`` (``deploy.targets[stage].target``)."""
    kind = stage_settings(settings, stage).target
    if kind == "local":
        return LocalEndpoints.from_settings(settings, **kwargs)
    if kind == "sagemaker":
        return SageMakerEndpoints.from_settings(settings, **kwargs)
    raise DeployError(f"unknown deploy target {kind!r} for stage {stage!r}")
