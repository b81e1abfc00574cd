"""The approval gate: thresholds from config applied to evidence from this run.

The candidate is compared with the same-run baseline and with the current Approved champion
re-scored on this run's test split, so every comparison is like for like. A model that fails
is still registered, as ``Rejected``, with the failed conditions as its reasons.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

from medtx.config import GateSettings
from medtx.errors import GateFailed

_EPS = 1e-9  # float slack so a margin exactly at the threshold passes


@dataclass(frozen=True)
class Condition:
    """One gate condition and what was observed."""

    name: str
    passed: bool
    observed: Optional[float]
    required: str  # human, e.g. ">= 0.7000"
    detail: str

    def reason(self) -> str:
        """The text recorded when this condition fails."""
        return f"{self.name}: {self.detail} (required {self.required})"


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict: overall pass, the registry status to use, and the evidence."""

    passed: bool
    status: str
    conditions: list
    reasons: list

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _metric(metrics: Optional[dict], key: str, who: str) -> float:
    if not isinstance(metrics, dict) or key not in metrics:
        raise GateFailed(f"{who} metrics lack {key!r}; the gate cannot be applied")
    value = metrics[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GateFailed(f"{who} metric {key!r} must be a number, got {type(value).__name__}")
    return float(value)


def _at_least(
    name: str, observed: float, minimum: float, label: str, sign: bool = False
) -> Condition:
    """``observed >= minimum`` (with float slack); NaN never passes."""
    fmt = "{:+.4f}" if sign else "{:.4f}"
    required = f">= {fmt.format(minimum)}"
    if not math.isfinite(observed):
        return Condition(name, False, None, required, f"{label} is not a number")
    passed = observed >= minimum - _EPS
    op = ">=" if passed else "<"
    return Condition(name, passed, observed, required,
                     f"{label} {fmt.format(observed)} {op} {fmt.format(minimum)}")


def decide(
    candidate: dict, baseline: dict, champion: Optional[dict], gate: GateSettings
) -> GateDecision:
    """Apply the gate to metric dicts (each with ``accuracy`` and ``macro_f1``)."""
    f1 = _metric(candidate, "macro_f1", "candidate")
    acc = _metric(candidate, "accuracy", "candidate")
    base_f1 = _metric(baseline, "macro_f1", "baseline")
    conditions = [
        _at_least("min_macro_f1", f1, gate.min_macro_f1, "macro-F1"),
        _at_least("min_accuracy", acc, gate.min_accuracy, "accuracy"),
        _at_least("margin_over_baseline", f1 - base_f1, gate.min_margin_over_baseline,
                  f"macro-F1 margin over baseline ({f1:.4f} vs {base_f1:.4f})", sign=True),
    ]
    if gate.compare_to_champion:
        if champion is None:
            conditions.append(Condition("not_worse_than_champion", True, None,
                                        f">= {-gate.champion_tolerance:+.4f}", "no champion"))
        else:
            champ_f1 = _metric(champion, "macro_f1", "champion")
            conditions.append(_at_least(
                "not_worse_than_champion", f1 - champ_f1, -gate.champion_tolerance,
                f"macro-F1 difference to champion ({f1:.4f} vs {champ_f1:.4f})", sign=True))
    failed = [c for c in conditions if not c.passed]
    if failed:
        status = "Rejected"
    else:
        status = "Approved" if gate.approval == "auto" else "PendingManualApproval"
    return GateDecision(not failed, status, conditions, [c.reason() for c in failed])
