"""The endpoint contract DeployFlow and ``medtx endpoints`` build on, for every target.

A target (``local``: server processes on 127.0.0.1; ``sagemaker``: SageMaker endpoints) keeps
one serving model per stage. A deploy is blue/green: the candidate is brought up beside the
serving model, checked, and only then given the stage's stable address; on any failure the
previous model keeps serving and :class:`DeployError` says why.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol, runtime_checkable

from medtx.config import DeployStageSettings, Settings
from medtx.errors import MedtxError

# states of a deployed model (local rows use all of them; SageMaker reports serving/stopped)
STARTING, READY, SERVING, DRAINING, STOPPED, FAILED = (
    "starting", "ready", "serving", "draining", "stopped", "failed")
STATES = (STARTING, READY, SERVING, DRAINING, STOPPED, FAILED)


class DeployError(MedtxError):
    """A deployment failed; the previously serving model stays in place."""


@dataclass(frozen=True)
class Candidate:
    """What to deploy: a registry version and where its package lives.

    ``package_dir`` (an unpacked, verified package) serves local targets; ``model_data_url``
    (the version's ``model.tar.gz`` in S3) serves SageMaker.
    """

    version: int
    group: str = ""
    package_dir: Optional[Path] = None
    model_data_url: Optional[str] = None
    package_sha256: str = ""

    @classmethod
    def from_version(cls, mv: Any, package_dir: Optional[Path] = None) -> Candidate:
        """From a registry ``ModelVersion`` (its S3 artifact URI is kept when it is one)."""
        uri = str(getattr(mv, "artifact_uri", "") or "")
        return cls(version=int(mv.version), group=str(getattr(mv, "group", "")),
                   package_dir=Path(package_dir) if package_dir is not None else None,
                   model_data_url=uri if uri.startswith("s3://") else None,
                   package_sha256=str(getattr(mv, "package_sha256", "") or ""))


@dataclass(frozen=True)
class Deployment:
    """One model as a target reports it: which version, where, in which state."""

    stage: str
    target: str  # local | sagemaker
    version: int
    state: str  # one of STATES
    address: str  # local: http://127.0.0.1:<port>; sagemaker: the endpoint name
    started_at: str  # ISO 8601 UTC
    package: str = ""  # local: package folder; sagemaker: ModelDataUrl
    pid: Optional[int] = None  # local only
    port: Optional[int] = None  # local: the backend's private port
    config_name: Optional[str] = None  # sagemaker: endpoint config in use

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DeployResult:
    """What a deploy, promotion or rollback changed: the model before and after, with checks."""

    stage: str
    action: str  # deploy | promote | rollback
    before: Optional[Deployment]
    after: Deployment
    smoke: Optional[Any] = None  # medtx.deploy.smoke.SmokeReport
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        out = {"stage": self.stage, "action": self.action, "notes": list(self.notes),
               "before": self.before.to_dict() if self.before else None,
               "after": self.after.to_dict()}
        out["smoke"] = self.smoke.to_dict() if self.smoke is not None else None
        return out


@runtime_checkable
class Endpoints(Protocol):
    """What DeployFlow needs from any target (see :mod:`medtx.deploy.local`, ``.sagemaker``)."""

    def current(self, stage: str) -> Optional[Deployment]:
        """The model serving ``stage``, or None."""

    def deploy(self, stage: str, candidate: Candidate, smoke: Optional[Any] = None,
               promote: bool = True) -> DeployResult:
        """Blue/green: bring ``candidate`` up beside the serving model, check it with ``smoke``
        (a :class:`medtx.deploy.smoke.SmokeSpec`; None = health only) and, with ``promote``,
        give it the stage's address. DeployError on failure, the old model still serving."""

    def promote(self, stage: str) -> DeployResult:
        """Give the stage's address to the candidate a ``deploy(..., promote=False)`` left ready."""

    def rollback(self, stage: str, smoke: Optional[Any] = None) -> DeployResult:
        """Serve the model that served ``stage`` before the current one again."""

    def stop(self, stage: str) -> Optional[Deployment]:
        """Stop serving ``stage`` (and any candidate); returns what was stopped, or None."""

    def status(self) -> list[Deployment]:
        """Every stage's serving model and any candidate, with dead processes noticed."""


def stage_settings(settings: Settings, stage: str) -> DeployStageSettings:
    """``deploy.targets[stage]``; DeployError naming the configured stages otherwise."""
    targets = settings.deploy.targets
    if stage not in targets:
        raise DeployError(f"unknown deploy stage {stage!r}; deploy.targets has {sorted(targets)}")
    return targets[stage]
