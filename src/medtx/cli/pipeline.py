"""``medtx pipeline``: the whole loop on a laptop, with the trigger payloads Argo would pass.

    medtx pipeline                                  # train -> deploy (if approved) -> monitor
    medtx pipeline --traffic 300                    # send 300 held-out notes before monitoring
    medtx pipeline --traffic 300 --shift truncate --retrain   # drift, and the retrain it starts
    medtx pipeline --set train.epochs=1             # every flow of the loop runs with the change
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from medtx.cli.common import add_config, overrides_of


def cmd_pipeline(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from medtx.rehearsal.loop import run_pipeline

    steps = run_pipeline(args.config, args.data, args.traffic, args.shift, args.retrain,
                         show_output=not args.quiet, overrides=overrides_of(args))
    if args.json:
        print(json.dumps([asdict(s) for s in steps], indent=2))
    return 0


def add_parsers(sub: Any) -> None:
    from medtx.rehearsal.traffic import SHIFTS

    p = sub.add_parser("pipeline", help="rehearse train -> deploy -> monitor (-> retrain) locally")
    add_config(p)  # --set reaches every flow of the loop as its own --set
    p.add_argument("--data", default="", help="training CSV (default: config data.path, else demo)")
    p.add_argument("--traffic", type=int, default=0, help="synthetic held-out notes to send to "
                   "the monitored local endpoint before MonitorFlow (default: none)")
    p.add_argument("--shift", choices=SHIFTS, default="none", help="how that traffic differs "
                   "from training: none, truncate (notes cut to 160 characters), template (no "
                   "section headers)")
    p.add_argument("--retrain", action="store_true", help="let MonitorFlow start TrainFlow when "
                   "its retrain rule fires")
    p.add_argument("--quiet", action="store_true", help="do not stream the flows' output")
    p.add_argument("--json", action="store_true", help="print the steps as JSON at the end")
    p.set_defaults(func=cmd_pipeline)
