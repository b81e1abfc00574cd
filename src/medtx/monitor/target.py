"""Which endpoint a monitor watches: its capture prefix and where its monitoring state lives,
all derived from config (``monitor``, ``deploy.targets``, ``serving``, ``aws``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medtx.config import Settings
from medtx.errors import MonitorError
from medtx.serving.contract import stage_endpoint


@dataclass(frozen=True)
class Target:
    """Where the watched endpoint's capture lies and where its monitoring state is kept."""

    stage: str
    endpoint: str
    variant: str
    capture_prefix: str
    state_dir: str


def target_of(settings: Settings) -> Target:
    """The monitored stage's endpoint, its capture prefix and state folder, from config."""
    m, stage = settings.monitor, settings.monitor.stage
    deploy_target = settings.deploy.targets[stage]
    endpoint = m.endpoint_name or deploy_target.endpoint_name or stage_endpoint(stage)
    prefix = m.capture_from or settings.serving.capture_to
    if deploy_target.target == "sagemaker" and not (prefix or "").startswith("s3://"):
        # where SageMakerEndpoints points DataCaptureConfig when serving.capture_to is local
        root = settings.aws.s3_root
        prefix = f"{root.rstrip('/')}/capture" if root else None
    if not prefix:
        raise MonitorError(f"no capture to monitor for stage {stage!r}: set monitor.capture_from "
                           "or serving.capture_to")
    if not prefix.startswith("s3://"):
        prefix = str(Path(prefix).absolute())
    state = (f"{m.state_dir.rstrip('/')}/{endpoint}" if m.state_dir.startswith("s3://")
             else str(Path(m.state_dir).absolute() / endpoint))
    return Target(stage, endpoint, m.variant_name or settings.serving.variant_name, prefix, state)
