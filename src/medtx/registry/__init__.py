"""Model registry with SageMaker Model Registry semantics: a local SQLite backend and a
SageMaker backend, chosen by ``registry.backend`` in config.

    from medtx.registry import open_registry
    registry = open_registry(settings)
    mv = registry.register(package_dir, evaluation, "PendingManualApproval", [], lineage, actor)
    registry.set_status(mv.version, "Approved", reason="reviewed", actor="alice")
"""
from medtx.registry.base import (
    APPROVED,
    PENDING,
    REJECTED,
    STATUSES,
    TRANSITIONS,
    AuditEvent,
    ModelVersion,
    Registry,
    current_actor,
    is_version_ref,
    run_tags,
    transition_allowed,
)
from medtx.registry.factory import open_registry
from medtx.registry.refs import resolve_model_ref

__all__ = [
    "APPROVED", "PENDING", "REJECTED", "STATUSES", "TRANSITIONS", "AuditEvent", "ModelVersion",
    "Registry", "current_actor", "is_version_ref", "open_registry", "resolve_model_ref", "run_tags",
    "transition_allowed",
]
