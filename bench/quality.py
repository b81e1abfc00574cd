"""Quality of a training profile on the real data: model, baseline and the single-label ceiling.

Runs TrainFlow's own stage functions (ingest, data checks, split, tokenize, fine-tune,
baseline, evaluate) on a CSV for one or more label presets, prints a table and writes JSON.

    python bench/quality.py                                   # configs/local.json, spec12
    python bench/quality.py --labels spec12 all40
    python bench/quality.py --config configs/dev.json          # the GPU profile, on a GPU host
    python bench/quality.py --set train.epochs=5 --set model.long_note='"chunks"'
    python bench/quality.py --baseline-only --labels all40     # seconds: no fine-tuning
    python bench/quality.py --set model.wide=baseline_scores --out bench/recipes/<name>.json
    python bench/quality.py --table bench/recipes/*.json       # the recipe table, printed
    python bench/quality.py --table bench/recipes/*.json --write docs/recipes.md

Every recipe tried is kept as one JSON file under ``bench/recipes/`` (metrics and settings,
no note text); ``--table`` renders them as a Markdown table, and ``--write PAGE`` puts that table
into PAGE between the ``<!-- recipes:start -->`` and ``<!-- recipes:end -->`` lines, leaving the
prose around it as it is.

The quality target is test macro-F1 >= 0.80 on spec12 with the model beating the same-run
baseline. ``ceiling`` rows are the best any single-label classifier can score on the same
test rows (:func:`medtx.evaluation.ceiling.label_ceiling`): a note filed under two specialties is two
test rows with one prediction between them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
try:
    import medtx  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

TARGET_MACRO_F1 = 0.80
DEFAULT_SEED = 42  # the split and training seed of every table row unless it says otherwise
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mtsamples.csv"
TABLE_START, TABLE_END = "<!-- recipes:start -->", "<!-- recipes:end -->"


def parse_overrides(items: list[str]) -> dict:
    """``section.key=value`` items as ``{section: {key: value}}``, read and checked exactly as a
    flow's ``--set`` is (JSON values, else text; unknown keys refused)."""
    from medtx.config import parse_overrides as parse_set
    from medtx.config.overrides import check_keys, nest
    from medtx.errors import ConfigError

    try:
        flat = parse_set(items)
        check_keys(flat)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    return nest(flat)


def paired_margin(model_scores: np.ndarray, base_scores: np.ndarray, y: np.ndarray,
                  groups: list, resamples: int = 1000, seed: int = 0) -> dict:
    """The model's test macro-F1 minus the baseline's, with a 95% paired bootstrap interval that
    resamples distinct notes (a note's rows stay together), and how often the model is ahead.
    Macro-F1 is the evaluation's (:func:`medtx.evaluation.metrics.macro_f1`)."""
    from medtx.evaluation.metrics import macro_f1

    y = np.asarray(y)
    pm, pb = np.asarray(model_scores).argmax(axis=1), np.asarray(base_scores).argmax(axis=1)
    _, note = np.unique(np.asarray(groups), return_inverse=True)
    rows_of = [np.flatnonzero(note == g) for g in range(note.max() + 1)]
    rng = np.random.default_rng(seed)
    k = int(max(y.max(), pm.max(), pb.max())) + 1

    def gap(idx: np.ndarray) -> float:  # the evaluation's macro-F1 on each resample
        return macro_f1(y[idx], pm[idx], k) - macro_f1(y[idx], pb[idx], k)

    draws = np.array([gap(np.concatenate([rows_of[g] for g in rng.integers(0, len(rows_of), len(rows_of))]))
                      for _ in range(resamples)])
    return {"point": gap(np.arange(len(y))), "low": float(np.quantile(draws, 0.025)),
            "high": float(np.quantile(draws, 0.975)), "p_model_ahead": float((draws > 0).mean()),
            "resamples": resamples}


def run_preset(settings, data: str, preset: str, baseline_only: bool, cache: Path) -> dict:
    """Every stage once for one label preset; returns the JSON row of the run."""
    from medtx.data.prepare import prepare
    from medtx.stages import train as stages

    settings = settings.with_overrides(labels={"preset": preset})
    seconds: dict = {}
    t0 = time.perf_counter()
    split = prepare(settings, data).split
    seconds["data"] = time.perf_counter() - t0
    base = stages.baseline(split, settings)
    seconds["baseline"] = base.seconds
    systems = {"baseline": stages.score_system("baseline", base.val_scores, base.test_scores, split)}
    history, margin = None, None
    if not baseline_only:
        tok = stages.tokenize(split, settings, cache)
        seconds["tokenize"] = tok.seconds
        ft = stages.finetune(split, tok, settings, "bench/quality")
        seconds["finetune"] = ft.seconds
        systems["model"] = stages.score_system("model", ft.val_logits, ft.test_logits, split)
        history = {"best_epoch": ft.best_epoch, "device": ft.device, "precision": ft.precision,
                   "epochs": list(ft.history)}
        margin = paired_margin(ft.test_logits, base.test_scores, split.y("test"),
                               list(split.test["group"]))
    ceiling = stages.split_ceiling(split).to_dict()
    summary = {name: {k: getattr(m, k) for k in ("accuracy", "macro_f1", "weighted_f1",
                                                 "any_label_accuracy", "ece_before", "ece_after", "n")}
               for name, m in systems.items()}
    model_f1 = summary.get("model", {}).get("macro_f1")
    return {
        "labels": preset,
        "classes": len(split.labels),
        "sizes": {side: int(len(split.frame(side))) for side in ("train", "val", "test")},
        "systems": summary,
        "ceiling": ceiling,
        "target": {  # the quality target is set for spec12 only
            "macro_f1": TARGET_MACRO_F1 if preset == "spec12" else None,
            "met": None if model_f1 is None or preset != "spec12" else bool(
                model_f1 >= TARGET_MACRO_F1 and model_f1 > summary["baseline"]["macro_f1"]),
        },
        "training": history,
        "margin": margin,  # model - baseline test macro-F1, paired bootstrap over notes
        "seconds": seconds,
    }


def print_table(rows: list[dict]) -> None:
    head = f"{'labels':<7} {'system':<9} {'n':>4} {'acc':>6} {'macroF1':>8} {'anyLab':>7} {'ECE':>6}"
    print(head)
    print("-" * len(head))
    for row in rows:
        for name, m in row["systems"].items():
            print(f"{row['labels']:<7} {name:<9} {m['n']:>4} {m['accuracy']:>6.3f} {m['macro_f1']:>8.3f} "
                  f"{m['any_label_accuracy']:>7.3f} {m['ece_after']:>6.3f}")
        c = row["ceiling"]
        print(f"{row['labels']:<7} {'ceiling':<9} {c['rows']:>4} {c['accuracy']:>6.3f} {c['macro_f1']:>8.3f} "
              f"{'':>7} {'':>6}   ({c['multi_label_notes']} of {c['notes']} notes carry several labels)")
    for row in rows:
        m = row.get("margin")
        if m:
            print(f"{row['labels']}: model - baseline macro-F1 {m['point']:+.3f}, 95% paired bootstrap "
                  f"interval {m['low']:+.3f} .. {m['high']:+.3f}; model ahead in "
                  f"{m['p_model_ahead']:.0%} of {m['resamples']} resamples of the test notes")
    for row in rows:
        met = row["target"]["met"]
        if met is not None:
            print(f"{row['labels']}: target macro-F1 >= {TARGET_MACRO_F1:.2f} and above the baseline: "
                  f"{'met' if met else 'not met'}")


def _recipe(doc: dict) -> str:
    """What makes the recipe, from the run's full settings (not from a config file that may
    have changed since): window, pooling, wide branch, targets, sampling, optimisation."""
    m, t = doc["settings"]["model"], doc["settings"]["train"]
    window = f"{m['long_note']} {m['max_length']}"
    if m["long_note"] == "chunks":
        window += f" x{m['max_chunks']} ({t.get('window_sampling', 'all')})"
    lr = f"lr {t['learning_rate']:g}"
    if t.get("head_learning_rate"):
        lr += f", head {t['head_learning_rate']:g}"
    if t.get("layer_decay", 1.0) != 1.0:
        lr += f", layer decay {t['layer_decay']:g}"
    parts = [window, f"{m.get('pooling', 'model')} pooling", f"wide {m.get('wide', 'none')}",
             f"{t.get('targets', 'single')} targets", lr, f"≤{t['epochs']} ep., patience {t['patience']}"]
    if t.get("class_weights", "balanced") != "balanced":  # every kept run so far is balanced
        parts.append(f"class weights {t['class_weights']}")
    if t.get("seed", DEFAULT_SEED) != DEFAULT_SEED:  # same data, another draw of the run
        parts.append(f"training seed {t['seed']}")
    if _split_seed(doc) != DEFAULT_SEED:  # another test side: not comparable row for row
        parts.append(f"split seed {_split_seed(doc)}")
    return ", ".join(parts)


def _split_seed(doc: dict) -> int:
    return doc["settings"].get("split", {}).get("seed", DEFAULT_SEED)


def _margin(res: dict, model: dict, base: dict) -> str:
    m = res.get("margin")
    point = f"{model['macro_f1'] - base['macro_f1']:+.3f}"
    return point if not m else f"{point} ({m['low']:+.3f} .. {m['high']:+.3f})"


def recipe_table(paths: list[Path]) -> str:
    """Markdown rows, one per (file, label preset) with a fine-tuned model, best macro-F1 first
    (rows of another split seed after those of the default split): the model against the
    baseline of the same run, the profile (device) and the fine-tune time."""
    rows = []
    for path in paths:
        doc = json.loads(Path(path).read_text())
        for res in doc["results"]:
            model, base = res["systems"].get("model"), res["systems"]["baseline"]
            if model is None:
                continue
            training = res.get("training") or {}
            device = str(training.get("device", "?"))
            profile = "GPU" if device.startswith("cuda") else "CPU" if device == "cpu" else device
            epochs = training.get("epochs") or []
            minutes = res["seconds"].get("finetune", 0.0) / 60
            split_seed = _split_seed(doc)
            order = (res["labels"], split_seed != DEFAULT_SEED, split_seed, -model["macro_f1"])
            rows.append((order, f"| {Path(path).stem} | {res['labels']} | {_recipe(doc)} "
                         f"| {profile} | {minutes:.0f} min ({len(epochs)} ep., best {training.get('best_epoch')}) "
                         f"| {model['accuracy']:.3f} | {model['macro_f1']:.3f} | {model['any_label_accuracy']:.3f} "
                         f"| {base['macro_f1']:.3f} | {_margin(res, model, base)} |"))
    head = ("| recipe | labels | settings | profile | fine-tune | accuracy | macro-F1 "
            "| any-label acc. | baseline macro-F1 | margin (95% interval) |\n|---|---|---|---|---|---|---|---|---|---|")
    return "\n".join([head] + [r for _, r in sorted(rows, key=lambda r: r[0])])


def write_table(page: Path, table: str) -> None:
    """Replace what lies between the marker lines of ``page`` with ``table`` (a blank line either
    side); the rest of the page is kept byte for byte. A page without exactly one start marker
    followed by one end marker is an error naming both, and nothing is written."""
    text = page.read_text(encoding="utf-8")
    counts = (text.count(TABLE_START), text.count(TABLE_END))
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if counts != (1, 1) or end < start:
        raise SystemExit(f"{page}: the recipe table goes between one {TABLE_START} line and one "
                         f"{TABLE_END} line after it; found {counts[0]} start and {counts[1]} end marker(s)")
    head, tail = text[:start + len(TABLE_START)], text[end:]
    page.write_text(f"{head}\n\n{table}\n\n{tail}", encoding="utf-8")  # blank lines: a table, not HTML


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.environ.get("MEDTX_REAL_DATA", str(DEFAULT_DATA)),
                   help="notes CSV (default: $MEDTX_REAL_DATA or ../shared/data/mtsamples.csv)")
    from medtx.config.paths import default_config

    p.add_argument("--config", type=Path, default=Path(default_config()))
    p.add_argument("--labels", nargs="+", default=["spec12"], choices=["spec12", "all40"])
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=JSON",
                   help="override one config key (repeatable)")
    p.add_argument("--baseline-only", action="store_true", help="skip tokenization and fine-tuning")
    p.add_argument("--cache", type=Path, default=ROOT / ".medtx" / "cache" / "tokens")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality.json")
    p.add_argument("--table", nargs="+", type=Path, metavar="JSON",
                   help="print the Markdown recipe table of these result files and exit")
    p.add_argument("--write", type=Path, metavar="PAGE",
                   help=f"with --table: write the table into PAGE between {TABLE_START} and {TABLE_END}")
    args = p.parse_args(argv)
    if args.write and not args.table:
        p.error("--write needs --table (the result files whose table it writes)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.table:
        table = recipe_table(args.table)
        if args.write:
            write_table(args.write, table)
            print(f"wrote the table of {len(args.table)} result file(s) into {args.write}")
        else:
            print(table)
        return 0
    if not args.data.startswith("s3://") and not Path(args.data).is_file():
        print(f"no data at {args.data}: pass --data or set MEDTX_REAL_DATA", file=sys.stderr)
        return 2
    from medtx.config import load_settings
    from medtx.flowkit.runtime import setup_logging

    setup_logging()
    settings = load_settings(args.config)
    overrides = parse_overrides(args.set)
    if overrides:
        settings = settings.with_overrides(**overrides)
    started = time.perf_counter()
    rows = [run_preset(settings, args.data, preset, args.baseline_only, args.cache) for preset in args.labels]
    print_table(rows)
    doc = {
        "bench": "quality", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": str(args.config), "overrides": overrides, "settings": settings.to_dict(),
        "data": args.data, "host": platform.node(), "python": platform.python_version(),
        "seconds": time.perf_counter() - started, "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, sort_keys=True, default=float) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
