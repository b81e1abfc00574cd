"""``medtx serve``: the inference server in the foreground (Ctrl-C or SIGTERM stops it).

    medtx serve --model approved --port 8080
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medtx.cli.common import add_config, load_settings_for, model_help


def cmd_serve(args: argparse.Namespace) -> int:
    """Resolve ``--model`` (registry refs also name the group and version served) and serve."""
    from medtx.registry.base import is_version_ref
    from medtx.registry.refs import resolve_model_ref
    from medtx.serving.server import serve

    settings = load_settings_for(args)
    group = version = None
    ref = args.model
    if is_version_ref(ref) and not Path(ref).exists():
        from medtx.registry.factory import open_registry

        mv = open_registry(settings).resolve(ref)
        group, version, ref = mv.group, mv.version, str(mv.version)
    package_dir = resolve_model_ref(ref, settings)
    return serve(package_dir, settings, args.host, args.port, group, version)


def add_parsers(sub: Any) -> None:
    """Register ``serve``."""
    p = sub.add_parser("serve", help="serve a model over HTTP (SageMaker inference contract)")
    p.add_argument("--model", required=True, help=model_help)
    p.add_argument("--host", default=None, help="bind address (default: serving.host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: serving.port)")
    add_config(p)
    p.set_defaults(func=cmd_serve)
