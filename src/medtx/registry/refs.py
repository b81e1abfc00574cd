"""Model references: what ``--model`` accepts (a package folder, a ``model.tar.gz``, or a
registry version ``N`` / ``latest`` / ``approved``) resolved to a verified local folder."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from medtx.config import Settings
from medtx.errors import ModelLoadError
from medtx.registry.base import is_version_ref
from medtx.registry.factory import open_registry


def _unpack_tarball(tar: Path, cache: Path) -> Path:
    """Extract a SageMaker ``model.tar.gz`` once (keyed by its sha256) and verify it."""
    from medtx.modeling.package import extract_tarball, sha256_file, verify_package

    dest = cache / "tarballs" / sha256_file(tar)
    if dest.is_dir():
        verify_package(dest)
        return dest
    return extract_tarball(tar, dest)


def resolve_model_ref(ref: str, settings: Settings, cache_dir: Optional[Path] = None) -> Path:
    """``--model`` value -> local path: an existing path stays as is; ``3``/``latest``/``approved``
    resolve through the registry and are fetched (verified) to ``cache_dir/<group>/<sha256>``
    (default ``cache_dir``: ``<registry.path>/cache``).
    """
    path = Path(ref).expanduser()
    if path.is_file() and path.name.endswith(".tar.gz"):
        return _unpack_tarball(path, Path(cache_dir) if cache_dir else Path(settings.registry.path) / "cache")
    if path.exists():
        return path
    if not is_version_ref(ref):
        raise ModelLoadError(
            f"model {ref!r} is neither an existing path nor a registry reference "
            "(a version number, 'latest' or 'approved')"
        )
    registry = open_registry(settings)
    mv = registry.resolve(ref)
    cache = Path(cache_dir) if cache_dir else Path(settings.registry.path) / "cache"
    return registry.fetch(mv.version, cache / mv.group / mv.package_sha256)
