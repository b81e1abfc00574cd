"""Which registry backend a config asks for (the only module that knows both backends)."""
from __future__ import annotations

from pathlib import Path

from medtx.config import Settings
from medtx.errors import RegistryError
from medtx.registry.base import Registry
from medtx.registry.local import LocalRegistry
from medtx.registry.sagemaker import SageMakerRegistry


def open_registry(settings: Settings) -> Registry:
    """The registry backend chosen by ``settings.registry.backend``."""
    backend = settings.registry.backend
    if backend == "local":
        return LocalRegistry(Path(settings.registry.path), settings.registry.group)
    if backend == "sagemaker":
        return SageMakerRegistry.from_settings(settings)
    raise RegistryError(f"unknown registry backend {backend!r}; expected 'local' or 'sagemaker'")
