"""What every ``medtx`` verb shares: the config flags, the label override, JSON output."""
from __future__ import annotations

import argparse
from typing import Any

from medtx.config.paths import default_config

DEFAULT_CONFIG = default_config()
model_help = "model package dir, model.tar.gz, or a registry version: N | latest | approved"


SET_HELP = ("change one config key for this command, e.g. serving.port=8090 (repeatable, or "
            "comma-joined; values read as JSON where they parse, else as text)")


def add_config(p: argparse.ArgumentParser) -> None:
    """``--config FILE`` and ``--set section.key=value`` (repeatable)."""
    p.add_argument("--config", default=DEFAULT_CONFIG, help="config file (default: %(default)s)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help=SET_HELP)


def overrides_of(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set`` values of a command line as ``{dotted key: value}``."""
    from medtx.config import parse_overrides

    return parse_overrides(getattr(args, "overrides", None))


def add_common(p: argparse.ArgumentParser, labels: bool = True) -> None:
    """``--config``, ``--set``, ``--labels`` (unless ``labels=False``) and ``--json``."""
    add_config(p)
    if labels:
        p.add_argument("--labels", default=None, help="label preset: all40 | spec12 | custom (default: config)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")


def load_settings_for(args: argparse.Namespace) -> Any:
    """Settings from ``--config`` with its ``--set`` values, and ``--labels`` when given."""
    from medtx.config import load_settings

    settings = load_settings(args.config, overrides_of(args))
    if getattr(args, "labels", None):
        settings = settings.with_overrides(labels={"preset": args.labels})
    return settings
