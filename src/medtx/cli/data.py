"""``medtx validate`` and ``medtx demo-data``: the data checks alone, and the demo set as CSV."""
from __future__ import annotations

import argparse
import json
from typing import Any

from medtx.cli.common import add_common, load_settings_for
from medtx.config import DataSettings


def cmd_validate(args: argparse.Namespace) -> int:
    """Run the data checks only; exit 2 when a table-level check fails."""
    from medtx.data.prepare import prepare

    summary = prepare(load_settings_for(args), args.data, split=False).report.summary()
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True, default=str))
    else:
        for check in summary["checks"]:
            verdict = "PASS" if check["passed"] else "FAIL"
            print(f"{verdict}  {check['level']:<5} {check['name']}: {check['unexpected']} rows")
        print(json.dumps(summary["counts"], sort_keys=True))
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    """Write the built-in synthetic demo set as a CSV."""
    from medtx.data.demo import write_demo_csv

    print(write_demo_csv(args.out, n=args.n, seed=args.seed))
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``validate`` and ``demo-data``."""
    p = sub.add_parser("validate", help="run the data checks on a CSV")
    p.add_argument("--data", required=True, help="mtsamples-format CSV: path or s3:// URI")
    add_common(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("demo-data", help="write the synthetic demo set as CSV")
    p.add_argument("out", help="output CSV path")
    p.add_argument("--n", type=int, default=DataSettings().demo_notes,
                   help="number of notes (default: %(default)s, as data.demo_notes)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo_data)
