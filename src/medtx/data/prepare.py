"""The data-preparation chain, written once: ingest -> data checks -> split.

TrainFlow runs the three links as separate steps (each with its own card); everything else
that needs checked notes (``bench/quality.py``, ``medtx evaluate`` / ``validate``, the tests)
calls :func:`prepare`, so every caller sees exactly the notes the flow trains on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pandas as pd

from medtx.config import Settings
from medtx.data.checks import ValidationReport, validate
from medtx.data.ingest import IngestInfo, ingest
from medtx.data.labels import resolve_policy
from medtx.data.split import Split, split_notes


@dataclass(frozen=True)
class PreparedData:
    """What the chain produced: where the rows came from, the checked notes, the split."""

    info: IngestInfo
    report: ValidationReport
    split: Optional[Split]  # None when prepare(..., split=False)

    @property
    def notes(self) -> pd.DataFrame:
        return self.report.notes


def check_notes(raw: pd.DataFrame, settings: Settings) -> ValidationReport:
    """The great-expectations suites and the configured label policy over an ingested frame."""
    return validate(raw, settings, resolve_policy(settings.labels))


def prepare(settings: Settings, source: Optional[str] = None, split: bool = True) -> PreparedData:
    """Ingest ``source`` (default: ``settings.data.path``, else the demo set), check, split."""
    raw, info = ingest(source, settings)
    report = check_notes(raw, settings)
    return PreparedData(info, report, split_notes(report.notes, settings.split) if split else None)
