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

False alarms (``--windows N``): a reference profile is built as training builds one (vocabulary
and reducer from training notes; descriptors, vectors and a stand-in classifier's calibrated
probabilities of held-out notes), then N windows of *unchanged* held-out traffic go through
window_features + window_signals as captured rows. Reported per signal: the share of windows
where it drifted (raw and after the Benjamini-Hochberg correction), where any signal drifted,
and where the retrain rule fires with retrain_windows 1 and 2, each with a 95% Clopper-Pearson
interval; then the same for N windows of shifted traffic (notes cut to 160 characters; half of
each window from one specialty, the commonest under 20% of the reference). The target: the
rule fires on at most ``alpha`` of the unchanged windows.

    python bench/monitor_scale.py --quick         # 30 windows of 200 notes, 10k timing
    python bench/monitor_scale.py --no-timing --windows 100 --window-notes 200
    python bench/monitor_scale.py --no-timing --windows 100 --data ../shared/data/mtsamples.csv

The windows are spread over ``--splits`` references (each its own training notes, reference
and stand-in model), since windows judged against one reference share its sampling noise.
Demo notes come from other seeds of medtx.data.demo (fresh notes of the same distribution).
A real CSV (mtsamples layout), its labels mapped by a label preset (``--labels``, training's
spec12 by default), is split by note text into training, reference and a traffic pool, each
window drawn without replacement from the pool; it runs twice: as training would use it
("csv-<preset>": rows with the same text under several labels kept, on one side) and with one
row per text ("csv-<preset>-unique").
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

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
    from medtx.monitor.drift import classifier_signal, correct, descriptor_signals, mmd_signal, prediction_signals

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


SHIFTS = ("unchanged", "truncated", "specialty_mix")
TRUNCATE_CHARS = 160
MIX_SHARE = 0.5  # share of a specialty_mix window drawn from one label ...
MIX_BELOW = 0.2  # ... the commonest label with a smaller share than this in the reference
MODEL_VERSION = 1


@dataclass(frozen=True)
class Notes:
    """Note texts (none blank) and their stripped labels."""

    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Source:
    """Where a simulation's notes come from: training and reference sides, and a window drawer."""

    name: str
    train: Notes
    reference: Notes
    draw: Callable[[int, int], Notes]  # (seed, size) -> fresh notes of the reference's kind
    detail: dict


@dataclass(frozen=True)
class JudgedWindow:
    """What rules.decide reads of a window."""

    drifted: tuple[str, ...]
    status: str = "judged"
    model_version: int = MODEL_VERSION
    quality: Optional[dict] = None
    retrain: Optional[dict] = None


def _clean(texts: Sequence[Any], labels: Sequence[Any]) -> Notes:
    """Notes with text (the server refuses blank ones) and a label, labels stripped."""
    from medtx.data.labels import clean_label

    keep = [(t, clean_label(lab)) for t, lab in zip(texts, labels)
            if isinstance(t, str) and t.strip() and clean_label(lab)]
    return Notes([t for t, _ in keep], [lab for _, lab in keep])


def _demo(seed: int, n: int) -> Notes:
    from medtx.data.demo import make_demo_notes

    frame = make_demo_notes(max(n, 60), seed=seed)
    return _clean(frame["transcription"], frame["medical_specialty"])


def demo_source(split: int = 0, train_notes: int = 2000, reference_notes: int = 1000) -> Source:
    """Demo notes: training seed ``2 * split``, reference seed ``2 * split + 1``, every window
    a seed of its own (from 10000 up): fresh notes of the same distribution."""
    offset = 10_000 + 1_000_000 * split

    def draw(seed: int, size: int) -> Notes:
        notes = _demo(offset + seed, size + size // 10 + 10)
        return Notes(notes.texts[:size], notes.labels[:size])

    return Source("demo", _demo(2 * split, train_notes), _demo(2 * split + 1, reference_notes),
                  draw, {"train_seed": 2 * split, "reference_seed": 2 * split + 1})


def csv_source(path: Path, split: int = 0, unique: bool = False,
               preset: str = "spec12") -> Source:
    """A mtsamples-like CSV, labels mapped by the label policy ``preset``, split by note text
    (duplicates stay on one side, as training splits by group): half training, a quarter
    reference, a quarter the pool windows are drawn from without replacement. ``unique`` keeps
    one row per note text (its first label)."""
    import numpy as np
    import pandas as pd

    from medtx.config import LabelSettings
    from medtx.data.labels import clean_label, resolve_policy
    from medtx.monitor.descriptors import note_hash

    frame = pd.read_csv(path)
    policy = resolve_policy(LabelSettings(), preset)
    notes = _clean(frame["transcription"],
                   [policy.apply(clean_label(lab)) for lab in frame["medical_specialty"]])
    if unique:
        first = {}
        for text, label in zip(notes.texts, notes.labels):
            first.setdefault(note_hash(text), (text, label))
        notes = Notes([t for t, _ in first.values()], [lab for _, lab in first.values()])
    groups = sorted({note_hash(t) for t in notes.texts})
    order = np.random.default_rng(split).permutation(len(groups))
    side = {groups[j]: ("train" if r < len(groups) // 2 else
                        "reference" if r < 3 * len(groups) // 4 else "pool")
            for r, j in enumerate(order)}
    sides = {k: Notes([], []) for k in ("train", "reference", "pool")}
    for text, label in zip(notes.texts, notes.labels):
        part = sides[side[note_hash(text)]]
        part.texts.append(text)
        part.labels.append(label)
    pool = sides["pool"]

    def draw(seed: int, size: int) -> Notes:
        pick = np.random.default_rng(seed).choice(len(pool), size=min(size, len(pool)),
                                                  replace=False)
        return Notes([pool.texts[i] for i in pick], [pool.labels[i] for i in pick])

    name = f"csv-{preset}" + ("-unique" if unique else "")
    distinct = len({note_hash(t) for t in sides["reference"].texts})
    return Source(name, sides["train"], sides["reference"], draw,
                  {"file": path.name, "label_preset": preset, "notes": len(notes),
                   "pool": len(pool), "split_seed": split, "reference_unique_texts": distinct})


class StandIn:
    """TF-IDF + logistic regression fitted on the training notes, temperature-scaled on the
    reference notes (as training calibrates on validation)."""

    def __init__(self, train: Notes, reference: Notes, seed: int = 0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        self.model = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=50_000),
            LogisticRegression(C=10.0, max_iter=2000, random_state=seed))
        self.model.fit(train.texts, train.labels)
        self.labels = [str(c) for c in self.model.classes_]
        self.temperature = 1.0
        self.temperature = self._fit_temperature(reference)

    def _log_probs(self, texts: Sequence[str]) -> Any:
        import numpy as np

        return np.log(np.clip(self.model.predict_proba(list(texts)), 1e-12, 1.0))

    def _fit_temperature(self, notes: Notes) -> float:
        """The temperature minimising the negative log-likelihood of the known-label notes."""
        import numpy as np
        from scipy.optimize import minimize_scalar
        from scipy.special import log_softmax

        index = {lab: j for j, lab in enumerate(self.labels)}
        rows = [i for i, lab in enumerate(notes.labels) if lab in index]
        logits = self._log_probs([notes.texts[i] for i in rows])
        target = np.array([index[notes.labels[i]] for i in rows])

        def nll(t: float) -> float:
            return float(-log_softmax(logits / t, axis=1)[np.arange(len(rows)), target].mean())

        return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)

    def probabilities(self, texts: Sequence[str]) -> Any:
        """``[n, n_labels]`` calibrated probabilities, columns :attr:`labels`."""
        from scipy.special import softmax

        return softmax(self._log_probs(texts) / self.temperature, axis=1)


def capture_frame(texts: Sequence[str], probs: Any, labels: Sequence[str], window: int,
                  top_k: int = 3) -> Any:
    """Rows as the capture reader returns them, the server's top-k probabilities included."""
    import numpy as np
    import pandas as pd

    from medtx.monitor.capture_reader import COLUMNS

    start = datetime(2026, 12, 1, tzinfo=timezone.utc) + timedelta(days=window)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
    rows = []
    for i, (text, top) in enumerate(zip(texts, order)):
        shown = {labels[j]: float(probs[i, j]) for j in top}
        rows.append({"event_id": f"w{window}-e{i}", "inference_id": f"w{window}-{i}",
                     "position": 0, "time": (start + timedelta(seconds=i)).strftime(
                         "%Y-%m-%dT%H:%M:%SZ"), "text": text, "label": labels[top[0]],
                     "confidence": shown[labels[top[0]]], "probabilities": shown,
                     "model_version": MODEL_VERSION})
    return pd.DataFrame(rows, columns=COLUMNS)


def shifted(notes: Notes, shift: str, source: Source, seed: int, size: int,
            mix_label: str) -> Notes:
    """``notes`` (already ``size`` fresh ones) as the named shift changes them."""
    if shift == "unchanged":
        return notes
    if shift == "truncated":
        return Notes([t[:TRUNCATE_CHARS] for t in notes.texts], notes.labels)
    wanted = int(round(size * MIX_SHARE))
    extra = source.draw(seed + 500_000, 8 * size)
    picked = [i for i, lab in enumerate(extra.labels) if lab == mix_label][:wanted]
    rest = [i for i, lab in enumerate(notes.labels) if lab != mix_label][:size - len(picked)]
    return Notes([extra.texts[i] for i in picked] + [notes.texts[i] for i in rest],
                 [extra.labels[i] for i in picked] + [notes.labels[i] for i in rest])


def judge(profile: Any, model: StandIn, notes: Notes, window: int, alpha: float,
          permutations: int) -> list[dict]:
    """Every signal of one window: name, raw and adjusted p-values, drifted."""
    from medtx.monitor.analysis import window_features, window_signals

    rows = capture_frame(notes.texts, model.probabilities(notes.texts), model.labels, window)
    features = window_features(rows, profile, model_version=MODEL_VERSION)
    signals = window_signals(features, profile, alpha, permutations, seed=0)
    return [{"name": s.name, "raw_p": float(s.detail["raw_p_value"]), "p": s.p_value,
             "drifted": s.drifted} for s in signals]


def interval(count: int, n: int) -> dict:
    """The share ``count / n`` with its 95% Clopper-Pearson interval."""
    from scipy.stats import binomtest

    ci = binomtest(count, n).proportion_ci(confidence_level=0.95, method="exact")
    return {"count": count, "n": n, "rate": count / n, "low": float(ci.low),
            "high": float(ci.high)}


def in_a_row(drifted: Sequence[Sequence[str]], k: int) -> tuple[int, int]:
    """``(windows ending k in a row that drifted on a retrain_on signal, windows that could)``:
    what the rule with retrain_windows=k needs, before its reset after firing."""
    from medtx.config import MonitorSettings

    hit = [bool(set(MonitorSettings().retrain_on) & set(d)) for d in drifted]
    ends = range(k - 1, len(hit))
    return sum(1 for i in ends if all(hit[i - k + 1:i + 1])), len(ends)


def rule_fires(drifted: Sequence[Sequence[str]], retrain_windows: int) -> int:
    """Times rules.decide fires over the windows, in order, with MonitorSettings defaults."""
    from medtx.config import MonitorSettings
    from medtx.monitor.rules import decide

    settings = dataclasses.replace(MonitorSettings(), retrain_windows=retrain_windows)
    history: list[JudgedWindow] = []
    for names in drifted:
        current = JudgedWindow(tuple(names))
        decision = decide(current, history, settings)
        history.append(dataclasses.replace(current, retrain=decision.to_dict()))
    return sum(1 for w in history if w.retrain["fire"])


def summarise(splits: list[list[list[dict]]], alpha: float) -> dict:
    """Rates over every window of every split (a split: its windows in order, each a list of
    signals): per signal raw and corrected, any signal, and the retrain rule replayed per split."""
    from medtx.config import MonitorSettings

    retrain_on = set(MonitorSettings().retrain_on)
    windows = [w for split in splits for w in split]
    n = len(windows)
    drifted = [[[s["name"] for s in w if s["drifted"]] for w in split] for split in splits]
    flat = [d for split in drifted for d in split]
    per_signal = {name: {"raw": interval(sum(1 for w in windows for s in w
                                             if s["name"] == name and s["raw_p"] <= alpha), n),
                         "corrected": interval(sum(1 for d in flat if name in d), n)}
                  for name in [s["name"] for s in windows[0]]}
    rows = {k: [in_a_row(split, k) for split in drifted] for k in (1, 2)}
    return {"signals": per_signal,
            "any_signal": interval(sum(1 for d in flat if d), n),
            "any_retrain_on": interval(sum(1 for d in flat if retrain_on & set(d)), n),
            "any_retrain_on_per_split": [sum(1 for d in split if retrain_on & set(d)) / len(split)
                                         for split in drifted],
            "rule_fires": {str(k): interval(sum(rule_fires(split, k) for split in drifted), n)
                           for k in (1, 2)},
            "in_a_row": {str(k): interval(sum(c for c, _ in r), sum(m for _, m in r))
                         for k, r in rows.items()}}


def mix_label(labels: Sequence[str]) -> str:
    """The commonest label below :data:`MIX_BELOW` of the reference (else the rarest)."""
    from collections import Counter

    counts = Counter(labels).most_common()
    below = [lab for lab, c in counts if c / len(labels) < MIX_BELOW]
    return below[0] if below else counts[-1][0]


def reference(source: Source) -> tuple[StandIn, Any]:
    """The stand-in classifier and the profile training would build from ``source``."""
    from medtx.monitor.profile import build_profile

    model = StandIn(source.train, source.reference)
    profile = build_profile(source.train.texts, source.reference.texts,
                            model.probabilities(source.reference.texts), model.labels,
                            dims=64, seed=0, max_notes=2000)
    return model, profile


def simulate(make: Callable[[int], Source], splits: int, windows: int, window_notes: int,
             alpha: float, permutations: int) -> dict:
    """Unchanged and shifted windows, spread over ``splits`` references (``make(split)``)."""
    judged: dict[str, list] = {shift: [] for shift in SHIFTS}
    seconds = dict.fromkeys(SHIFTS, 0.0)
    refs, mix_shares = [], []
    for split in range(splits):
        t0 = time.perf_counter()
        source = make(split)
        model, profile = reference(source)
        label = mix_label(source.reference.labels)
        refs.append({**source.detail, "train_notes": len(source.train),
                     "reference_notes": len(profile), "labels": len(model.labels),
                     "temperature": model.temperature, "mix_label": label,
                     "seconds": time.perf_counter() - t0})
        count = windows // splits + (split < windows % splits)
        for shift in SHIFTS:
            t0 = time.perf_counter()
            per_split = []
            for w in range(count):
                seed = SHIFTS.index(shift) * 100_000 + w
                notes = shifted(source.draw(seed, window_notes), shift, source, seed,
                                window_notes, label)
                if shift == "specialty_mix":
                    mix_shares.append(notes.labels.count(label) / len(notes))
                per_split.append(judge(profile, model, notes, w, alpha, permutations))
            judged[shift].append(per_split)
            seconds[shift] += time.perf_counter() - t0
    out: dict = {"data": source.name, "splits": refs, "windows": windows,
                 "window_notes": window_notes, "alpha": alpha, "permutations": permutations,
                 "mix_share": sum(mix_shares) / max(len(mix_shares), 1)}
    for shift in SHIFTS:
        out[shift] = {**summarise(judged[shift], alpha),
                      "seconds_per_window": seconds[shift] / windows}
    return out


def _pct(r: dict) -> str:
    return f"{100 * r['rate']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}]"


def print_simulation(sim: dict) -> None:
    """A table of the rates: one row per signal, then any signal and the rule."""
    refs = sim["splits"]
    temperatures = ", ".join(f"{r['temperature']:.2f}" for r in refs)
    print(f"\n{sim['data']}: {sim['windows']} windows of {sim['window_notes']} notes over "
          f"{len(refs)} reference(s) of {', '.join(str(r['reference_notes']) for r in refs)} "
          f"held-out notes ({refs[0]['labels']} labels, temperature "
          f"{temperatures}); alpha {sim['alpha']}; "
          "95% Clopper-Pearson intervals")
    mixes = sorted({r["mix_label"] for r in refs})
    print("| signal | unchanged: raw p<=alpha | unchanged: drifted (BH) | truncated: drifted | "
          f"mix ({'; '.join(mixes)} {100 * sim['mix_share']:.0f}%): drifted |")
    print("|---|---|---|---|---|")
    null, trunc, mix = (sim[k] for k in SHIFTS)
    for name in null["signals"]:
        print(f"| {name} | {_pct(null['signals'][name]['raw'])} | "
              f"{_pct(null['signals'][name]['corrected'])} | "
              f"{_pct(trunc['signals'][name]['corrected'])} | "
              f"{_pct(mix['signals'][name]['corrected'])} |")
    for key, label in (("any_signal", "any signal"), ("any_retrain_on", "any retrain_on signal")):
        print(f"| {label} | | {_pct(null[key])} | {_pct(trunc[key])} | {_pct(mix[key])} |")
    for k in ("1", "2"):
        print(f"| rule fires, retrain_windows={k} | | {_pct(null['rule_fires'][k])} | "
              f"{_pct(trunc['rule_fires'][k])} | {_pct(mix['rule_fires'][k])} |")
    print(f"| 2 windows in a row drifted | | {_pct(null['in_a_row']['2'])} | "
          f"{_pct(trunc['in_a_row']['2'])} | {_pct(mix['in_a_row']['2'])} |")
    per_split = ", ".join(f"{100 * r:.0f}%" for r in null["any_retrain_on_per_split"])
    print(f"unchanged, any retrain_on signal per reference: {per_split} (windows against one "
          "reference are not independent: the intervals are too narrow when these differ)")
    print("after firing the rule counts afresh: under a lasting shift it fires again every "
          "retrain_windows windows while the same model version serves")
    for k in ("1", "2"):
        fired = null["rule_fires"][k]
        verdict = "within" if fired["rate"] <= sim["alpha"] else "ABOVE"
        print(f"target, retrain_windows={k}: the rule fired on {_pct(fired)} of unchanged "
              f"windows: {verdict} alpha {sim['alpha']:.0%} (point estimate)")
    print("seconds per window: " + ", ".join(f"{k} {sim[k]['seconds_per_window']:.2f}"
                                             for k in SHIFTS))


def timing(records: Sequence[int]) -> list[dict]:
    """The timed stages for each record count, in a temporary folder."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="medtx-monitor-bench-") as tmp:
        for n in records:
            rows.append(run(n, Path(tmp)))
    cols = ["records", "read_s", "reread_s", "descriptors_s", "predictions_s", "two_sample_s",
            "total_excluding_embedding_s", "per_record_us", "embedding_s"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c])
                                for c in cols) + " |")
    return rows


def _write(path: Path, key: str, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"bench": "monitor_scale", "host": platform.node(),
                                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                key: value}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    from medtx.config import MonitorSettings

    defaults = MonitorSettings()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, nargs="+", default=None,
                   help="capture records to time (default 10000 100000; 10000 with --quick)")
    p.add_argument("--timing", action=argparse.BooleanOptionalAction, default=True,
                   help="run the timing part")
    p.add_argument("--windows", type=int, default=None,
                   help="windows per kind of traffic in the false-alarm simulation "
                        "(default 0: none; 30 with --quick)")
    p.add_argument("--window-notes", type=int, default=defaults.min_notes)
    p.add_argument("--splits", type=int, default=None,
                   help="references the windows are spread over (default 5; 3 with --quick)")
    p.add_argument("--permutations", type=int, default=defaults.permutations)
    p.add_argument("--data", type=Path, default=None,
                   help="also simulate on a real CSV (mtsamples layout); never copied")
    p.add_argument("--labels", default="spec12", choices=["spec12", "all40"],
                   help="label policy preset for --data (training's default: spec12)")
    p.add_argument("--quick", action="store_true", help="a run of a few minutes on 2 cores")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "monitor_scale.json")
    p.add_argument("--sim-out", type=Path,
                   default=ROOT / "bench" / "results" / "monitor_false_alarms.json")
    args = p.parse_args(argv)
    records = args.records or ([10_000] if args.quick else [10_000, 100_000])
    windows = args.windows if args.windows is not None else (30 if args.quick else 0)
    splits = args.splits if args.splits is not None else (3 if args.quick else 5)
    if args.timing:
        _write(args.out, "results", timing(records))
    if windows > 0:
        makers: list[Callable[[int], Source]] = [demo_source]
        if args.data is None:
            print("real data skipped: no --data CSV given")
        elif not args.data.is_file():
            print(f"real data skipped: {args.data} is not a file")
        else:
            makers += [lambda split: csv_source(args.data, split, preset=args.labels),
                       lambda split: csv_source(args.data, split, True, args.labels)]
        sims = []
        for make in makers:
            sims.append(simulate(make, min(splits, windows), windows, args.window_notes,
                                 defaults.alpha, args.permutations))
            print_simulation(sims[-1])
        _write(args.sim_out, "simulation", sims)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
