"""Monitoring at scale: time to read N capture records and compute the drift signals.

Writes N synthetic capture records (SageMaker's format, the server's folder layout, spread
over hours) into a temporary folder, then times, separately:
- reading them with the incremental capture reader (parse, de-duplicate, window),
- a second read that finds nothing new (what every later scheduled run costs),
- text descriptors and their KS/chi-square signals against a reference,
- the prediction-side signals,
- the reduced text representation (TF-IDF -> SVD; the "embedding" step, reported apart),
- MMD and classifier two-sample tests on the reduced vectors.

    python bench/monitor_scale.py                 # 10k and 100k records
    python bench/monitor_scale.py --records 10000

Prints a table and writes JSON under bench/results/. The target is 100k records in <= 10 s on
2 cores, excluding the embedding step.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import medtx  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

LABELS = ["Cardiovascular / Pulmonary", "Orthopedic", "Neurology", "Gastroenterology"]
WORDS = ("patient history pain chest knee fracture seizure murmur valve stent colon biopsy "
         "tremor gait exam plan follow up noted stable reports denies mild severe").split()
PER_FILE = 2000  # records per capture file (the server rotates hourly; files hold many)


def _note(rng: random.Random) -> str:
    body = " ".join(rng.choices(WORDS, k=rng.randint(40, 160)))
    return f"HISTORY: {body}. EXAM: {' '.join(rng.choices(WORDS, k=20))}. PLAN: follow up."


def _output(rng: random.Random) -> str:
    weights = [rng.random() for _ in LABELS]
    total = sum(weights)
    probs = {lab: w / total for lab, w in zip(LABELS, weights)}
    label = max(probs, key=probs.get)
    return json.dumps({"predictions": [{"label": label, "probabilities": probs,
                                        "model_group": "medtx-specialty", "model_version": 1}]})


def write_capture(root: Path, n: int, seed: int = 0) -> float:
    """``n`` records under ``root/medtx-prod/AllTraffic/yyyy/mm/dd/hh``; returns seconds."""
    from medtx.serving.capture import capture_record

    t0 = time.perf_counter()
    rng = random.Random(seed)
    start = datetime(2026, 11, 30, tzinfo=timezone.utc)
    for f in range(0, n, PER_FILE):
        when = start + timedelta(hours=f // PER_FILE)
        folder = root / "medtx-prod" / "AllTraffic" / when.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"00-00-000-{f:08d}.jsonl").open("w", encoding="utf-8") as fh:
            for i in range(f, min(f + PER_FILE, n)):
                record = capture_record(json.dumps({"inputs": _note(rng)}), "application/json",
                                        "JSON", _output(rng), inference_id=f"case-{i}",
                                        when=when + timedelta(seconds=i % 3600), event_id=f"e{i}")
                fh.write(json.dumps(record) + "\n")
    return time.perf_counter() - t0


def run(n: int, tmp: Path) -> dict:
    """Every timed stage for ``n`` records; a dict of seconds and counts."""
    import numpy as np

    from medtx.monitor.capture_reader import CaptureReader
    from medtx.monitor.descriptors import build_vocabulary, describe, fit_reducer
    from medtx.monitor.drift import (classifier_signal, correct, descriptor_signals, mmd_signal,
                                     prediction_signals)

    root = tmp / f"capture-{n}"
    out: dict = {"records": n, "write_s": write_capture(root, n)}
    reader = CaptureReader(str(root), tmp / f"state-{n}", endpoint="medtx-prod")
    t0 = time.perf_counter()
    window = reader.read()
    out["read_s"] = time.perf_counter() - t0
    out["rows"] = int(len(window.rows))
    t0 = time.perf_counter()
    again = reader.read()
    out["reread_s"] = time.perf_counter() - t0
    out["reread_rows"] = int(len(again.rows))

    rng = random.Random(1)
    reference = [_note(rng) for _ in range(2000)]
    texts = list(window.rows["text"])
    t0 = time.perf_counter()
    vocab = build_vocabulary(reference)
    signals = descriptor_signals(describe(reference, vocab), describe(texts, vocab), 0.05)
    out["descriptors_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref_probs = np.array([[1 / len(LABELS)] * len(LABELS)] * 200) + np.random.default_rng(0).dirichlet(
        [1] * len(LABELS), 200)
    ref_probs /= ref_probs.sum(axis=1, keepdims=True)
    cur_probs = np.array([[p[lab] for lab in LABELS] for p in window.rows["probabilities"]])
    signals += prediction_signals(ref_probs, cur_probs, LABELS, 0.05)
    out["predictions_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    reducer = fit_reducer(reference, dims=64, seed=0)
    sample = texts[: min(len(texts), 2000)]  # the two-sample tests run on a window sample
    ref_vec, cur_vec = reducer.transform(reference[:1000]), reducer.transform(sample)
    out["embedding_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    signals.append(mmd_signal(ref_vec[:500], cur_vec[:500], permutations=200, seed=0, alpha=0.05))
    signals.append(classifier_signal(ref_vec, cur_vec[:1000], seed=0, alpha=0.05))
    correct(signals, 0.05)
    out["two_sample_s"] = time.perf_counter() - t0
    out["total_excluding_embedding_s"] = sum(
        out[k] for k in ("read_s", "descriptors_s", "predictions_s", "two_sample_s"))
    out["per_record_us"] = 1e6 * out["total_excluding_embedding_s"] / n
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "monitor_scale.json")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="medtx-monitor-bench-") as tmp:
        for n in args.records:
            rows.append(run(n, Path(tmp)))
    cols = ["records", "read_s", "reread_s", "descriptors_s", "predictions_s", "two_sample_s",
            "total_excluding_embedding_s", "per_record_us", "embedding_s"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c])
                                for c in cols) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"bench": "monitor_scale", "host": platform.node(),
                                    "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                    "results": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
