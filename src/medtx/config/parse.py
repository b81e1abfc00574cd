"""Parse config files: JSON text or a dict -> :class:`~medtx.config.settings.Settings`.

pydantic checks keys and types; its errors become one :class:`~medtx.errors.ConfigError` that
names every offending dotted key (``train.epochs``, ``aws.accounts.prod.role_arn``) and what was
expected (:mod:`medtx.config.validation`). The value checks that span fields follow.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medtx.config.settings import Settings
from medtx.errors import ConfigError


def parse_settings(raw: Any) -> Settings:
    """Validate a config dict and return typed :class:`Settings`."""
    return Settings.from_raw(raw)


def parse_config(text: str) -> dict:
    """Metaflow ``Config(parser=...)`` hook: validate JSON text, return the normalised dict."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config is not valid JSON: {exc}") from None
    return parse_settings(raw).to_dict()


def load_settings(path: str | Path) -> Settings:
    """Read and validate a config file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid JSON: {exc}") from None
    return parse_settings(raw)


def settings_from(cfg: Any) -> Settings:
    """Typed settings from a Metaflow config value (a ConfigValue/dict) or a Settings."""
    if isinstance(cfg, Settings):
        return cfg
    if hasattr(cfg, "to_dict"):
        cfg = cfg.to_dict()
    return parse_settings(_plain(cfg))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
