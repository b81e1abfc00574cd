"""Where the files that live beside the library are: ``configs/`` and ``data_checks/``.

In a checkout (``pip install -e .``) both sit at the repository root, three levels above this
file. A container image or another layout points at them with ``MEDTX_CONFIG_DIR`` and
``MEDTX_DATA_CHECKS``.
"""
from __future__ import annotations

import os
from pathlib import Path

#: The repository root of a source checkout (``src/medtx/config/paths.py`` -> root).
SOURCE_ROOT = Path(__file__).resolve().parents[3]


def config_dir() -> Path:
    """``$MEDTX_CONFIG_DIR``, else ``configs/`` of the source checkout."""
    return Path(os.environ.get("MEDTX_CONFIG_DIR") or SOURCE_ROOT / "configs")


def default_config(name: str = "local.json") -> str:
    """Path of a shipped config file (absolute, so flows and the CLI work from any cwd)."""
    return str(config_dir() / name)


def data_checks_dirs() -> list[Path]:
    """Folders searched for great-expectations suites, in order."""
    env = os.environ.get("MEDTX_DATA_CHECKS")
    return ([Path(env)] if env else []) + [SOURCE_ROOT / "data_checks", Path.cwd() / "data_checks"]
