"""The ``medtx`` command: score and query models, check data, manage the registry.

    medtx evaluate --model approved --data notes.csv --labels spec12 --json
    medtx predict  --model latest --text "..."
    medtx validate --data notes.csv --labels all40
    medtx models list --status Approved
    medtx demo-data demo.csv

Errors print one line on stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from medtx.config import DataSettings
from medtx.config.paths import default_config
from medtx.errors import MedtxError

DEFAULT_CONFIG = default_config()


def _settings(args: argparse.Namespace):
    from medtx.config import load_settings

    settings = load_settings(args.config)
    if getattr(args, "labels", None):
        settings = settings.with_overrides(labels={"preset": args.labels})
    return settings


def _load_predictor(ref: str, settings):
    from medtx.modeling.predictor import Predictor
    from medtx.cli.models import resolve_model_ref

    return Predictor.load(resolve_model_ref(ref, settings))


def _validated_notes(data: str, settings):
    """Ingest + the same great-expectations suites TrainFlow runs; returns (notes, report)."""
    from medtx.data import checks
    from medtx.data.ingest import ingest
    from medtx.data.labels import resolve_policy

    raw, _ = ingest(data, settings)
    report = checks.validate(raw, settings, resolve_policy(settings.labels))
    return report.notes, report


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on any CSV, over distinct (text, label) pairs after the label policy."""
    import numpy as np

    from medtx.evaluation.calibration import expected_calibration_error
    from medtx.evaluation.ceiling import label_ceiling
    from medtx.evaluation.document import summarize_for_cli
    from medtx.evaluation.metrics import classification_metrics

    settings = _settings(args)
    predictor = _load_predictor(args.model, settings)
    notes, report = _validated_notes(args.data, settings)
    all_labels = notes.groupby("group")["label"].agg(lambda s: sorted(set(s)))
    probs = predictor.predict_proba(list(notes["text"]))
    pred = probs.argmax(axis=1)
    index = {label: i for i, label in enumerate(predictor.labels)}
    unknown = sorted(set(notes["label"]) - set(index))
    # a label the model never learned counts as a miss (id -1), never silently skipped
    y = np.array([index.get(label, -1) for label in notes["label"]])
    metrics = classification_metrics(
        y, pred, list(predictor.labels), list(notes["group"].map(all_labels)),
    )
    known = y >= 0
    metrics["ece"] = float(expected_calibration_error(probs[known], y[known])) if known.any() else None
    out = summarize_for_cli(metrics)
    # the best any single-label classifier could score on these rows (notes filed under several
    # specialties count once per label); only defined when every label is one the model knows
    out["ceiling"] = None if unknown else {
        k: v for k, v in label_ceiling(y, list(notes["group"]), len(predictor.labels)).items()
        if k in ("accuracy", "macro_f1", "multi_label_notes")
    }
    out["labels_unknown_to_model"] = unknown
    out["quarantined_rows"] = int(report.counts.get("quarantined", 0))
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        for key, value in out.items():
            print(f"{key:>26}: {value}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Label and class probabilities for one note (or one note per line of --file)."""
    settings = _settings(args)
    predictor = _load_predictor(args.model, settings)
    if args.text is not None:
        texts = [args.text]
    else:
        texts = [line for line in Path(args.file).read_text(encoding="utf-8").splitlines() if line.strip()]
    results = predictor.predict(texts)
    if args.json:
        print(json.dumps(results if args.file else results[0], indent=2))
    else:
        for r in results:
            top = sorted(r["probabilities"].items(), key=lambda kv: -kv[1])[:3]
            print(f"{r['label']}\t" + "  ".join(f"{k}={v:.3f}" for k, v in top))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Run the data checks only; exit 2 when a table-level check fails."""
    settings = _settings(args)
    _, report = _validated_notes(args.data, settings)
    summary = report.summary()
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True, default=str))
    else:
        for check in summary["checks"]:
            print(f"{'PASS' if check['passed'] else 'FAIL'}  {check['level']:<5} {check['name']}: {check['unexpected']} rows")
        print(json.dumps(summary["counts"], sort_keys=True))
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    """Write the built-in synthetic demo set as a CSV."""
    from medtx.data.demo import write_demo_csv

    path = write_demo_csv(args.out, n=args.n, seed=args.seed)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from medtx.cli.models import add_models_parser

    parser = argparse.ArgumentParser(prog="medtx", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, labels: bool = True) -> None:
        p.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
        if labels:
            p.add_argument("--labels", default=None, help="label preset: all40 | spec12 | custom (default: config)")
        p.add_argument("--json", action="store_true", help="machine-readable JSON output")

    model_help = "model package dir, model.tar.gz, or a registry version: N | latest | approved"
    p = sub.add_parser("evaluate", help="score a model on a CSV")
    p.add_argument("--model", required=True, help=model_help)
    p.add_argument("--data", required=True, help="mtsamples-format CSV: path or s3:// URI")
    common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predict the specialty of a note")
    p.add_argument("--model", required=True, help=model_help)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--text", help="the note text")
    group.add_argument("--file", help="a UTF-8 file with one note per line")
    common(p, labels=False)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("validate", help="run the data checks on a CSV")
    p.add_argument("--data", required=True, help="mtsamples-format CSV: path or s3:// URI")
    common(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("demo-data", help="write the synthetic demo set as CSV")
    p.add_argument("out", help="output CSV path")
    p.add_argument("--n", type=int, default=DataSettings().demo_notes,
                   help="number of notes (default: %(default)s, as data.demo_notes)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo_data)

    add_models_parser(sub)
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
