"""The registry contract: versions, statuses, the transition table and the audit trail.

Both backends (``local``: SQLite + artifact directory; ``sagemaker``: SageMaker Model
Registry + S3) implement :class:`Registry` with the same semantics, so code and tests are
written once against this module.
"""
from __future__ import annotations

import abc
import builtins
import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from medtx.errors import IntegrityError, RegistryError
from medtx.evaluation.document import Evaluation

PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
STATUSES = (PENDING, APPROVED, REJECTED)

#: (from, to) -> (action, force needed). Same-status moves are refused (no silent no-ops).
TRANSITIONS: dict[tuple[str, str], tuple[str, bool]] = {
    (PENDING, APPROVED): ("approve", False),
    (PENDING, REJECTED): ("reject", False),
    (APPROVED, REJECTED): ("reject", False),
    (APPROVED, PENDING): ("reopen", False),
    (REJECTED, APPROVED): ("force_approve", True),
    (REJECTED, PENDING): ("force_reopen", True),
}


@dataclass(frozen=True)
class AuditEvent:
    """One entry of a version's audit trail: who changed what, when, and why."""

    version: int
    at: str  # ISO 8601, UTC
    actor: str
    action: str  # register | approve | reject | reopen | force_approve | force_reopen
    from_status: Optional[str]
    to_status: str
    reason: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version as every backend reports it."""

    group: str
    version: int
    status: str
    created_at: str  # ISO 8601, UTC
    artifact_uri: str
    evaluation_uri: str
    metrics: dict = field(default_factory=dict)  # numeric summary of the evaluation
    lineage: dict = field(default_factory=dict)  # pathspec, data_hash, git_commit, ...
    reasons: list = field(default_factory=list)  # gate reasons given at registration
    package_sha256: str = ""  # digest of the package's file listing
    arn: Optional[str] = None  # SageMaker model package ARN

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def current_actor() -> str:
    """The person or service acting: ``MEDTX_ACTOR``, else the login name, else ``unknown``."""
    for var in ("MEDTX_ACTOR", "USER", "USERNAME", "LOGNAME"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return "unknown"


def check_status(status: str) -> str:
    """Return ``status`` if it is one of :data:`STATUSES`, else raise RegistryError."""
    if status not in STATUSES:
        raise RegistryError(f"unknown status {status!r}; expected one of {list(STATUSES)}")
    return status


def transition_allowed(current: str, target: str, force: bool, reason: str) -> str:
    """Check a status change against :data:`TRANSITIONS`; return its audit action name.

    Refused (RegistryError): an unknown status, a move to the status a version already has,
    any change without a reason, and leaving ``Rejected`` without ``force``.
    """
    check_status(current)
    check_status(target)
    if current == target:
        raise RegistryError(f"version is already {target}; nothing to change")
    action, needs_force = TRANSITIONS[(current, target)]
    if needs_force and not force:
        raise RegistryError(
            f"{current} -> {target} needs --force and a reason: this version was rejected"
        )
    if not reason or not reason.strip():
        kind = "a forced change" if needs_force else "a status change"
        raise RegistryError(f"{kind} needs a reason for the audit trail")
    return action


def metric_summary(evaluation: Evaluation) -> dict[str, float]:
    """The numbers kept with a version: the model's test metrics, the same-run baseline's
    macro-F1 and accuracy, and the margin (:meth:`Evaluation.registry_metrics`)."""
    if not isinstance(evaluation, Evaluation):
        raise RegistryError(f"register needs an Evaluation, got {type(evaluation).__name__}")
    return evaluation.registry_metrics()


def evaluation_document(evaluation: Evaluation) -> bytes:
    """The ``evaluation.json`` bytes stored with a version."""
    from medtx.evaluation.document import evaluation_json

    return evaluation_json(evaluation).encode("utf-8")


def run_tags(version: ModelVersion) -> list[str]:
    """Metaflow run tags mirroring a registration outcome."""
    return [
        f"model_group:{version.group}",
        f"model_version:{version.version}",
        f"approval:{version.status}",
    ]


def file_listing(root: Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file under ``root`` (links refused)."""
    from medtx.modeling.package import file_hashes

    root = Path(root)
    if not root.is_dir():
        raise RegistryError(f"model package directory not found: {root}")
    return file_hashes(root)


def listing_digest(listing: dict[str, str]) -> str:
    """Content address of a package: sha256 of its sorted file listing."""
    canonical = json.dumps(sorted(listing.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def verify_listing(root: Path, expected: dict[str, str]) -> None:
    """Check ``root`` holds exactly the files of ``expected`` with those hashes."""
    actual = file_listing(root)
    for rel in sorted(set(expected) | set(actual)):
        if rel not in actual:
            raise IntegrityError(f"{root}: registered model file missing: {rel}")
        if rel not in expected:
            raise IntegrityError(f"{root}: file not part of the registered model: {rel}")
        if actual[rel] != expected[rel]:
            raise IntegrityError(f"{root}: registered model file was modified: {rel}")


def replace_dir(src: Path, dest: Path) -> None:
    """Move a finished directory to ``dest``, which must be absent or empty."""
    if dest.exists():
        dest.rmdir()
    os.rename(src, dest)


_REF = re.compile(r"^(latest|approved|v?\d+)$")


def is_version_ref(ref: str) -> bool:
    """True for ``3``, ``v3``, ``latest`` and ``approved``."""
    return bool(_REF.match(ref.strip().lower()))


class Registry(abc.ABC):
    """A model package group: numbered versions, statuses and an audit trail."""

    group: str

    @abc.abstractmethod
    def register(
        self, package_dir: Path, evaluation: Evaluation, status: str, reasons: list[str],
        lineage: dict, actor: str,
    ) -> ModelVersion:
        """Store a verified package and its evaluation as the next version of the group."""

    @abc.abstractmethod
    def get(self, version: int) -> ModelVersion:
        """One version; RegistryError ``no version N in group G`` when absent."""

    @abc.abstractmethod
    def list(self, status: Optional[str] = None) -> list[ModelVersion]:
        """Every version (optionally only those with ``status``), oldest first."""

    @abc.abstractmethod
    def set_status(
        self, version: int, status: str, reason: str, actor: str, force: bool = False
    ) -> ModelVersion:
        """Change a version's status per :func:`transition_allowed` and audit it."""

    @abc.abstractmethod
    def history(self, version: int) -> builtins.list[AuditEvent]:
        """The audit trail of one version, oldest first."""

    @abc.abstractmethod
    def fetch(self, version: int, dest: Path) -> Path:
        """Materialise the version's package at ``dest``, verified file by file."""

    def latest(self, status: Optional[str] = None) -> Optional[ModelVersion]:
        """The highest version (with ``status`` if given), or None."""
        versions = self.list(status)
        return max(versions, key=lambda v: v.version) if versions else None

    def resolve(self, ref: str) -> ModelVersion:
        """``"3"``/``"v3"`` -> version 3; ``"latest"``; ``"approved"`` -> latest Approved."""
        key = str(ref).strip().lower()
        if not is_version_ref(key):
            raise RegistryError(
                f"bad model reference {ref!r}: expected a version number, 'latest' or 'approved'"
            )
        if key in ("latest", "approved"):
            found = self.latest(APPROVED if key == "approved" else None)
            if found is None:
                what = "Approved version" if key == "approved" else "versions"
                raise RegistryError(f"group {self.group!r} has no {what}")
            return found
        return self.get(int(key.lstrip("v")))


def missing_version(version: int, group: str) -> RegistryError:
    """The error every backend raises for an unknown version."""
    return RegistryError(f"no version {version} in group {group!r}")
