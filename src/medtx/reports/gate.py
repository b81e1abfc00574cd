"""Card components for the register step: the evidence behind a gate decision."""
from __future__ import annotations

from typing import Any, Optional

from medtx.evaluation.gate import GateDecision
from medtx.reports.format import number


def _fmt(metrics: Optional[dict], key: str) -> str:
    return number(float(metrics[key]) if metrics and isinstance(metrics.get(key), (int, float))
                  else None, 4, missing="-")


def gate_card(registered: Any, evaluation: Any) -> list[Any]:
    """The register step's card (``registered``: :class:`medtx.stages.train.Registered`)."""
    champion = registered.champion.headline() if registered.champion is not None else None
    return decision_card(registered.decision, evaluation.model.to_dict(),
                         evaluation.baseline.to_dict(), champion)


def decision_card(
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
