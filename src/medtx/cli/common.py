"""What every ``medtx`` verb shares: the config flag, the label override, JSON output."""
from __future__ import annotations

import argparse
from typing import Any

from medtx.config.paths import default_config

DEFAULT_CONFIG = default_config()
model_help = "model package dir, model.tar.gz, or a registry version: N | latest | approved"


def add_common(p: argparse.ArgumentParser, labels: bool = True) -> None:
    """``--config``, ``--labels`` (unless ``labels=False``) and ``--json``."""
    p.add_argument("--config", default=DEFAULT_CONFIG, help="config file (default: %(default)s)")
    if labels:
        p.add_argument("--labels", default=None, help="label preset: all40 | spec12 | custom (default: config)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")


def load_settings_for(args: argparse.Namespace) -> Any:
    """Settings from ``--config``, with ``--labels`` applied when given."""
    from medtx.config import load_settings

    settings = load_settings(args.config)
    if getattr(args, "labels", None):
        settings = settings.with_overrides(labels={"preset": args.labels})
    return settings
