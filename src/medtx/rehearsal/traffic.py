"""Synthetic traffic for a rehearsal: held-out demo notes, unchanged or shifted, sent to a local
endpoint the way a caller would (SageMaker's contract, one inference id per request)."""
from __future__ import annotations

import json
import re
import urllib.request

from medtx.errors import RehearsalError
from medtx.serving.contract import INFERENCE_ID_HEADER

SHIFTS = ("none", "truncate", "template")
TRAFFIC_SEED = 9001  # notes the built-in demo training set (seed 0) never saw
_HEADER = re.compile(r"[A-Z][A-Z /&-]+:,\s*")  # a demo note's "SECTION:,  " heading


def shift_notes(notes: list[str], shift: str) -> list[str]:
    """``notes`` as they are, truncated to 160 characters, or dictated without section headers."""
    if shift not in SHIFTS:
        raise RehearsalError(f"unknown shift {shift!r}; one of {', '.join(SHIFTS)}")
    if shift == "truncate":
        return [note[:160] for note in notes]
    if shift == "template":
        return [_HEADER.sub(lambda m: m.group(0)[:-1].strip(":, ").lower() + " - ", note) for note in notes]
    return list(notes)


def traffic_notes(n: int, shift: str = "none", seed: int = TRAFFIC_SEED) -> list[str]:
    """``n`` synthetic notes the demo model never saw, unchanged or shifted."""
    from medtx.data.demo import make_demo_notes

    frame = make_demo_notes(n=max(600, 2 * n), seed=seed).dropna(subset=["transcription"])
    return shift_notes(list(frame["transcription"][:n]), shift)


def send_traffic(port: int, notes: list[str], batch: int = 8, prefix: str = "pipeline") -> int:
    """POST ``notes`` to 127.0.0.1:``port`` in requests of ``batch`` notes; notes answered."""
    answered = 0
    for start in range(0, len(notes), batch):
        body = json.dumps({"inputs": notes[start:start + batch]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body, headers={
            "Content-Type": "application/json", INFERENCE_ID_HEADER: f"{prefix}-{start}"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                answered += len(json.loads(resp.read())["predictions"])
        except OSError as exc:
            raise RehearsalError(f"endpoint 127.0.0.1:{port} did not answer: {exc}") from None
    return answered
