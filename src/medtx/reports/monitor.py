"""Card components for MonitorFlow: the window's verdict, every signal with its threshold over
recent windows, the classes that drift most, quality with intervals, and the retrain decision."""
from __future__ import annotations

import math
from typing import Any, Optional

from medtx.reports.format import VEGA_SCHEMA, number
from medtx.reports.format import cards as _cards
from medtx.reports.format import table as _table

COUNT_KEYS = ("read", "rows", "corrupt", "truncated", "duplicates", "outside", "later", "files")


def _interval(iv: Optional[dict]) -> str:
    if not iv:
        return "–"
    return f"{number(iv['value'])} ({number(iv['low'])}–{number(iv['high'])})"


def window_card(doc: dict) -> list:
    """What was read: bounds, model version, counts (corrupt, truncated, duplicates...)."""
    cards = _cards()
    head = (f"# Window `{doc['since']}` .. `{doc['until']}`\n\nEndpoint `{doc['endpoint']}` "
            f"(stage {doc['stage']}), model version {doc['model_version']} "
            f"(from {doc['model_version_source']}): **{doc['n_notes']} notes**.")
    if doc.get("message"):
        head += f"\n\n**{doc['message']}**: no verdict for this window; its records are read again next run."
    rows = [[k, doc["counts"].get(k, 0)] for k in COUNT_KEYS]
    rows += [[f"excluded: {k}", v] for k, v in (doc.get("excluded") or {}).items()]
    return [cards.Markdown(head), _table(rows, ["count", "value"])]


def _p_chart(recent: list[dict], alpha: float) -> Any:
    values = []
    for w in recent:
        for name, s in (w.get("signals") or {}).items():
            p = max(float(s["p_value"]), 1e-6)
            values.append({"window": w["id"], "signal": name, "p": p, "log10_p": math.log10(p)})
    spec = {"$schema": VEGA_SCHEMA, "title": "Adjusted p-value per signal (drift below the line)",
            "layer": [
                {"data": {"values": values}, "mark": {"type": "line", "point": True, "tooltip": True},
                 "encoding": {"x": {"field": "window", "type": "ordinal"},
                              "y": {"field": "log10_p", "type": "quantitative", "title": "log10 p"},
                              "color": {"field": "signal", "type": "nominal"}}},
                {"data": {"values": [{"t": math.log10(alpha)}]}, "mark": {"type": "rule", "color": "red"},
                 "encoding": {"y": {"field": "t", "type": "quantitative"}}}]}
    return _cards().VegaChart(spec)


def _signal_rows(sig: dict) -> list:
    return [[name, number(s["statistic"], 4), number(s["p_value"], 4),
             number(s["detail"].get("raw_p_value"), 4), number(s["threshold"]),
             "DRIFT" if s["drifted"] else ""] for name, s in sig.items()]


SIGNAL_HEADERS = ["signal", "statistic", "p (adjusted)", "p (raw)", "threshold", ""]


def signals_card(signals: dict, message: str = "") -> list:
    """This window's signals (``{name: signal dict}``), or why there are none."""
    cards = _cards()
    if not signals:
        return [cards.Markdown(f"# Drift\n\nNo tests run: {message or 'no window'}.")]
    return [cards.Markdown("# Drift (Benjamini-Hochberg adjusted across the window)"),
            _table(_signal_rows(signals), SIGNAL_HEADERS)]


def monitor_card(doc: dict) -> list:
    """The whole verdict of a window (``doc``: the run's ``monitor.json``)."""
    cards = _cards()
    retrain = doc["retrain"]
    out = [cards.Markdown(f"# Monitor: {doc['verdict']}\n\nWindow {doc['window_id']} "
                          f"({doc['status']}), {doc['n_notes']} notes of model version "
                          f"{doc['model_version']} on `{doc['endpoint']}`.")]
    sig = doc.get("signals") or {}
    if sig:
        out += [cards.Markdown("## Signals (Benjamini-Hochberg adjusted across the window)"),
                _table(_signal_rows(sig), SIGNAL_HEADERS)]
        alpha = next(iter(sig.values()))["threshold"]
        recent = [w for w in doc.get("recent_windows", []) if w.get("signals")]
        out.append(_p_chart(recent, alpha))
        atypical = (sig.get("input_classifier", {}).get("detail") or {}).get("atypical") or []
        if atypical:
            out += [cards.Markdown("## Most atypical notes (by capture eventId#position; no text)"),
                    _table([[a["id"], number(a["score"])] for a in atypical[:10]], ["note", "score"])]
    classes = doc.get("drifting_classes") or []
    if classes:
        out += [cards.Markdown("## Classes that move most"),
                _table([[c["label"], number(c.get("share_change"), 3, signed=True),
                         number(c.get("confidence_ks")), number(c.get("confidence_p"), 4)]
                        for c in classes], ["class", "predicted share change", "confidence KS",
                                            "confidence p (raw)"])]
    out.append(quality_card(doc["quality"]))
    recent = doc.get("recent_windows") or []
    out += [cards.Markdown("## Recent windows"),
            _table([[w["id"], w["since"], w["until"], w["status"], w["n_notes"], w["verdict"],
                     _interval((w.get("quality") or {}).get("macro_f1")),
                     "yes" if (w.get("retrain") or {}).get("fire") else ""] for w in recent],
                   ["window", "since", "until", "status", "notes", "verdict", "macro-F1", "retrain"])]
    if retrain["fire"]:
        text = "**Retrain requested**: " + "; ".join(retrain["reasons"])
    else:
        detail = retrain["detail"]
        why_not = f"; {detail['why_not']}" if detail.get("why_not") else ""
        text = (f"No retrain (drift streak {retrain['streak']} of {detail.get('retrain_windows', '?')} "
                f"windows needed{why_not}).")
    out.append(cards.Markdown(f"## Retraining rule\n\n{text}"))
    return out


def quality_card(q: dict) -> Any:  # one Markdown component; a list of it is a step card
    """Measured quality with 95% bootstrap intervals, or why not yet; the estimate, labelled."""
    lines = ["## Quality"]
    if q.get("measured"):
        lines.append(f"Against **{q['n_labelled']} labelled notes** of {q['n_notes']}: accuracy "
                     f"{_interval(q['accuracy'])}, macro-F1 {_interval(q['macro_f1'])}, any-label "
                     f"accuracy {_interval(q['any_label_accuracy'])} (95% bootstrap intervals).")
    else:
        lines.append(f"{q['n_labelled']} labelled notes so far (at least {q['min_labels']} needed "
                     "to measure).")
    if q.get("unknown_classes"):
        lines.append(f"{q['unknown_classes']} labelled notes carry a label the model does not "
                     "have (outside its label policy): left out.")
    if q.get("unknown_label_ids"):
        lines.append(f"{q['unknown_label_ids']} imported label ids match no captured note.")
    if q.get("estimated_accuracy"):
        lines.append(f"*Estimate* (mean calibrated confidence, not a measurement): accuracy "
                     f"{_interval(q['estimated_accuracy'])}.")
    return _cards().Markdown("\n\n".join(lines))


def monitor_line(doc: dict, event: Any = None) -> str:
    """One line for the end of a run."""
    line = f"window {doc['window_id']} ({doc['status']}): {doc['verdict']}"
    if doc["retrain"]["fire"]:
        how = getattr(event, "how", "recorded")
        extra = {"argo": f"event {getattr(event, 'event_id', '')} published",
                 "runner": f"TrainFlow run {getattr(event, 'train_run', '')} {getattr(event, 'status', '')}",
                 }.get(how, f"recorded; start it with: {getattr(event, 'command', '')}")
        line += f"; retrain: {extra}"
    return line
