"""``medtx models ...``: list, show, approve, reject and audit registered model versions.

Every sub-command takes ``--config PATH`` (which registry) and ``--json`` (for scripts).
Refused actions raise :class:`~medtx.errors.RegistryError`; the top-level ``medtx`` command
prints the message on stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from medtx.cli.common import DEFAULT_CONFIG
from medtx.registry import (
    APPROVED,
    REJECTED,
    AuditEvent,
    ModelVersion,
    Registry,
    current_actor,
    open_registry,
)


def _registry(args: argparse.Namespace) -> Registry:
    from medtx.config import load_settings

    return open_registry(load_settings(args.config))


def _emit(args: argparse.Namespace, payload: Any, human: Callable[[], str]) -> int:
    print(json.dumps(payload, indent=2, sort_keys=True) if args.json else human())
    return 0


def _event_line(e: AuditEvent) -> str:
    return f"{e.at}  {e.actor}  {e.action}  {e.from_status or '-'} -> {e.to_status}: {e.reason}"


def _metric(mv: ModelVersion, key: str, signed: bool = False) -> str:
    value = mv.metrics.get(key)
    return "-" if value is None else f"{value:{'+' if signed else ''}.4f}"


def _table(versions: list[ModelVersion], group: str) -> str:
    if not versions:
        return f"no versions in group {group!r}"
    rows = [("VERSION", "STATUS", "CREATED", "MACRO_F1", "BASELINE_F1", "MARGIN", "ACCURACY",
             "PACKAGE")]
    rows += [(str(v.version), v.status, v.created_at[:19], _metric(v, "macro_f1"),
              _metric(v, "baseline_macro_f1"), _metric(v, "margin_macro_f1", signed=True),
              _metric(v, "accuracy"), v.package_sha256[:12]) for v in versions]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _details(mv: ModelVersion, events: list[AuditEvent]) -> str:
    lines = [f"group: {mv.group}", f"version: {mv.version}", f"status: {mv.status}",
             f"created: {mv.created_at}", f"artifact: {mv.artifact_uri}",
             f"evaluation: {mv.evaluation_uri}", f"package sha256: {mv.package_sha256}"]
    if mv.arn:
        lines.append(f"arn: {mv.arn}")
    lines.append("metrics:")
    lines += [f"  {k}: {int(v) if k == 'n' else f'{v:.4f}'}" for k, v in sorted(mv.metrics.items())]
    lines.append("lineage:")
    lines += [f"  {k}: {v}" for k, v in sorted(mv.lineage.items())]
    lines.append("reasons:" + ("" if mv.reasons else " none"))
    lines += [f"  - {r}" for r in mv.reasons]
    lines.append("history:")
    lines += [f"  {_event_line(e)}" for e in events]
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    """``models list [--status S]``"""
    registry = _registry(args)
    versions = registry.list(args.status)
    return _emit(args, [v.to_dict() for v in versions], lambda: _table(versions, registry.group))


def cmd_show(args: argparse.Namespace) -> int:
    """``models show VERSION``"""
    registry = _registry(args)
    mv = registry.resolve(args.version)
    events = registry.history(mv.version)
    payload = {**mv.to_dict(), "history": [e.to_dict() for e in events]}
    return _emit(args, payload, lambda: _details(mv, events))


def _set_status(args: argparse.Namespace, status: str) -> int:
    registry = _registry(args)
    target = registry.resolve(args.version)
    mv = registry.set_status(target.version, status, args.reason, current_actor(),
                             force=getattr(args, "force", False))
    event = registry.history(mv.version)[-1]
    payload = {**mv.to_dict(), "event": event.to_dict()}
    return _emit(args, payload, lambda: f"{mv.group} version {mv.version}: {_event_line(event)}")


def _announce(args: argparse.Namespace, version: Any) -> list[str]:
    """Hand the Approved ``version`` off to the ``deploy.handoff_to`` accounts; one line each."""
    from medtx.config import load_settings
    from medtx.deploy.handoff import announce

    receipts = announce(load_settings(args.config), version)
    return [f"handed off to {r.target} (event {r.event} {r.event_id})" for r in receipts]


def cmd_approve(args: argparse.Namespace) -> int:
    """``models approve VERSION --reason TEXT [--force]``; then the hand-off, if configured."""
    code = _set_status(args, APPROVED)
    version = _registry(args).resolve(args.version)
    for line in _announce(args, version):
        print(line, file=sys.stderr if args.json else sys.stdout)
    return code


def cmd_announce(args: argparse.Namespace) -> int:
    """``models announce VERSION``: repeat the hand-off of an Approved version."""
    lines = _announce(args, _registry(args).resolve(args.version))
    print("\n".join(lines) or "no deploy.handoff_to accounts in this config")
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    """``models reject VERSION --reason TEXT``"""
    return _set_status(args, REJECTED)


def cmd_share(args: argparse.Namespace) -> int:
    """``models share ACCOUNT_ID...``: the group's resource policy for cross-account readers."""
    from medtx.errors import RegistryError

    registry = _registry(args)
    if not hasattr(registry, "share_with"):
        raise RegistryError("models share needs registry.backend 'sagemaker' (a model package group)")
    policy = registry.share_with(args.account_ids)
    return _emit(args, policy, lambda: f"{registry.group}: readable by {', '.join(args.account_ids)}")


def cmd_history(args: argparse.Namespace) -> int:
    """``models history VERSION``"""
    registry = _registry(args)
    events = registry.history(registry.resolve(args.version).version)
    return _emit(args, [e.to_dict() for e in events],
                 lambda: "\n".join(_event_line(e) for e in events))


def add_models_parser(subparsers: Any) -> None:
    """Register ``models`` and its sub-commands; each sets ``func(args) -> exit code``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=DEFAULT_CONFIG,
                        help="settings file (default: %(default)s)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    models = subparsers.add_parser("models",
                                   help="list, inspect, approve and reject model versions")
    sub = models.add_subparsers(dest="models_command", metavar="COMMAND", required=True)
    ref_help = "a version number, 'latest' or 'approved'"

    p = sub.add_parser("list", parents=[common], help="list versions")
    p.add_argument("--status", default=None, help="only versions with this status")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", parents=[common], help="one version with its audit trail")
    p.add_argument("version", help=ref_help)
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("approve", parents=[common], help="approve a version")
    p.add_argument("version", help=ref_help)
    p.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    p.add_argument("--force", action="store_true", help=f"approve a {REJECTED} version")
    p.set_defaults(func=cmd_approve)
    p = sub.add_parser("reject", parents=[common], help="reject a version")
    p.add_argument("version", help=ref_help)
    p.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    p.set_defaults(func=cmd_reject)
    p = sub.add_parser("announce", parents=[common], help="hand an Approved version off to the "
                       "deploy.handoff_to accounts again (approve does it once)")
    p.add_argument("version", help=ref_help)
    p.set_defaults(func=cmd_announce)
    p = sub.add_parser("share", parents=[common], help="let other AWS accounts read the group "
                       "(model-package-group resource policy; sagemaker registry)")
    p.add_argument("account_ids", nargs="+", help="12-digit AWS account ids")
    p.set_defaults(func=cmd_share)
    p = sub.add_parser("history", parents=[common], help="audit trail of a version")
    p.add_argument("version", help=ref_help)
    p.set_defaults(func=cmd_history)
