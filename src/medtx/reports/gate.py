"""Card components for the register step: the evidence behind a gate decision."""
from __future__ import annotations

from typing import Any, Optional

from medtx.evaluation.gate import GateDecision


def _fmt(metrics: Optional[dict], key: str) -> str:
    if not metrics or not isinstance(metrics.get(key), (int, float)):
        return "-"
    return f"{float(metrics[key]):.4f}"


def gate_card(
    decision: GateDecision, candidate: dict, baseline: dict, champion: Optional[dict]
) -> list[Any]:
    """Card components: candidate vs baseline vs champion, then each condition pass/fail."""
    from metaflow.cards import Markdown, Table

    verdict = "passed" if decision.passed else "failed"
    parts: list[Any] = [Markdown(f"## Gate {verdict}: registered as **{decision.status}**")]
    keys = [k for k in ("accuracy", "macro_f1", "weighted_f1") if k in candidate]
    parts.append(Table(
        [[k, _fmt(candidate, k), _fmt(baseline, k), _fmt(champion, k)] for k in keys],
        headers=["metric", "candidate", "baseline", "champion" if champion else "champion (none)"],
    ))
    parts.append(Table(
        [[c.name, "PASS" if c.passed else "FAIL", c.required,
          "-" if c.observed is None else f"{c.observed:.4f}", c.detail]
         for c in decision.conditions],
        headers=["condition", "result", "required", "observed", "detail"],
    ))
    if decision.reasons:
        parts.append(Markdown("**Reasons:** " + "; ".join(decision.reasons)))
    return parts
