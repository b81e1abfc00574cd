"""The ``medtx`` command: score and query models, check data, manage the registry.

    medtx evaluate --model approved --data notes.csv --labels spec12 --json
    medtx predict  --model latest --text "..."
    medtx validate --data notes.csv --labels all40
    medtx models list --status Approved
    medtx demo-data demo.csv
    medtx labels import reviewed.csv
    medtx monitor windows
    medtx pipeline --traffic 300

Errors print one line on stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Optional

from medtx.errors import MedtxError


def build_parser() -> argparse.ArgumentParser:
    """The parser of every verb group (cli/predict.py, cli/data.py, cli/models.py)."""
    from medtx.cli import data, endpoints, models, monitor, pipeline, predict, serve

    parser = argparse.ArgumentParser(prog="medtx", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    predict.add_parsers(sub)
    data.add_parsers(sub)
    models.add_models_parser(sub)
    endpoints.add_parsers(sub)
    serve.add_parsers(sub)
    monitor.add_parsers(sub)
    pipeline.add_parsers(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except MedtxError as exc:
        print(f"medtx: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `medtx models list --json | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
