"""Card components for the ingest and fine-tune steps (library code; Metaflow imported lazily)."""
from __future__ import annotations

from typing import Any

from medtx.reports.data import demo_banner
from medtx.reports.format import VEGA_SCHEMA
from medtx.reports.format import cards as _cards
from medtx.reports.format import table as _table


def ingest_card(info: dict) -> list:
    """Where the data came from: source, size, checksum, columns; a banner for demo data."""
    cards = _cards()
    out = demo_banner() if info.get("is_demo") else []
    out.append(cards.Markdown(f"# Ingest\n\nRead **{info['n_rows']:,} rows** from `{info['source']}`."))
    rows = [["source", info["source"]], ["rows", info["n_rows"]], ["bytes", info["n_bytes"]],
            ["sha256", info["sha256"]], ["columns", ", ".join(info["columns"])]]
    out.append(_table(rows, ["field", "value"]))
    return out


def training_card(history: list[dict], best_epoch: int) -> list:
    """Per-epoch loss and validation metrics, with the kept (best) epoch marked."""
    cards = _cards()
    out = [cards.Markdown(
        f"# Fine-tune\n\nKept epoch **{best_epoch}** (best validation macro-F1) of {len(history)}."
    )]
    keys = ["epoch", "train_loss", "val_loss", "val_macro_f1", "val_accuracy", "train_windows",
            "seconds", "samples_per_s"]
    out.append(_table([[round(h[k], 4) if isinstance(h.get(k), float) else h.get(k) for k in keys]
                       for h in history], keys))
    long = [{"epoch": h["epoch"], "metric": k, "value": float(h[k])}
            for h in history for k in ("train_loss", "val_loss", "val_macro_f1") if k in h]
    spec = {
        "$schema": VEGA_SCHEMA, "title": "Training curve", "data": {"values": long},
        "mark": {"type": "line", "point": True, "tooltip": True},
        "encoding": {"x": {"field": "epoch", "type": "ordinal"},
                     "y": {"field": "value", "type": "quantitative"},
                     "color": {"field": "metric", "type": "nominal"}},
    }
    out.append(cards.VegaChart(spec))
    return out


def trigger_card(triggered: dict) -> list:
    """What started the run; for a retrain, the monitor's reasons."""
    cards = _cards()
    kind = triggered["kind"]
    if kind != "retrain":
        text = {"manual": "Started by hand.", "run": f"Triggered by `{triggered['source']}`.",
                "event": f"Triggered by the event `{triggered['source']}`."}.get(kind, kind)
        return [cards.Markdown(f"# Trigger\n\n{text}")]
    payload = triggered.get("payload") or {}
    out = [cards.Markdown(f"# Trigger: retrain\n\nRequested by `{triggered['source'] or 'a monitor'}` "
                          f"for endpoint `{payload.get('endpoint', '?')}` (model version "
                          f"{payload.get('model_version', '?')}, window {payload.get('since')} .. "
                          f"{payload.get('until')}).")]
    out.append(_table([[r] for r in triggered["reasons"]], ["reason"]))
    return out


def overrides_text(overrides: dict) -> str:
    """One line naming the run's ``--set`` overrides ("" without any)."""
    if not overrides:
        return ""
    import json

    items = ", ".join(f"`{k}={v if isinstance(v, str) else json.dumps(v)}`" for k, v in overrides.items())
    return f"Changed for this run with --set: {items}"


def overrides_card(overrides: dict) -> list:
    """The run's ``--set`` overrides, one line (nothing when the config file ran as it is)."""
    return [_cards().Markdown(overrides_text(overrides))] if overrides else []


def settings_card(settings: dict, overrides: dict | None = None) -> list:
    """The resolved configuration of the run, one table per section, after the line naming its
    ``--set`` overrides (``{dotted key: value}``) when it has any."""
    cards = _cards()
    out = [cards.Markdown(f"# Settings: `{settings['env']}`")] + overrides_card(overrides or {})
    for section, values in settings.items():
        if isinstance(values, dict):
            out.append(cards.Markdown(f"### {section}"))
            out.append(_table([[k, v] for k, v in values.items()], ["key", "value"]))
    return out


def tokenize_card(tokenized: Any) -> list:
    """Long-note strategy and how many token windows each split side produced
    (``tokenized``: :class:`medtx.stages.finetuning.Tokenized`)."""
    cards = _cards()
    strategy, source, seconds = tokenized.strategy, tokenized.source, tokenized.seconds
    windows = {side: e.n_windows for side, e in tokenized.encoded.items()}
    notes = {side: e.n_notes for side, e in tokenized.encoded.items()}
    out = [cards.Markdown(
        f"# Tokenize\n\nTokenizer from `{source}`; long-note strategy **{strategy.get('kind')}** "
        f"({seconds:.1f} s, cached by data, tokenizer and strategy)."
    )]
    out.append(_table([[k, v] for k, v in strategy.items()], ["strategy", "value"]))
    out.append(_table([[side, notes[side], windows[side]] for side in notes], ["side", "notes", "windows"]))
    return out


def summary_card(version: Any, evaluation: Any, export_dir: str) -> list:
    """Where the run ended: registered version and status, headline metrics, exported files
    (``version``: a registry ModelVersion; ``evaluation``: an Evaluation)."""
    cards = _cards()
    version = version.to_dict()
    doc = evaluation.to_dict()
    model, base = doc["model"], doc["baseline"]
    out = [cards.Markdown(
        f"# {version['group']} v{version['version']}: **{version['status']}**\n\n"
        f"Model package, `model.tar.gz` and `evaluation.json` in `{export_dir}`."
    )]
    if version.get("reasons"):
        out.append(cards.Markdown("**Gate reasons:** " + "; ".join(version["reasons"])))
    keys = ["accuracy", "macro_f1", "any_label_accuracy", "ece_after"]
    out.append(_table([[name] + [round(float(m[k]), 4) for k in keys] for name, m in
                       (("model", model), ("baseline", base))], ["system"] + keys))
    return out


def run_summary_line(run_id: str, version: Any, evaluation: Any, export_dir: Any) -> str:
    """The one line TrainFlow prints at its end."""
    return (f"TrainFlow/{run_id}: model {version.group} v{version.version} {version.status}; "
            f"test macro-F1 {evaluation.model.macro_f1:.3f} "
            f"(baseline {evaluation.baseline.macro_f1:.3f}); files in {export_dir}")
