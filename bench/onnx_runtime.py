"""fp32 torch vs int8 ONNX Runtime for one model package: speed, agreement and test quality.

Exports the package's int8 ONNX model if it has none (on a copy unless ``--in-place``), then
measures both runtimes on the same notes: single-note p50 latency, notes/s in batches of 32,
argmax agreement with fp32, accuracy and macro-F1 on the test split. Prints a table and writes
JSON under ``bench/results/``.

    python bench/onnx_runtime.py                                # newest .medtx/runs/*/model
    python bench/onnx_runtime.py --model /tmp/spec12-runs/<run>/model
    python bench/onnx_runtime.py --csv notes.csv                # columns text,label[,group]
    python bench/onnx_runtime.py --data demo --model <demo-trained package>
    python bench/onnx_runtime.py --study                        # also compare quantisation recipes

The default notes are the real spec12 test split (``medtx.data.prepare`` with configs/local.json).
The target: int8 macro-F1 within 0.01 of fp32 on that split.
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
try:
    import medtx  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mtsamples.csv"
TARGET_F1_GAP = 0.01

# Quantisation recipes compared by --study (the first is the plain quantize_dynamic default).
STUDY = {
    "default (all ops, per-tensor)": {"optimizer": None, "quantization": {
        "mode": "dynamic", "weight_type": "QInt8", "per_channel": False, "op_types": None}},
    "per-channel, all ops": {"optimizer": None, "quantization": {
        "mode": "dynamic", "weight_type": "QInt8", "per_channel": True, "op_types": None}},
    "per-tensor, MatMul only": {"optimizer": None, "quantization": {
        "mode": "dynamic", "weight_type": "QInt8", "per_channel": False, "op_types": ["MatMul"]}},
    "per-channel, MatMul only": {"optimizer": None, "quantization": {
        "mode": "dynamic", "weight_type": "QInt8", "per_channel": True, "op_types": ["MatMul"]}},
    "fused + per-channel, MatMul only": {"optimizer": "bert-python-fusions", "quantization": {
        "mode": "dynamic", "weight_type": "QInt8", "per_channel": True, "op_types": ["MatMul"]}},
    "fused + per-channel, MatMul only, FFN output fp32 (chosen)": None,  # RECIPE itself
    "fused + per-channel, all ops, FFN output fp32": {
        "optimizer": "bert-python-fusions", "quantization": {
            "mode": "dynamic", "weight_type": "QInt8", "per_channel": True,
            "op_types": None, "fp32_ffn_output": True}},
    "fused + per-tensor, MatMul only": {"optimizer": "bert-python-fusions", "quantization": {
        "mode": "dynamic", "weight_type": "QInt8", "per_channel": False, "op_types": ["MatMul"]}},
}


def newest_package() -> Path:
    runs = sorted((ROOT / ".medtx" / "runs").glob("*/model/manifest.json"),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SystemExit("no package under .medtx/runs/*/model; pass --model")
    return runs[-1].parent


def load_notes(args) -> tuple:
    """(frame with text/label/group, description)."""
    import pandas as pd

    if args.csv:
        frame = pd.read_csv(args.csv)
        if "group" not in frame.columns:
            frame["group"] = range(len(frame))
        return frame[["text", "label", "group"]], f"csv:{Path(args.csv).name}"
    from medtx.config import load_settings
    from medtx.data.prepare import prepare

    settings = load_settings(str(ROOT / "configs" / "local.json"))
    source = None if args.data == "demo" else args.data  # None: the built-in demo set
    split = prepare(settings.with_overrides(labels={"preset": args.labels}), source).split
    return split.test, f"{Path(args.data).name}:{args.labels}:test"


def timings(predictor, texts: list[str], singles: int, batch: int) -> dict:
    """Single-note p50/p90 latency (ms) and notes/s in batches of ``batch``."""
    predictor.predict_proba(texts[:2])  # warm-up
    lat = []
    for t in texts[:singles]:
        t0 = time.perf_counter()
        predictor.predict_proba([t])
        lat.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    for s in range(0, len(texts), batch):
        predictor.predict_proba(texts[s:s + batch])
    secs = time.perf_counter() - t0
    lat.sort()
    return {"p50_ms": statistics.median(lat), "p90_ms": lat[int(0.9 * (len(lat) - 1))],
            "notes_per_s": len(texts) / secs}


def quality(predictor, notes, ref_proba: np.ndarray | None) -> tuple[dict, np.ndarray]:
    from medtx.evaluation.scoring import score_predictor

    t0 = time.perf_counter()
    proba = predictor.predict_proba(list(notes["text"]))
    secs = time.perf_counter() - t0
    s = score_predictor(_Fixed(predictor.labels, proba), notes)
    row = {"accuracy": s.accuracy, "macro_f1": s.macro_f1, "n": s.n,
           "pass_notes_per_s": len(notes) / secs}
    if ref_proba is not None:
        row["agreement"] = float((proba.argmax(1) == ref_proba.argmax(1)).mean())
        row["max_abs_proba_diff"] = float(np.abs(proba - ref_proba).max())
    return row, proba


class _Fixed:
    """Precomputed probabilities behind the predictor interface score_predictor reads."""

    def __init__(self, labels, proba):
        self.labels, self._proba = list(labels), proba

    def predict_proba(self, texts):
        return self._proba


def study(pkg: Path, notes, ref_proba: np.ndarray, threads: int) -> dict:
    """Agreement and macro-F1 of each quantisation recipe in STUDY (fp32 ONNX included)."""
    from medtx.modeling.onnx_export import RECIPE, _export_fp32, _optimize, quantize
    from medtx.modeling.onnx_runtime import OnnxPredictor, _load_tokenizer, make_session
    from medtx.modeling.package import read_meta
    from medtx.modeling.wide import load_wide

    meta, tok = read_meta(pkg), _load_tokenizer(pkg)
    wide = load_wide(pkg, meta)
    out = {}

    def measure(name: str, model: Path) -> None:
        pred = OnnxPredictor(make_session(model, threads), tok, meta, wide=wide)
        out[name], _ = quality(pred, notes, ref_proba)
        out[name]["size_mb"] = model.stat().st_size / 2**20
        print(f"  {name:52s} agree {out[name]['agreement']:.3f}  macro-F1 "
              f"{out[name]['macro_f1']:.4f}  max|dp| {out[name]['max_abs_proba_diff']:.3f}  "
              f"{out[name]['size_mb']:.0f} MB  {out[name]['pass_notes_per_s']:.0f} notes/s",
              flush=True)

    with tempfile.TemporaryDirectory(prefix="medtx-onnx-study-") as tmp:
        work = Path(tmp)
        facts = _export_fp32(pkg, work / "fp32.onnx")
        _optimize(work / "fp32.onnx", work / "fused.onnx", facts)
        measure("fp32 ONNX (no quantisation)", work / "fp32.onnx")
        for i, (name, recipe) in enumerate(STUDY.items()):
            recipe = RECIPE if recipe is None else {**copy.deepcopy(RECIPE), **recipe}
            src = work / ("fused.onnx" if recipe.get("optimizer") else "fp32.onnx")
            quantize(src, work / f"q{i}.onnx", recipe)
            measure(name, work / f"q{i}.onnx")
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="package folder (default: newest .medtx/runs)")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="CSV, or 'demo' for the demo set")
    ap.add_argument("--labels", default="spec12")
    ap.add_argument("--csv", help="labelled notes (text,label[,group]) instead of the test split")
    ap.add_argument("--threads", type=int, default=None, help="threads for both runtimes")
    ap.add_argument("--singles", type=int, default=50, help="notes timed one at a time")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--in-place", action="store_true", help="add the export to --model itself")
    ap.add_argument("--study", action="store_true", help="compare quantisation recipes too")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args(argv)

    import torch

    from medtx.modeling.onnx_runtime import default_threads, export_onnx, load_runtime
    from medtx.modeling.predictor import Predictor

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    src = args.model or newest_package()
    notes, source = load_notes(args)
    texts = list(notes["text"])
    with tempfile.TemporaryDirectory(prefix="medtx-onnx-bench-") as tmp:
        pkg = src if args.in_place else Path(tmp) / "model"
        if not args.in_place:
            shutil.copytree(src, pkg)
        t0 = time.perf_counter()
        export_onnx(pkg)
        export_s = time.perf_counter() - t0
        rows = {}
        fp32 = Predictor.load(pkg, device="cpu", batch_size=args.batch)
        rows["fp32 torch"], ref = quality(fp32, notes, None)
        rows["fp32 torch"].update(timings(fp32, texts, args.singles, args.batch))
        # the ORT session is made after torch is timed: its spinning pool would slow torch
        int8 = load_runtime(pkg, threads=threads, batch_size=args.batch)
        rows["int8 onnx"], _ = quality(int8, notes, ref)
        rows["int8 onnx"].update(timings(int8, texts, args.singles, args.batch))
        int8_mb = (pkg / "onnx" / "model.int8.onnx").stat().st_size / 2**20
        recipes = study(pkg, notes, ref, threads) if args.study else None
    gap = rows["fp32 torch"]["macro_f1"] - rows["int8 onnx"]["macro_f1"]
    result = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "package": str(src), "notes": source, "n_notes": len(texts), "threads": threads,
        "batch": args.batch, "strategy": fp32.strategy.to_dict(), "export_s": export_s,
        "int8_mb": int8_mb, "rows": rows, "macro_f1_gap": gap,
        "target_met": abs(gap) <= TARGET_F1_GAP, "study": recipes,
        "host": {"python": platform.python_version(), "machine": platform.machine(),
                 "torch": torch.__version__,
                 "onnxruntime": __import__("onnxruntime").__version__},
    }
    print(f"\n{source}: {len(texts)} notes, {threads} threads, strategy "
          f"{fp32.strategy.kind}/{fp32.strategy.max_length}, export {export_s:.0f} s, "
          f"int8 file {int8_mb:.1f} MB")
    print("| runtime | p50 ms (1 note) | notes/s (batch 32) | agreement | accuracy | macro-F1 |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['p50_ms']:.1f} | {r['notes_per_s']:.1f} | "
              f"{r.get('agreement', 1.0):.3f} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} |")
    print(f"macro-F1 gap {gap:+.4f} (target |gap| <= {TARGET_F1_GAP}): "
          f"{'met' if result['target_met'] else 'NOT met'}")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"onnx_runtime-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
