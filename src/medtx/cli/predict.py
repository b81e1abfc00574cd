"""``medtx evaluate`` and ``medtx predict``: a packaged model on labelled notes or on new text."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from medtx.cli.common import add_common, load_settings_for, model_help
from medtx.config import Settings


def _load_predictor(ref: str, settings: Settings) -> Any:
    from medtx.modeling.predictor import Predictor
    from medtx.registry.refs import resolve_model_ref

    return Predictor.load(resolve_model_ref(ref, settings))


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on any CSV, over distinct (text, label) pairs after the label policy."""
    from medtx.data.prepare import prepare
    from medtx.evaluation.scoring import score_predictor

    settings = load_settings_for(args)
    predictor = _load_predictor(args.model, settings)
    prepared = prepare(settings, args.data, split=False)
    scores = score_predictor(predictor, prepared.notes)
    out = {k: v for k, v in scores.headline().items() if k != "weighted_f1"}
    # the best any single-label classifier could score on these rows (notes filed under several
    # specialties count once per label); only defined when every label is one the model knows
    out["ceiling"] = None if scores.ceiling is None else {
        k: getattr(scores.ceiling, k) for k in ("accuracy", "macro_f1", "multi_label_notes")}
    out["labels_unknown_to_model"] = list(scores.labels_unknown_to_model)
    out["quarantined_rows"] = int(prepared.report.counts.get("quarantined", 0))
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        for key, value in out.items():
            print(f"{key:>26}: {value}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Label and class probabilities for one note (or one note per line of --file), or batch
    prediction of a CSV (--input/--output)."""
    settings = load_settings_for(args)
    if args.input is not None and _on_sagemaker(settings, args):
        return _predict_sagemaker(settings, args)
    predictor = _load_predictor(args.model, settings)
    if args.input is not None:
        return _predict_csv(predictor, settings, args)
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


def _on_sagemaker(settings: Settings, args: argparse.Namespace) -> bool:
    """True when ``--input`` is an s3:// URI: a SageMaker batch transform (sagemaker registry,
    s3:// ``--output``); local paths keep predicting locally."""
    from medtx.errors import IngestError

    s3_in, s3_out = str(args.input).startswith("s3://"), str(args.output or "").startswith("s3://")
    if not s3_in:
        if s3_out:
            raise IngestError("an s3:// --output needs an s3:// --input (a SageMaker batch "
                              "transform); a local --input writes a local predictions CSV")
        return False
    if settings.registry.backend != "sagemaker":
        raise IngestError("an s3:// --input runs a SageMaker batch transform, which needs "
                          f"registry.backend 'sagemaker' (this config: "
                          f"{settings.registry.backend!r}); copy the CSV locally to predict here")
    if not s3_out:
        raise IngestError("an s3:// --input needs an s3:// --output prefix for the transform output")
    return True


def _predict_sagemaker(settings: Settings, args: argparse.Namespace) -> int:
    """``--input``/``--output`` in S3: a SageMaker batch transform of the registry version."""
    from medtx.deploy.batch import run_transform
    from medtx.errors import ModelLoadError
    from medtx.registry import factory
    from medtx.registry.base import is_version_ref

    if not is_version_ref(args.model):
        raise ModelLoadError(f"model {args.model!r}: a SageMaker batch transform needs a registry "
                             "version (N, latest or approved)")
    version = factory.open_registry(settings).resolve(args.model)
    result = run_transform(settings, version, args.input, args.output)
    print(json.dumps(result.to_dict()) if args.json else result.output_uri)
    return 0


BATCH_ROWS = 256  # notes read, predicted and written per step of a batch prediction


def _predict_csv(predictor: Any, settings: Settings, args: argparse.Namespace) -> int:
    """Predict every row of ``--input`` into ``--output``: row, label, confidence, top-k as JSON
    and an error column for rows that cannot be predicted (kept, never dropped)."""
    import csv

    import pandas as pd
    from tqdm.auto import tqdm

    from medtx.errors import IngestError

    if not args.output:
        raise IngestError("--input needs --output (the predictions CSV to write)")
    try:
        frame = pd.read_csv(args.input, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise IngestError(f"cannot read {args.input} as CSV: {type(exc).__name__}") from None
    column = next((c for c in (settings.data.text_field, "text") if c in frame.columns), None)
    if column is None:
        raise IngestError(f"{args.input} has no {settings.data.text_field!r} or 'text' column "
                          f"(columns: {list(frame.columns)[:8]})")
    k = min(settings.serving.top_k, len(predictor.labels))
    with open(args.output, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["row", "label", "confidence", "top_k", "error"])
        for start in tqdm(range(0, len(frame), BATCH_ROWS), desc="predict", unit_scale=BATCH_ROWS,
                          disable=args.json):
            texts = frame[column].iloc[start:start + BATCH_ROWS].tolist()
            ok = [i for i, t in enumerate(texts) if t.strip()]
            probs = predictor.predict_proba([texts[i] for i in ok]) if ok else []
            by_row = dict(zip(ok, probs))
            for i in range(len(texts)):
                if i not in by_row:
                    out.writerow([start + i, "", "", "", "empty note"])
                    continue
                top = sorted(zip(predictor.labels, by_row[i]), key=lambda kv: -kv[1])[:k]
                out.writerow([start + i, top[0][0], f"{top[0][1]:.6f}",
                              json.dumps({lab: round(float(p), 6) for lab, p in top}), ""])
    print(json.dumps({"rows": len(frame), "output": str(args.output)}) if args.json else args.output)
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``evaluate`` and ``predict``."""
    p = sub.add_parser("evaluate", help="score a model on a CSV")
    p.add_argument("--model", required=True, help=model_help)
    p.add_argument("--data", required=True, help="mtsamples-format CSV: path or s3:// URI")
    add_common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predict the specialty of a note")
    p.add_argument("--model", required=True, help=model_help)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--text", help="the note text")
    group.add_argument("--file", help="a UTF-8 file with one note per line")
    group.add_argument("--input", help="batch prediction: a CSV with a transcription (or text) "
                       "column; an s3:// URI (or prefix) runs a SageMaker batch transform (needs "
                       "registry.backend sagemaker and an s3:// --output)")
    p.add_argument("--output", help="with --input: the predictions CSV to write, or the s3:// "
                   "prefix a SageMaker batch transform writes (one JSON line per input line)")
    add_common(p, labels=False)
    p.set_defaults(func=cmd_predict)
