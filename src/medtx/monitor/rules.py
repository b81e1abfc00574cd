"""The retraining rule: when a window's evidence, with the windows before it, calls for retraining.

Configured by ``monitor`` in the config: ``retrain_on`` (the signals that count),
``retrain_windows`` (that many judged windows in a row of the same model version must show
drift on one of them) and ``quality_floor`` (labelled macro-F1 whose whole bootstrap interval
lies below the floor). Windows before the last fired retrain do not count again: a drift that
persists fires again only after another full streak (every ``retrain_windows`` windows), not on
every window until a new model serves.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from medtx.config import MonitorSettings


@dataclass(frozen=True)
class RetrainDecision:
    fire: bool
    reasons: tuple[str, ...] = ()
    streak: int = 0  # judged windows in a row (this one included) drifting on retrain_on
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"fire": self.fire, "reasons": list(self.reasons), "streak": self.streak,
                "detail": self.detail}


def _counts(window: Any, retrain_on: Sequence[str]) -> list[str]:
    return [s for s in getattr(window, "drifted", ()) if s in retrain_on]


def decide(current: Any, history: Sequence[Any], settings: MonitorSettings) -> RetrainDecision:
    """``current`` and ``history`` (older windows, oldest first) have ``status``,
    ``model_version``, ``drifted``, ``quality`` (dict) and ``retrain`` (dict or None)."""
    if current.status != "judged":
        return RetrainDecision(False, detail={"why_not": "window not judged"})
    reasons: list[str] = []
    drifting = _counts(current, settings.retrain_on)
    streak = 0
    if drifting:
        streak = 1
        for past in reversed(list(history)):
            if past.retrain and past.retrain.get("fire"):
                break
            if past.status != "judged":
                continue
            if past.model_version != current.model_version or not _counts(past, settings.retrain_on):
                break
            streak += 1
        if streak >= settings.retrain_windows:
            reasons.append(f"drift on {', '.join(drifting)} in {streak} window(s) in a row "
                           f"(rule: {settings.retrain_windows})")
    floor: Optional[float] = settings.quality_floor
    f1 = (current.quality or {}).get("macro_f1")
    if floor is not None and f1 and f1["high"] < floor:
        reasons.append(f"labelled macro-F1 {f1['value']:.3f} (95% CI {f1['low']:.3f}-"
                       f"{f1['high']:.3f}) is below the floor {floor:.3f}")
    return RetrainDecision(bool(reasons), tuple(reasons), streak,
                           {"drifting": drifting, "retrain_on": list(settings.retrain_on),
                            "retrain_windows": settings.retrain_windows, "quality_floor": floor})
