"""Config files with a base: ``{"extends": "base.json", ...}`` merged over the file it names.

A config file may name one other file in ``extends``; that file is read first (it may extend
another in turn) and the file's own keys are merged over it:

* objects merge key by key, at every depth (``{"train": {"epochs": 12}}`` changes one knob);
* every other value (lists, strings, numbers, ``null``) replaces what the base says.

A relative ``extends`` is looked up in the configs folder (:func:`medtx.config.paths.config_dir`:
``$MEDTX_CONFIG_DIR``, else ``configs/`` of the checkout), whichever folder the extending file
is in. Metaflow hands a ``Config`` parser the file's text, not its path, so this is the one
rule that means the same for ``--config cfg configs/prod.json``, for a copy of a config in a
temporary folder and for ``--config-value``. An absolute path is used as it is.

A chain that returns to a file it has read, a base that does not exist or is not a JSON
object, and an ``extends`` that is not a string are :class:`~medtx.errors.ConfigError`\\ s
naming the files involved.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from medtx.config.paths import config_dir
from medtx.errors import ConfigError

EXTENDS = "extends"


def merge(base: dict, overlay: dict) -> dict:
    """``overlay`` over ``base``: objects merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_json(path: Path) -> dict:
    """A config file as a dict; ConfigError naming the file when it is missing or not an object."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a JSON object, got {type(raw).__name__}")
    return raw


def resolve(raw: dict, origin: str = "the config", base_dir: Optional[Path] = None) -> dict:
    """``raw`` merged over the chain of files its ``extends`` names (``extends`` removed).

    ``origin`` names ``raw`` in messages (a path, or "the config" for text without one);
    ``base_dir`` is where relative names are looked up (default: the configs folder).
    """
    return _resolve(raw, origin, base_dir or config_dir(), ())


def _resolve(raw: dict, origin: str, base_dir: Path, chain: tuple[Path, ...]) -> dict:
    if EXTENDS not in raw:
        return raw
    name = raw[EXTENDS]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{origin}: '{EXTENDS}' must name a config file (a string such as "
                          f"\"base.json\"), got {name!r}")
    path = Path(name) if Path(name).is_absolute() else base_dir / name
    path = path.resolve()
    if path in chain:
        names = " -> ".join([str(p) for p in chain] + [str(path)])
        raise ConfigError(f"config files extend each other in a cycle: {names}")
    if not path.is_file():
        raise ConfigError(f"{origin} extends {name!r}, which is not a file ({path}); a relative "
                          f"'{EXTENDS}' is looked up in the configs folder {base_dir}")
    base = _resolve(read_json(path), str(path), base_dir, (*chain, path))
    own = {k: v for k, v in raw.items() if k != EXTENDS}
    return merge(base, own)


def load_config_dict(path: str | Path, base_dir: Optional[Path] = None) -> dict:
    """The merged config of a file: its ``extends`` chain resolved, not yet validated.

    What a test or script edits before writing a config of its own; the result has no
    ``extends`` key, so it stands alone wherever it is written.
    """
    p = Path(path).resolve()
    return _resolve(read_json(p), str(p), base_dir or config_dir(), (p,))


def parse_text(text: str, base_dir: Optional[Path] = None) -> dict:
    """JSON text of a config (what a Metaflow ``Config`` parser receives), merged."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a JSON object, got {type(raw).__name__}")
    return resolve(raw, "the config", base_dir)
