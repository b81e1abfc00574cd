"""One run's changes to its config: ``--set section.key=value``.

``parse_overrides(["train.epochs=1", "model.max_length=64,labels.preset=all40"])`` gives
``{"train.epochs": 1, "model.max_length": 64, "labels.preset": "all40"}``: each value is read as
JSON where it parses (numbers, ``true``/``false``, ``null``, lists, objects, quoted strings),
else taken as text, so ``data.path=notes.csv`` needs no quotes. Items may be repeated or joined
with commas; a comma starts a new item only where ``key=`` follows it, so list values keep
theirs (``deploy.stages=["staging","prod"]``). A key given twice keeps its last value.

``apply_overrides`` checks every key against the settings classes before it changes anything:
an unknown key is a :class:`~medtx.errors.ConfigError` naming the dotted key and the keys its
section has. The change then merges like a config overlay (objects key by key, anything else
replaces), so the result validates like any config file.
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Iterable
from typing import Any, Optional, Union

from medtx.config.loader import merge
from medtx.errors import ConfigError

_KEY = r"[A-Za-z_][\w-]*(?:\.[\w-]+)*"
_ITEM_START = re.compile(rf",(?=\s*{_KEY}\s*=)")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(items: Union[str, Iterable[str], None]) -> dict[str, Any]:
    """``section.key=value`` items (repeated and/or comma-joined) -> ``{dotted key: value}``."""
    if items is None:
        return {}
    if isinstance(items, str):
        items = [items]
    out: dict[str, Any] = {}
    for item in items:
        for part in _ITEM_START.split(item):
            part = part.strip()
            if not part:
                continue
            key, sep, text = part.partition("=")
            key = key.strip()
            if not sep or not re.fullmatch(_KEY, key):
                raise ConfigError(f"--set {part!r} is not section.key=value (e.g. train.epochs=1)")
            out.pop(key, None)  # the last value of a repeated key wins, in its place
            out[key] = _value(text.strip())
    return out


def _unwrap(tp: Any) -> Any:
    """``Optional[X]`` -> ``X``."""
    if typing.get_origin(tp) is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def check_key(dotted: str, root: Optional[type] = None) -> None:
    """ConfigError unless ``dotted`` names a key of the settings (free-form maps such as
    ``deploy.targets`` or ``labels.merge`` take any name at their own level)."""
    from medtx.config.settings import Settings

    tp: Any = root or Settings
    seen: list[str] = []
    for part in dotted.split("."):
        tp = _unwrap(tp)
        if dataclasses.is_dataclass(tp):
            names = [f.name for f in dataclasses.fields(tp)]
            if part not in names:
                where = f"section {'.'.join(seen)!r}" if seen else "the config"
                raise ConfigError(f"unknown config key {dotted!r}: {where} has no key {part!r} "
                                  f"(it has: {', '.join(names)})")
            tp = typing.get_type_hints(tp)[part]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            raise ConfigError(f"unknown config key {dotted!r}: {'.'.join(seen)!r} is a value, "
                              "not a section")
        seen.append(part)


def leaf_keys(overrides: dict[str, Any]) -> list[str]:
    """Every dotted key an override changes (an object value counts by its own keys)."""
    out: list[str] = []
    for key, value in overrides.items():
        if isinstance(value, dict) and value:
            out += leaf_keys({f"{key}.{k}": v for k, v in value.items()})
        else:
            out.append(key)
    return out


def nest(overrides: dict[str, Any]) -> dict:
    """``{"train.epochs": 1}`` -> ``{"train": {"epochs": 1}}`` (later keys merge over earlier)."""
    out: dict = {}
    for key, value in overrides.items():
        for part in reversed(key.split(".")):
            value = {part: value}
        out = merge(out, value)
    return out


def check_keys(overrides: dict[str, Any]) -> None:
    """:func:`check_key` for every dotted key ``overrides`` changes."""
    for key in leaf_keys(overrides):
        check_key(key)


def apply_overrides(raw: dict, overrides: dict[str, Any]) -> dict:
    """``raw`` with ``overrides`` merged in, after every key is checked (:func:`check_keys`)."""
    check_keys(overrides)
    return merge(raw, nest(overrides))


def shown(overrides: dict[str, Any]) -> list[str]:
    """``["train.epochs=1", ...]``: the overrides as one would type them."""
    return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in overrides.items()]
