"""Fixtures for registry tests: fake model packages and registry settings per backend.

The moto server itself is the session fixture ``moto_endpoint`` from ``tests/conftest.py``
(127.0.0.1, free port, fake credentials). Clients built by medtx use few retries, because
moto answers unsupported calls with HTTP 500, which botocore would otherwise retry.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest


def write_package(root: Path, seed: int = 0) -> Path:
    """A small fake model package in the ``medtx.package`` layout: a few files, ``medtx.json``
    and ``manifest.json`` listing the sha256 of every other file (same seed, same bytes).
    """
    root.mkdir(parents=True)
    (root / "model.safetensors").write_bytes(bytes([seed % 256]) * 64 + b"weights")
    (root / "config.json").write_text(json.dumps({"id2label": {"0": "A", "1": "B"}, "seed": seed}))
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "vocab.txt").write_text("[PAD]\n[UNK]\nheart\n")
    (root / "medtx.json").write_text(json.dumps({"format_version": 1, "labels": ["A", "B"]}))
    files = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }
    (root / "manifest.json").write_text(json.dumps({"files": files}, indent=2))
    return root


@pytest.fixture
def make_package(tmp_path: Path) -> Callable[[int], Path]:
    """``make_package(seed)`` -> a fresh package directory (same seed, same content)."""
    def make(seed: int = 0) -> Path:
        return write_package(tmp_path / "packages" / f"p{seed}-{uuid.uuid4().hex[:6]}", seed)

    return make


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    """A fresh bucket on the moto server."""
    import boto3

    name = f"medtx-registry-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "sagemaker"])
def registry_settings(request, settings, tmp_path: Path):
    """Settings for a fresh, empty registry group on each backend."""
    group = f"medtx-test-{uuid.uuid4().hex[:10]}"
    if request.param == "local":
        return settings.with_overrides(
            registry={"backend": "local", "path": str(tmp_path / "registry"), "group": group})
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return settings.with_overrides(
        registry={"backend": "sagemaker", "group": group, "s3_prefix": f"s3://{bucket}/registry"},
        aws={"endpoint_url": endpoint},
    )
