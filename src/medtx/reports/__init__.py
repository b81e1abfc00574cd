"""Metaflow card builders: the only part of the library that knows about cards.

Each function returns a list of ``metaflow.cards`` components (imported lazily) that a flow
step appends to its card; inputs are plain dicts and frames, never note text beyond
redacted previews.
"""
from medtx.reports.data import (
    demo_banner,
    eda_card,
    eda_card_for,
    eda_summary,
    split_card,
    top_terms,
    validation_card,
)
from medtx.reports.deploy import deploy_card, outcome_line, selection_card
from medtx.reports.evaluation import confusion_figure, evaluation_card, reliability_figure
from medtx.reports.gate import decision_card, gate_card
from medtx.reports.monitor import monitor_card, monitor_line, quality_card, signals_card, window_card
from medtx.reports.run import (
    ingest_card,
    overrides_card,
    overrides_text,
    run_summary_line,
    settings_card,
    summary_card,
    tokenize_card,
    training_card,
    trigger_card,
)

__all__ = [
    "confusion_figure", "decision_card", "demo_banner", "deploy_card", "outcome_line", "selection_card", "eda_card",
    "eda_card_for", "eda_summary", "evaluation_card", "gate_card", "monitor_card", "monitor_line", "quality_card",
    "signals_card", "window_card", "ingest_card", "reliability_figure", "run_summary_line",
    "settings_card", "split_card", "summary_card", "tokenize_card", "top_terms", "training_card", "trigger_card",
    "validation_card",
    "overrides_card", "overrides_text",
]
