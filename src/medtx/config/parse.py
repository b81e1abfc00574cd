"""Parse config files: JSON text, a dict or a path -> :class:`~medtx.config.settings.Settings`.

Every way in resolves ``extends`` the same way (:mod:`medtx.config.loader`), and every way in
can take ``--set`` overrides (:mod:`medtx.config.overrides`). pydantic checks keys and types;
its errors become one :class:`~medtx.errors.ConfigError` that names every offending dotted key
(``train.epochs``, ``aws.accounts.prod.role_arn``) and what was expected
(:mod:`medtx.config.validation`). The value checks that span fields follow.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from medtx.config.loader import EXTENDS, load_config_dict, parse_text, resolve
from medtx.config.overrides import apply_overrides, shown
from medtx.config.settings import Settings
from medtx.errors import ConfigError


def parse_settings(raw: Any, overrides: Optional[dict[str, Any]] = None) -> Settings:
    """Validate a config dict (its ``extends`` resolved, ``overrides`` applied) into Settings."""
    if isinstance(raw, dict) and EXTENDS in raw:
        raw = resolve(raw)
    if not overrides:
        return Settings.from_raw(raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a JSON object, got {type(raw).__name__}")
    changed = apply_overrides(raw, overrides)
    try:
        return Settings.from_raw(changed)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (with --set {' '.join(shown(overrides))})") from None


def parse_config(text: str) -> dict:
    """Metaflow ``Config(parser=...)`` hook: JSON text -> the merged, validated, complete dict
    (every key, defaults filled in) that the run stores as its config artifact."""
    return parse_settings(parse_text(text)).to_dict()


def load_settings(path: str | Path, overrides: Optional[dict[str, Any]] = None) -> Settings:
    """Read, merge and validate a config file, with ``overrides`` (``--set``) applied."""
    return parse_settings(load_config_dict(path), overrides)


def settings_from(cfg: Any, overrides: Optional[dict[str, Any]] = None) -> Settings:
    """Typed settings from a Metaflow config value (a ConfigValue/dict) or a Settings, with
    ``overrides`` (``--set``) applied."""
    if isinstance(cfg, Settings):
        if not overrides:
            return cfg
        cfg = cfg.to_dict()
    if hasattr(cfg, "to_dict"):
        cfg = cfg.to_dict()
    return parse_settings(_plain(cfg), overrides)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
