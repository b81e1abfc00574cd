"""The flows' ``Config`` parser: a config file read by :func:`medtx.config.parse_config`, with a
bad one reported by Metaflow as one line that names the key, before any step runs.

Metaflow prints any other exception from a parser as "Internal error" and a long traceback, which
hides the one line a person needs; :class:`ConfigFileError` is a ``MetaflowException``, which it
prints as a headline and the message.
"""
from __future__ import annotations

from metaflow.exception import MetaflowException

from medtx.config import parse_config as parse_config_text
from medtx.errors import ConfigError


class ConfigFileError(MetaflowException):
    headline = "Bad config"


def parse_config(text: str) -> dict:
    """``Config("cfg", parser="medtx.flowkit.config.parse_config")``: the merged, checked config."""
    try:
        return parse_config_text(text)
    except ConfigError as exc:
        raise ConfigFileError(str(exc)) from None
