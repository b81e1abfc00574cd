"""Metaflow card builders for the data stages: EDA, validation and split.

Each ``*_card`` function returns a list of ``metaflow.cards`` components; a flow step appends
them (``for c in components: current.card.append(c)``). ``eda_summary`` computes the plain,
JSON-serialisable numbers the EDA card shows. Cards show counts, labels, redacted previews and
vocabulary that occurs in several notes; never note text. Metaflow is imported inside the
functions, so importing this module costs nothing.
"""
from __future__ import annotations

import math
import re
from collections import Counter

import pandas as pd

from medtx.config import DataSettings
from medtx.data.checks import ValidationReport
from medtx.data.ingest import IngestInfo
from medtx.data.labels import clean_label
from medtx.data.redact import PREVIEW_CHARS
from medtx.reports.format import VEGA_SCHEMA
from medtx.reports.format import cards as _cards
from medtx.reports.format import table as _table

MAX_EXAMPLES = 20  # quarantined rows shown as examples
MIN_TERM_NOTES = 3  # a top term must occur in this many distinct notes (no one-note names)
_TOKEN = re.compile(r"[a-z][a-z\-]{2,}")
_SIDES = ("train", "val", "test")


def _words(text: object) -> int:
    return len(text.split()) if isinstance(text, str) else 0


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _length_histogram(lengths: list[int], max_bins: int = 24) -> dict:
    """Word-length stats and fixed-width bins up to the 99th percentile (last bin open)."""
    if not lengths:
        return {"n": 0, "stats": {}, "bins": []}
    s = pd.Series(lengths, dtype="int64")
    stats = {"min": int(s.min()), "p5": round(float(s.quantile(0.05)), 1),
             "median": round(float(s.median()), 1), "mean": round(float(s.mean()), 1),
             "p95": round(float(s.quantile(0.95)), 1), "max": int(s.max())}
    top = max(int(s.quantile(0.99)), 1)
    width = next(w for w in (10, 25, 50, 100, 200, 250, 500, 1000, 2500, 5000, 10**9)
                 if math.ceil((top + 1) / w) <= max_bins)
    n_bins = math.ceil((top + 1) / width)
    counts = Counter(min(v // width, n_bins - 1) for v in lengths)
    bins = [{"lo": i * width, "hi": None if i == n_bins - 1 else (i + 1) * width,
             "count": int(counts.get(i, 0))} for i in range(n_bins)]
    return {"n": len(lengths), "stats": stats, "bins": bins}


def top_terms(notes: pd.DataFrame, top_k: int = 8, min_notes: int = MIN_TERM_NOTES) -> dict:
    """Most distinctive words per class: weighted log-odds with an informative Dirichlet prior.

    Returns {class: [[word, z-score], ...]} with positive scores only. Stop words, digits and
    words found in fewer than ``min_notes`` distinct texts are left out.
    """
    import numpy as np
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    by_class: dict[str, Counter] = {}
    doc_freq: Counter = Counter()
    seen: set = set()
    for text, label in zip(notes["text"], notes["label"]):
        tokens = [t for t in _TOKEN.findall(str(text).lower()) if t not in ENGLISH_STOP_WORDS]
        by_class.setdefault(str(label), Counter()).update(tokens)
        key = _norm(str(text))
        if key not in seen:
            seen.add(key)
            doc_freq.update(set(tokens))
    labels = sorted(by_class)
    vocab = sorted(t for t, n in doc_freq.items() if n >= min_notes)
    if not vocab:
        return {label: [] for label in labels}
    index = {t: i for i, t in enumerate(vocab)}
    y = np.zeros((len(labels), len(vocab)))
    for row, label in enumerate(labels):
        for t, n in by_class[label].items():
            if t in index:
                y[row, index[t]] = n
    total = y.sum(axis=0)
    n_all = total.sum()
    a = 10.0 * total / n_all  # prior alpha_w; alpha_0 = 10
    y_out, n_in = total - y, y.sum(axis=1, keepdims=True)
    n_out = n_all - n_in
    with np.errstate(divide="ignore"):
        delta = (np.log((y + a) / np.maximum(n_in + 10.0 - y - a, 1e-9))
                 - np.log((y_out + a) / np.maximum(n_out + 10.0 - y_out - a, 1e-9)))
    z = np.where(y > 0, delta / np.sqrt(1.0 / (y + a) + 1.0 / (y_out + a)), -np.inf)
    z[z <= 0] = -np.inf  # only words over-represented in the class
    out = {}
    for row, label in enumerate(labels):
        order = np.lexsort((np.arange(len(vocab)), -z[row]))[:top_k]
        out[label] = [[vocab[i], round(float(z[row, i]), 2)] for i in order if z[row, i] > -np.inf]
    return out


def eda_summary(raw: pd.DataFrame, notes: pd.DataFrame, text_field: str, label_field: str,
                top_k: int = 8, *, source: str, is_demo: bool) -> dict:
    """JSON-serialisable overview of the raw frame and of the notes after validation."""
    texts = raw[text_field]
    present = [t for t in texts if isinstance(t, str) and t.strip()]
    raw_labels = raw[label_field].map(clean_label).replace("", "(missing)")
    group = notes["group"] if "group" in notes else notes["text"].map(_norm)
    conflicts = notes.assign(_g=group).groupby("_g")["label"].nunique()
    return {
        "source": source, "is_demo": bool(is_demo),
        "rows": int(len(raw)), "notes": int(len(notes)),
        "empty_texts": int(len(raw) - len(present)),
        "raw_class_counts": {str(k): int(v) for k, v in raw_labels.value_counts().items()},
        "class_counts": {str(k): int(v) for k, v in notes["label"].value_counts().items()},
        "length_words": _length_histogram([_words(t) for t in present]),
        "duplicate_text_rows": int(len(present) - len({_norm(t) for t in present})),
        "label_conflict_texts": int((conflicts > 1).sum()),
        "top_terms": top_terms(notes, top_k=top_k),
    }



def _bar_chart(values: list[dict], x: str, y: str, title: str, horizontal: bool = True,
               color: str | None = None, order: list | None = None):
    """A Vega-Lite bar chart; ``x``/``y`` name the category and count fields."""
    cat = {"field": x, "type": "nominal", "title": None,
           "sort": order if order is not None else ("-x" if horizontal else None)}
    num = {"field": y, "type": "quantitative", "title": y}
    enc = {"y": cat, "x": num} if horizontal else {"x": cat, "y": num}
    if color:
        enc["color"] = {"field": color, "type": "nominal"}
    enc["tooltip"] = [{"field": f, "type": "nominal" if f != y else "quantitative"}
                      for f in (x, y, color) if f]
    spec = {"$schema": VEGA_SCHEMA, "title": title, "data": {"values": values},
            "mark": {"type": "bar", "tooltip": True}, "encoding": enc}
    return _cards().VegaChart(spec)


def demo_banner() -> list:
    """A loud banner saying the run uses synthetic demo notes (for any card of a demo run)."""
    from medtx.data.demo import DEMO_NOTICE

    return [_cards().Markdown(f"## ⚠️ DEMO DATA: synthetic notes, not real clinical data\n\n"
                              f"**{DEMO_NOTICE}**")]


def eda_card_for(raw: pd.DataFrame, report: ValidationReport, info: IngestInfo,
                 data_settings: DataSettings) -> list:
    """:func:`eda_card` of a run: the raw frame, its checked notes, where it came from."""
    return eda_card(eda_summary(raw, report.notes, data_settings.text_field,
                                data_settings.label_field, source=info.source,
                                is_demo=info.is_demo))


def eda_card(summary: dict) -> list:
    """Data overview: banner (demo only), counts, class distribution, lengths, top terms."""
    md = _cards().Markdown
    out = [md(f"# Data overview\n\nSource: `{summary['source']}`")]
    if summary.get("is_demo"):
        out += demo_banner()
    out.append(_table([["rows read", summary["rows"]], ["empty texts", summary["empty_texts"]],
                       ["notes after validation", summary["notes"]],
                       ["classes after label policy", len(summary["class_counts"])],
                       ["rows repeating an earlier text", summary["duplicate_text_rows"]],
                       ["texts carrying more than one class", summary["label_conflict_texts"]]],
                      ["Count", "Value"]))
    classes = summary["class_counts"]
    total = max(sum(classes.values()), 1)
    out += [md("## Classes after the label policy"),
            _bar_chart([{"class": k, "notes": v} for k, v in classes.items()], "class", "notes",
                       "Notes per class"),
            _table([[k, v, f"{v / total:.1%}"] for k, v in classes.items()],
                   ["Class", "Notes", "Share"]),
            md("## Labels as read (stripped)"),
            _table([[k, v] for k, v in summary["raw_class_counts"].items()], ["Label", "Rows"])]
    hist = summary["length_words"]
    bins = [{"words": f"{b['lo']}+" if b["hi"] is None else f"{b['lo']}-{b['hi'] - 1}",
             "notes": b["count"]} for b in hist["bins"]]
    out += [md("## Note length (words, non-empty texts)"),
            _bar_chart(bins, "words", "notes", "Note length (words)", horizontal=False,
                       order=[b["words"] for b in bins]),
            _table([[k, v] for k, v in hist["stats"].items()], ["Statistic", "Words"]),
            md(f"## Most distinctive words per class\n\nWeighted log-odds against all other "
               f"classes; words in fewer than {MIN_TERM_NOTES} distinct notes are not shown."),
            _table([[k, ", ".join(t for t, _ in terms)]
                    for k, terms in summary["top_terms"].items()], ["Class", "Top words"])]
    return out


def _example_rows(quarantine: pd.DataFrame, limit: int = MAX_EXAMPLES) -> pd.DataFrame:
    """Up to ``limit`` quarantined rows, taken round-robin over reasons so each reason shows."""
    if quarantine.empty:
        return quarantine
    ranked = quarantine.assign(_k=quarantine.groupby("reason").cumcount())
    return ranked.sort_values(["_k", "reason", "row_id"], kind="stable").head(limit)


def _result(check: dict) -> str:
    if check["passed"]:
        return "pass"
    return "FAIL" if check["level"] == "table" else "fail: rows quarantined"


def validation_card(report_summary: dict, quarantine: pd.DataFrame) -> list:
    """Every check with its result, counts, quarantine reasons and redacted example rows
    (``ValidationReport.summary()`` and ``.quarantine``)."""
    md = _cards().Markdown
    checks = report_summary.get("checks", [])
    failed = [c["name"] for c in checks if not c["passed"] and c["level"] == "table"]
    flagged = [c["name"] for c in checks if not c["passed"] and c["level"] != "table"]
    verdict = (f"❌ table checks failed: {', '.join(failed)}" if failed
               else "✅ all table checks passed")
    if flagged:
        verdict += f"; rows quarantined by: {', '.join(flagged)}"
    out = [md(f"# Data validation\n\n**{verdict}**"),
           _table([[c["name"], c["level"], _result(c), c["unexpected"], c["observed"],
                    c.get("details", ""), c["reason"]] for c in checks],
                  ["Check", "Level", "Result", "Unexpected rows", "Observed", "Details", "Why"]),
           md("## Counts"),
           _table([[k, v] for k, v in report_summary.get("counts", {}).items()],
                  ["Count", "Value"])]
    policy = report_summary.get("policy") or {}
    if policy:
        out += [md("## Label policy"),
                _table([[k, v] for k, v in policy.items()], ["Key", "Value"])]
    if report_summary.get("label_counts"):
        out += [md("## Notes per class"),
                _table([[k, v] for k, v in report_summary["label_counts"].items()],
                       ["Class", "Notes"])]
    if len(quarantine):
        reasons = quarantine["reason"].value_counts().sort_index()
    else:
        reasons = pd.Series(report_summary.get("quarantine_reasons", {}), dtype="int64")
    out += [md(f"## Quarantined rows: {int(reasons.sum())}"),
            _table([[str(k), int(v)] for k, v in reasons.items()], ["Reason", "Rows"])]
    examples = _example_rows(quarantine)
    if len(examples):
        cols = ["row_id", "reason", "label", "n_chars", "preview"]
        rows = [[int(r.row_id), str(r.reason), str(r.label), int(r.n_chars),
                 "" if pd.isna(r.preview) else str(r.preview)[:PREVIEW_CHARS]]
                for r in examples[cols].itertuples(index=False)]
        out += [md(f"### Examples (up to {MAX_EXAMPLES}; previews are redacted)"),
                _table(rows, ["Row", "Reason", "Label", "Characters", "Preview (redacted)"])]
    return out


def split_card(split_summary: dict) -> list:
    """Split sizes, class counts per side and the proof that no text crosses sides."""
    md = _cards().Markdown
    sizes, groups = split_summary["sizes"], split_summary.get("groups", {})
    total = max(sum(sizes.values()), 1)
    overlap = split_summary.get("overlap", {})
    leaks = {k: v for k, v in overlap.items() if v}
    proof = (f"❌ LEAK: sides share note texts: {leaks}" if leaks
             else "⚠️ overlap between sides was not reported" if not overlap
             else "✅ no note text is shared between train, validation and test")
    out = [md(f"# Split (seed {split_summary.get('seed')})\n\n**{proof}**"),
           _table([[s, sizes.get(s, 0), groups.get(s, ""), f"{sizes.get(s, 0) / total:.1%}"]
                   for s in _SIDES], ["Side", "Notes", "Distinct texts", "Share"]),
           md("## Shared texts between sides (must be 0)"),
           _table([[k, v] for k, v in overlap.items()], ["Pair", "Shared groups"])]
    counts = split_summary.get("class_counts", {})
    labels = sorted({k for side in counts.values() for k in side})
    rows = [[k] + [counts.get(s, {}).get(k, 0) for s in _SIDES]
            + [sum(counts.get(s, {}).get(k, 0) for s in _SIDES)] for k in labels]
    chart = [{"class": k, "side": s, "notes": counts.get(s, {}).get(k, 0)}
             for k in labels for s in _SIDES]
    out += [md("## Notes per class and side"),
            _bar_chart(chart, "class", "notes", "Notes per class and side", color="side"),
            _table(rows, ["Class", *_SIDES, "Total"])]
    notes = [f"- Test notes carrying more than one class (any-label accuracy counts them): "
             f"{split_summary.get('test_multi_label_notes', 0)}"]
    missing = split_summary.get("classes_missing_from_train") or []
    if missing:
        notes.append(f"- ⚠️ classes with no training notes: {', '.join(missing)}")
    out.append(md("\n".join(notes)))
    return out
