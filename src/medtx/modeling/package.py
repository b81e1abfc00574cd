"""The model package: a self-describing, tamper-evident folder and its SageMaker tarball.

Layout (all at the folder root, which is also the root of ``model.tar.gz``)::

    model.safetensors   weights (no pickles anywhere)
    config.json         architecture + id2label/label2id
    tokenizer*.json ... the fast tokenizer
    medtx.json          labels, temperature, long-note strategy, metrics, data hash, pathspec
    manifest.json       {"files": {relative path: sha256}} of every other file
    (evaluation.json)   documents added later with :func:`add_files`

Loading verifies the manifest first and refuses a changed, missing or unlisted file.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from medtx.errors import IntegrityError, ModelLoadError

FORMAT_VERSION = 1
META_FILE, MANIFEST_FILE, WEIGHTS_FILE = "medtx.json", "manifest.json", "model.safetensors"
RESERVED = {META_FILE, MANIFEST_FILE, WEIGHTS_FILE, "config.json"}
MODEL_FILE_PREFIXES = ("tokenizer", "vocab", "merges", "special_tokens", "added_tokens")
PICKLE_SUFFIXES = {".bin", ".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".joblib"}


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> list[str]:
    """Relative POSIX paths of everything under ``root``; links and odd entries are refused."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                raise IntegrityError(f"model package {root}: {rel} is a link; links are refused")
            if not p.is_dir() and not p.is_file():
                raise IntegrityError(f"model package {root}: {rel} is not a regular file")
            if p.is_file():
                found.append(rel)
    return sorted(found)


def file_hashes(root: Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file under ``root`` (links refused)."""
    return {rel: sha256_file(Path(root) / rel) for rel in _files(Path(root))}


def _refuse_pickles(root: Path, files: list[str]) -> None:
    for rel in files:
        if PurePosixPath(rel).suffix.lower() in PICKLE_SUFFIXES:
            raise IntegrityError(
                f"model package {root}: {rel} is a pickle-format file; medtx loads only "
                "safetensors and JSON, remove it or rebuild the package"
            )


def _json_default(obj: Any) -> Any:
    """numpy scalars and arrays in metrics become plain JSON numbers and lists."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _write_meta(root: Path, meta: dict) -> None:
    text = json.dumps(meta, indent=2, sort_keys=True, default=_json_default)
    (root / META_FILE).write_text(text + "\n")


def _write_manifest(root: Path) -> dict:
    files = [f for f in _files(root) if f != MANIFEST_FILE]
    _refuse_pickles(root, files)
    manifest = {"format_version": FORMAT_VERSION, "algorithm": "sha256",
                "files": {f: sha256_file(root / f) for f in files}}
    (root / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def save_package(model: Any, tokenizer: Any, out_dir: Path, meta: dict) -> Path:
    """Write a package folder (``out_dir`` must be absent or empty); returns its path.

    ``meta`` must hold ``long_note`` (strategy dict); usual keys: temperature, metrics,
    data_hash, pathspec, base_model. Labels come from the model config's id2label.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"package folder {out_dir} exists and is not empty")
    if "long_note" not in meta:
        raise ValueError("meta must contain 'long_note' (the strategy dict used for training)")
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    labels = [id2label[i] for i in range(len(id2label))]
    if meta.get("labels") not in (None, labels):
        raise ValueError("meta['labels'] differs from the model config's id2label")
    record = {"format_version": FORMAT_VERSION, "labels": labels, "temperature": 1.0,
              "metrics": {}, "data_hash": None, "pathspec": None, "base_model": None,
              "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    record.update({k: v for k, v in meta.items() if k != "labels"})
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pkg-", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if not (tmp / WEIGHTS_FILE).is_file():
            raise ModelLoadError(f"the model did not save a single {WEIGHTS_FILE}")
        _write_meta(tmp, record)
        _write_manifest(tmp)
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def verify_package(path: Path) -> dict:
    """Check every file against the manifest; return the package's medtx.json contents."""
    root = Path(path)
    if not (root / MANIFEST_FILE).is_file():
        raise IntegrityError(f"{root} is not a model package: {MANIFEST_FILE} is missing")
    files = _files(root)
    _refuse_pickles(root, files)
    try:
        listed = json.loads((root / MANIFEST_FILE).read_text())["files"]
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"model package {root}: {MANIFEST_FILE} is not a valid manifest") \
            from None
    present = set(files) - {MANIFEST_FILE}
    missing, extra = sorted(set(listed) - present), sorted(present - set(listed))
    if missing:
        raise IntegrityError(f"model package {root}: listed in the manifest but missing: "
                             f"{', '.join(missing)}")
    if extra:
        raise IntegrityError(f"model package {root}: not listed in the manifest: "
                             f"{', '.join(extra)} (remove it or rebuild the package)")
    for rel in sorted(listed):
        if sha256_file(root / rel) != listed[rel]:
            raise IntegrityError(
                f"model package {root}: {rel} does not match its sha256 in the manifest "
                "(changed or corrupted); rebuild or re-download the package"
            )
    if META_FILE not in listed or WEIGHTS_FILE not in listed:
        raise IntegrityError(f"model package {root}: {META_FILE} or {WEIGHTS_FILE} is missing")
    meta = json.loads((root / META_FILE).read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise IntegrityError(f"model package {root}: format version "
                             f"{meta.get('format_version')!r}, this medtx reads {FORMAT_VERSION}")
    return meta


def read_meta(path: Path, verify: bool = True) -> dict:
    """The package's medtx.json (verified by default)."""
    return verify_package(path) if verify else json.loads((Path(path) / META_FILE).read_text())


def update_meta(path: Path, **fields: Any) -> dict:
    """Verify, change fields of medtx.json (e.g. temperature, metrics), rewrite the manifest."""
    root = Path(path)
    meta = verify_package(root)
    for key in ("format_version", "labels"):
        if key in fields:
            raise ValueError(f"{key} of a package cannot be changed")
    meta.update(fields)
    _write_meta(root, meta)
    _write_manifest(root)
    return meta


def add_files(path: Path, files: dict[str, Any]) -> dict:
    """Verify, add or replace files (relative name -> bytes, str or a source Path), re-manifest.

    For documents that belong with the model, e.g. ``evaluation.json``. Returns the manifest.
    """
    root = Path(path)
    verify_package(root)
    for rel in files:  # check every name before writing anything
        parts = PurePosixPath(rel).parts
        if rel.startswith("/") or ".." in parts or not parts or rel in RESERVED \
                or rel.startswith(MODEL_FILE_PREFIXES):
            raise ValueError(f"cannot add {rel!r} to a package (model file, reserved name or "
                             "outside the folder)")
    _refuse_pickles(root, list(files))
    for rel, content in files.items():
        target = root.joinpath(*PurePosixPath(rel).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            content = content.read_bytes()
        target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return _write_manifest(root)


def load_package(path: Path, verify: bool = True, attn: str = "sdpa") -> tuple[Any, Any, dict]:
    """(model in eval mode, fast tokenizer, meta) from a package folder, verified first."""
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from medtx.modeling import pooling  # noqa: F401  (registers the mean-pool model type)
    from medtx.modeling.pretrained import error_summary

    root = Path(path)
    meta = read_meta(root, verify)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            root, use_safetensors=True, local_files_only=True, attn_implementation=attn)
        tokenizer = AutoTokenizer.from_pretrained(root, local_files_only=True)
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelLoadError(f"cannot load model package {root}: {error_summary(exc)}") from None
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if labels != meta["labels"]:
        raise IntegrityError(f"model package {root}: config.json labels differ from {META_FILE}")
    return model.eval(), tokenizer, meta


def _tar_to(pkg_dir: Path, fileobj: Any) -> None:
    """Reproducible tar.gz of the package files at the archive root."""
    root = Path(pkg_dir)
    with gzip.GzipFile(filename="", fileobj=fileobj, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in _files(root):
            info = tar.gettarinfo(str(root / rel), arcname=rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o644
            with (root / rel).open("rb") as fh:
                tar.addfile(info, fh)


def make_tarball(pkg_dir: Path, out: Path) -> Path:
    """SageMaker ``model.tar.gz`` of a verified package (files at the archive root)."""
    verify_package(pkg_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        _tar_to(pkg_dir, fh)
    return out


def _safe_members(tar: tarfile.TarFile, source: str) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        parts = PurePosixPath(m.name).parts
        if m.name.startswith("/") or ".." in parts or not parts:
            raise IntegrityError(f"{source}: unsafe path {m.name!r} in the archive")
        if m.isdir():
            continue
        if not m.isfile():
            raise IntegrityError(f"{source}: {m.name!r} is a link or special file; refused")
        members.append(m)
    return members


def _extract(tar: tarfile.TarFile, dest: Path, source: str) -> Path:
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"extraction folder {dest} exists and is not empty")
    for m in _safe_members(tar, source):
        target = dest.joinpath(*PurePosixPath(m.name).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        src = tar.extractfile(m)
        if src is None:  # _safe_members keeps regular files only
            raise IntegrityError(f"{source}: {m.name!r} has no content to extract")
        with src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    verify_package(dest)
    return dest


def extract_tarball(tar: Path, dest: Path) -> Path:
    """Unpack a package tarball safely (no absolute paths, ``..`` or links), then verify it."""
    try:
        with tarfile.open(tar, mode="r:gz") as tf:
            return _extract(tf, dest, str(tar))
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise IntegrityError(f"{tar}: not a readable model tarball ({exc.__class__.__name__})") \
            from None


def package_to_bytes(pkg_dir: Path) -> bytes:
    """The package as tar.gz bytes (for a Metaflow artifact moving between steps)."""
    verify_package(pkg_dir)
    buf = io.BytesIO()
    _tar_to(pkg_dir, buf)
    return buf.getvalue()


def package_from_bytes(data: bytes, dest: Path) -> Path:
    """Unpack :func:`package_to_bytes` output into ``dest`` and verify it."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
            return _extract(tf, dest, "package bytes")
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise IntegrityError(f"package bytes are not a model tarball ({exc.__class__.__name__})") \
            from None
