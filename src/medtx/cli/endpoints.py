"""``medtx endpoints ...``: what serves each deploy stage, and promote / roll back / stop it.

    medtx endpoints list                      # every stage: serving version, state, address
    medtx endpoints status prod
    medtx endpoints promote prod              # the smoke-tested candidate takes the address
    medtx endpoints rollback prod             # the previous version serves again
    medtx endpoints stop staging
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from medtx.cli.common import add_config, load_settings_for


def _emit(args: argparse.Namespace, payload: Any, lines: list[str]) -> int:
    print(json.dumps(payload, indent=2, sort_keys=True, default=str) if args.json
          else "\n".join(lines) or "nothing deployed")
    return 0


def _row(d: Any) -> str:
    return f"{d.stage:<10} v{d.version:<4} {d.state:<9} {d.address}  (since {d.started_at[:19]})"


def cmd_list(args: argparse.Namespace) -> int:
    from medtx.deploy.factory import open_endpoints

    settings = load_settings_for(args)
    stages = settings.deploy.stages
    first = {settings.deploy.targets[s].target: s for s in reversed(stages)}  # one per target
    found = [d for stage in first.values() for d in open_endpoints(settings, stage).status()
             if d.stage in stages]
    found.sort(key=lambda d: stages.index(d.stage))  # stable: a target's own order within a stage
    return _emit(args, [d.to_dict() for d in found], [_row(d) for d in found])


def cmd_status(args: argparse.Namespace) -> int:
    from medtx.deploy.factory import open_endpoints

    d = open_endpoints(load_settings_for(args), args.stage).current(args.stage)
    return _emit(args, d.to_dict() if d else None, [_row(d)] if d else [])


def _change(args: argparse.Namespace, action: str) -> int:
    from medtx.deploy.factory import open_endpoints

    endpoints = open_endpoints(load_settings_for(args), args.stage)
    if action == "stop":
        d = endpoints.stop(args.stage)
        return _emit(args, d.to_dict() if d else None,
                     [f"{args.stage}: stopped v{d.version}" if d else f"{args.stage}: nothing served"])
    result = getattr(endpoints, action)(args.stage)
    before = f"v{result.before.version}" if result.before else "nothing"
    return _emit(args, result.to_dict(),
                 [f"{args.stage}: {action} {before} -> v{result.after.version} at {result.after.address}"])


def add_parsers(sub: Any) -> None:
    """Register ``endpoints`` and its sub-commands."""
    common = argparse.ArgumentParser(add_help=False)
    add_config(common)
    common.add_argument("--json", action="store_true", help="machine-readable JSON output")
    p = sub.add_parser("endpoints", help="deployed endpoints: list, status, promote, rollback, stop")
    verbs = p.add_subparsers(dest="endpoints_command", metavar="COMMAND", required=True)
    q = verbs.add_parser("list", parents=[common], help="what serves every deploy stage")
    q.set_defaults(func=cmd_list)
    for name, helptext in (("status", "what serves one stage"),
                           ("promote", "give a smoke-tested candidate the stage's address"),
                           ("rollback", "serve the previous version again"),
                           ("stop", "stop serving a stage")):
        q = verbs.add_parser(name, parents=[common], help=helptext)
        q.add_argument("stage", help="a stage of deploy.stages (e.g. staging, prod)")
        q.set_defaults(func=cmd_status if name == "status" else
                       (lambda a, n=name: _change(a, n)))
