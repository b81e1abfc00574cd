"""``medtx labels ...`` and ``medtx monitor ...``: ground truth in, monitoring history out.

    medtx labels import reviewed.csv            # CSV, JSON Lines, groundTruthData, Label Studio
    medtx labels import export.json --json
    medtx monitor windows --last 10             # verdicts, drift, quality of recent windows
    medtx monitor show                          # the latest monitor.json

Labels are keyed by capture eventId or inference id (``<id>#<position>`` for one note of a
multi-note request); an id that matches no captured note yet is kept and counted, and joins
when MonitorFlow sees its note.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from medtx.cli.common import add_config, load_settings_for


def _target(args: argparse.Namespace) -> Any:
    from medtx.monitor.target import target_of

    settings = load_settings_for(args)
    if args.stage:
        settings = settings.with_overrides(monitor={"stage": args.stage})
    return settings, target_of(settings)


def cmd_import(args: argparse.Namespace) -> int:
    from medtx.monitor.labels import import_labels
    from medtx.monitor.state import local_state
    from medtx.monitor.store import MonitorStore

    settings, target = _target(args)
    got = import_labels(args.file)
    with local_state(target.state_dir, settings.aws, write=True) as root:
        stored = MonitorStore(root).add_labels(got.labels)
    counts = {**got.counts.to_dict(), "ids": len(got), **stored,
              "not_yet_matched": len(got) - stored["matching_predictions"]}
    if settings.monitor.labels_to_training and len(got):
        from medtx.monitor.training import export_labelled

        counts["training_notes"] = export_labelled(settings, target, got.labels, got.path)
    if args.json:
        print(json.dumps({"file": got.path, "format": got.format, "endpoint": target.endpoint,
                          "counts": counts}, indent=2, sort_keys=True))
        return 0
    print(f"{got.path} ({got.format}) -> {target.endpoint}: {counts['ids']} labelled ids "
          f"({counts['added']} new, {counts['replaced']} replaced); "
          f"{counts['matching_predictions']} match captured notes, {counts['not_yet_matched']} "
          f"not (yet); skipped {counts['skipped']}, conflicts {counts['conflicts']}, "
          f"cancelled annotations {counts['cancelled']}"
          + (f"; {counts['training_notes']} note(s) for the next training set"
             if "training_notes" in counts else ""))
    return 0


def cmd_windows(args: argparse.Namespace) -> int:
    from medtx.monitor.state import local_state
    from medtx.monitor.store import MonitorStore

    settings, target = _target(args)
    with local_state(target.state_dir, settings.aws) as root:
        windows = MonitorStore(root).windows(last=args.last)
    if args.json:
        print(json.dumps([w.to_dict() for w in windows], indent=2, sort_keys=True, default=str))
        return 0
    if not windows:
        print(f"no monitoring windows yet for {target.endpoint}")
    for w in windows:
        f1 = (w.quality or {}).get("macro_f1")
        quality = f"macro-F1 {f1['value']:.3f}" if f1 else f"{(w.quality or {}).get('n_labelled', 0)} labelled"
        fired = "  RETRAIN" if (w.retrain or {}).get("fire") else ""
        print(f"{w.id:>4}  {w.since} .. {w.until}  v{w.model_version}  {w.n_notes:>6} notes  "
              f"{w.verdict}  ({quality}){fired}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from medtx.errors import MonitorError
    from medtx.monitor.state import local_state
    from medtx.stages.monitor import REPORT_FILE

    settings, target = _target(args)
    with local_state(target.state_dir, settings.aws, pull=[f"reports/{REPORT_FILE}"]) as root:
        path = root / "reports" / REPORT_FILE
        if not path.is_file():
            raise MonitorError(f"no {REPORT_FILE} for {target.endpoint} yet (in "
                               f"{target.state_dir}/reports); run flows/monitor_flow.py first")
        print(path.read_text(encoding="utf-8"))
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``labels`` and ``monitor`` with their sub-commands."""
    common = argparse.ArgumentParser(add_help=False)
    add_config(common)
    common.add_argument("--stage", default=None, help="monitored stage (default: monitor.stage)")
    common.add_argument("--json", action="store_true", help="machine-readable JSON output")
    p = sub.add_parser("labels", help="ground truth for captured traffic")
    verbs = p.add_subparsers(dest="labels_command", metavar="COMMAND", required=True)
    q = verbs.add_parser("import", parents=[common], help="import labels keyed by eventId or "
                         "inference id (CSV, JSON Lines, groundTruthData, Label Studio export)")
    q.add_argument("file", help="label file")
    q.set_defaults(func=cmd_import)
    p = sub.add_parser("monitor", help="monitoring history of an endpoint")
    verbs = p.add_subparsers(dest="monitor_command", metavar="COMMAND", required=True)
    q = verbs.add_parser("windows", parents=[common], help="recent windows: verdict, quality")
    q.add_argument("--last", type=int, default=20, help="how many (default: %(default)s)")
    q.set_defaults(func=cmd_windows)
    q = verbs.add_parser("show", parents=[common], help="the latest monitor.json")
    q.set_defaults(func=cmd_show)
