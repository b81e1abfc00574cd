"""MonitorFlow's stages: read a window of captured traffic, test it for drift, measure quality
against the labels that have arrived, apply the retraining rule and record it all.

A window runs from where the last judged window ended (the first one: ``monitor.window_hours``
back) to now, or between the bounds given. Reading is incremental and is committed only once
the window is recorded, so a failed run, or a window with too little traffic, leaves its
records to the next run. The note text never leaves :func:`read_window`: every later artifact
holds numbers, ids and hashes only.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

from medtx.config import Settings, settings_from
from medtx.errors import MonitorError
from medtx.monitor.analysis import WindowFeatures
from medtx.monitor.capture_reader import CaptureCounts, Pending
from medtx.monitor.drift import Signal
from medtx.monitor.profile import ReferenceProfile
from medtx.monitor.quality import Quality
from medtx.monitor.rules import RetrainDecision
from medtx.monitor.target import Target, target_of  # noqa: F401  (re-exported for the flow)

log = logging.getLogger("medtx.stages.monitor")
REPORT_FILE = "monitor.json"


@dataclass(frozen=True)
class WindowRead:
    """A read window, text-free: bounds, counts, the model version and its profile, features."""

    target: Target
    since: Optional[str]
    until: str
    counts: CaptureCounts
    model_version: Optional[int]
    version_source: str  # requested | capture | latest Approved | none
    enough: bool
    message: str  # "not enough traffic: ..." or ""
    pending: Pending = field(repr=False)
    features: Optional[WindowFeatures] = field(default=None, repr=False)
    profile: Optional[ReferenceProfile] = field(default=None, repr=False)

    @property
    def n_notes(self) -> int:
        return len(self.features) if self.features is not None else self.counts.rows


@dataclass(frozen=True)
class QualityReport:
    """This window's quality and late-label updates of earlier windows (window id -> quality)."""

    current: Quality
    updated: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What a monitor run concluded and where it is recorded."""

    window_id: int
    status: str  # judged | insufficient
    verdict: str
    drifted: tuple[str, ...]
    decision: RetrainDecision
    report_path: str
    retrain_payload: Optional[dict] = None


def resolve_settings(cfg: Any) -> Settings:
    return settings_from(cfg)


def _parse_time(value: str, what: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MonitorError(f"{what} {value!r} is not an ISO time (e.g. 2026-12-01T06:00:00Z)") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def window_bounds(settings: Settings, root: Path, since: str = "", until: str = "",
                  now: Optional[datetime] = None) -> tuple[datetime, datetime]:
    """``(since, until)``: as given, else from the last judged window's end (first window:
    ``monitor.window_hours`` before ``until``) to now; ``root`` is the opened state folder."""
    from medtx.monitor.store import MonitorStore

    hi = _parse_time(until, "--until") if until else (now or datetime.now(timezone.utc))
    if since:
        lo = _parse_time(since, "--since")
    else:
        last = MonitorStore(root).last_judged()
        lo = (_parse_time(last.until, "last window end") if last is not None
              else hi - timedelta(hours=settings.monitor.window_hours))
    if lo >= hi:
        raise MonitorError(f"empty window: since {_iso(lo)} is not before until {_iso(hi)}")
    return lo, hi


def _version(settings: Settings, requested: str, rows: Any) -> tuple[Optional[int], str]:
    from medtx.registry import APPROVED, open_registry

    if requested:
        return open_registry(settings).resolve(requested).version, "requested"
    if "model_version" in rows.columns:
        versions = rows["model_version"].dropna()
        if len(versions):
            return int(versions.value_counts().index[0]), "capture"
    latest = open_registry(settings).latest(APPROVED)
    return (latest.version, "latest Approved") if latest is not None else (None, "none")


def load_reference(settings: Settings, version: int) -> ReferenceProfile:
    """The reference profile inside the registered package of ``version``."""
    from medtx.monitor.profile import load_profile
    from medtx.registry.refs import resolve_model_ref

    return load_profile(Path(resolve_model_ref(str(version), settings)))


def read_window(settings: Settings, target: Target, since: str = "", until: str = "",
                version: str = "", now: Optional[datetime] = None) -> WindowRead:
    """Read the window's new capture records (not committed yet) and describe them."""
    from medtx.monitor.analysis import window_features
    from medtx.monitor.capture_reader import CaptureReader
    from medtx.monitor.state import local_state

    with local_state(target.state_dir, settings.aws) as root:  # one download of the state
        lo, hi = window_bounds(settings, root, since, until, now)
        reader = CaptureReader(target.capture_prefix, root / "capture", target.endpoint,
                               target.variant, aws=settings.aws, account=settings.monitor.account)
        window = reader.read(lo, hi, commit=False)
    model_version, source = _version(settings, version, window.rows)
    base = WindowRead(target=target, since=_iso(lo), until=_iso(hi), counts=window.counts,
                      model_version=model_version, version_source=source, enough=False, message="",
                      pending=window.pending)
    minimum = settings.monitor.min_notes
    if model_version is None or window.rows.empty:
        reason = ("no model version serves this endpoint (none in the capture, none Approved)"
                  if model_version is None and not window.rows.empty else window.message(minimum))
        return replace(base, message=reason)
    profile = load_reference(settings, model_version)
    features = window_features(window.rows, profile, model_version)
    enough = len(features) >= minimum
    left_out = "".join(f", {n} {why.replace('_', ' ')}" for why, n in features.excluded.items())
    message = "" if enough else (f"not enough traffic: {len(features)} note(s) of model version "
                                 f"{model_version} in the window, minimum {minimum}"
                                 + (f" (left out{left_out})" if left_out else ""))
    log.info("window %s..%s: %d notes of version %d; %s", base.since, base.until,
             len(features), model_version, window.counts.to_dict())
    return replace(base, enough=enough, message=message, features=features, profile=profile)


def window_summary(read: WindowRead) -> dict:
    """The read window as a text-free dict (the window card and ``monitor.json`` use it)."""
    return {"endpoint": read.target.endpoint, "stage": read.target.stage, "since": read.since,
            "until": read.until, "model_version": read.model_version,
            "model_version_source": read.version_source, "n_notes": read.n_notes,
            "message": read.message, "counts": read.counts.to_dict(),
            "excluded": read.features.excluded if read.features is not None else {}}


def drift(read: WindowRead, settings: Settings) -> tuple[Signal, ...]:
    """Every drift signal of the window, FDR-controlled; none for a window not judged."""
    from medtx.monitor.analysis import window_signals

    if not read.enough or read.features is None or read.profile is None:
        return ()
    m = settings.monitor
    return tuple(window_signals(read.features, read.profile, m.alpha, m.permutations,
                                seed=settings.split.seed))


def _joiner(labels: Any) -> Any:
    """``join(predictions) -> (labelled rows, label ids matching none of them)`` over ``labels``."""
    from medtx.monitor.labels import join_labels

    def join(predictions: Any) -> tuple[Any, int]:
        if labels.empty or predictions.empty:
            return predictions.iloc[0:0].assign(true_label=[], label_source=[]), 0
        return join_labels(predictions, labels)

    return join


def quality(read: WindowRead, settings: Settings) -> QualityReport:
    """Quality of this window from the labels imported so far, and of the recent windows whose
    labels arrived since they were judged (late labels)."""
    from medtx.monitor.state import local_state

    m = settings.monitor
    if read.features is None or read.profile is None:
        return QualityReport(Quality(n_notes=read.n_notes, n_labelled=0, min_labels=m.min_labels))
    with local_state(read.target.state_dir, settings.aws) as root:
        return _quality(read, read.features, read.profile, settings, root)


def _quality(read: WindowRead, features: WindowFeatures, profile: ReferenceProfile, settings: Settings,
             root: Path) -> QualityReport:
    from medtx.monitor.quality import measure
    from medtx.monitor.store import MonitorStore

    m = settings.monitor
    store = MonitorStore(root)
    join = _joiner(store.labels())  # the label table, read once for every window below
    rows = features.rows
    joined, _ = join(rows)
    # unknown: ids matching no note of this window nor of any window recorded before it
    _, unknown = _joiner(store.unmatched_labels())(rows)
    labels = list(profile.labels)
    current = measure(joined, labels, len(rows), rows["confidence"], m.min_labels, m.bootstrap,
                      settings.split.seed, unknown_ids=unknown)
    updated = {}
    recent = [w for w in store.windows(last=m.recent_windows, status="judged")
              if w.model_version == read.model_version]
    for w in recent:
        past = store.predictions([w.id])
        j, _ = join(past)
        before = w.quality or {}  # labelled rows it was measured on, unknown classes included
        if len(j) != int(before.get("n_labelled", 0)) + int(before.get("unknown_classes", 0)):
            q = measure(j, labels, len(past), past["confidence"], m.min_labels, m.bootstrap,
                        settings.split.seed)
            updated[w.id] = q.to_dict()
    return QualityReport(current, updated)


def _verdict(read: WindowRead, signals: tuple[Signal, ...]) -> tuple[str, str, tuple[str, ...]]:
    if not read.enough:
        return "insufficient", read.message, ()
    drifted = tuple(s.name for s in signals if s.drifted)
    return "judged", (f"drift: {', '.join(drifted)}" if drifted else "no drift"), drifted


def retrain_payload(decision: RetrainDecision, read: WindowRead, window_id: int,
                    pathspec: str) -> dict:
    """The retrain event's payload: why, from which window and model, by which run."""
    return {"reasons": list(decision.reasons), "monitor_run": "/".join(pathspec.split("/")[:2]),
            "monitor_task": pathspec, "window_id": window_id,
            "since": read.since, "until": read.until, "endpoint": read.target.endpoint,
            "stage": read.target.stage, "model_version": read.model_version,
            "drifted": list(decision.detail.get("drifting", [])),
            "published_at": _iso(datetime.now(timezone.utc))}


def record(read: WindowRead, signals: tuple[Signal, ...], report: QualityReport,
           settings: Settings, pathspec: str) -> tuple[Outcome, dict]:
    """Apply the retrain rule, store the window (and its predictions), update late-label
    quality, commit the capture reading (judged windows only) and write ``monitor.json``
    (``<state_dir>/reports/``: one per window and the latest); returns it with the outcome."""
    from medtx.monitor.state import local_state

    with local_state(read.target.state_dir, settings.aws, write=True) as root:
        return _record(read, signals, report, settings, pathspec, root)


def _record(read: WindowRead, signals: tuple[Signal, ...], report: QualityReport,
            settings: Settings, pathspec: str, root: Path) -> tuple[Outcome, dict]:
    import dataclasses as dc

    from medtx.monitor.capture_reader import CaptureReader
    from medtx.monitor.rules import decide
    from medtx.monitor.store import MonitorStore, WindowRecord

    store = MonitorStore(root)
    status, verdict, drifted = _verdict(read, signals)
    history = store.windows(last=settings.monitor.retrain_windows * 4)
    current = WindowRecord(0, read.since, read.until, "", status, read.model_version,
                           read.n_notes, verdict, drifted, {}, report.current.to_dict(),
                           read.counts.to_dict(), None, pathspec)
    decision = decide(current, history, settings.monitor)
    counts = {**read.counts.to_dict(),
              **({"excluded": read.features.excluded} if read.features is not None else {})}
    signal_docs = signal_dicts(signals)
    window_id = store.add_window(
        since=read.since, until=read.until, status=status, model_version=read.model_version,
        n_notes=read.n_notes, verdict=verdict, drifted=list(drifted), signals=signal_docs,
        quality=report.current.to_dict(), counts=counts, retrain=decision.to_dict(),
        run=pathspec, predictions=read.features.rows if status == "judged" and read.features is not None else None)
    for wid, q in report.updated.items():
        store.update_quality(wid, q)
    if status == "judged":  # an insufficient window's records are read again next time
        CaptureReader(read.target.capture_prefix, root / "capture", read.target.endpoint,
                      read.target.variant).commit(read.pending)
    payload = retrain_payload(decision, read, window_id, pathspec) if decision.fire else None
    outcome = Outcome(window_id, status, verdict, drifted, decision, "", payload)
    name = f"window-{window_id:05d}-{REPORT_FILE}"
    path = root / "reports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = monitor_document(read, signals, report, outcome, store.windows(last=settings.monitor.recent_windows))
    path.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str), encoding="utf-8")
    (path.parent / REPORT_FILE).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    log.info("window %d (%s): %s%s", window_id, status, verdict,
             f"; retrain: {'; '.join(decision.reasons)}" if decision.fire else "")
    return dc.replace(outcome, report_path=f"{read.target.state_dir}/reports/{name}"), doc


def signal_dicts(signals: tuple[Signal, ...]) -> dict:
    """``{name: signal_dict}`` for cards and ``monitor.json``."""
    return {s.name: signal_dict(s) for s in signals}


def signal_dict(s: Signal) -> dict:
    return {"statistic": s.statistic, "p_value": s.p_value, "threshold": s.threshold,
            "drifted": s.drifted, "detail": dict(s.detail)}


def drifting_classes(signals: tuple[Signal, ...], top: int = 5) -> list[dict]:
    """The classes whose predicted share or confidence moved most (from the prediction signals)."""
    by = {s.name: s for s in signals}
    out: dict[str, dict] = {}
    if "predicted_label" in by:
        for label, change in list(by["predicted_label"].detail.get("share_change", {}).items()):
            out.setdefault(label, {"label": label})["share_change"] = change
    if "confidence" in by:
        for c in by["confidence"].detail.get("per_class", []):
            out.setdefault(c["label"], {"label": c["label"]}).update(
                confidence_ks=c["statistic"], confidence_p=c["p_value"])
    ranked = sorted(out.values(), key=lambda d: -max(abs(d.get("share_change", 0.0)),
                                                    d.get("confidence_ks", 0.0)))
    return ranked[:top]


def monitor_document(read: WindowRead, signals: tuple[Signal, ...], report: QualityReport,
                     outcome: Outcome, recent: list) -> dict:
    """``monitor.json``: the window, every signal, quality, the decision and recent windows."""
    return {
        "format": 1, "window_id": outcome.window_id, "status": outcome.status,
        "verdict": outcome.verdict, "drifted": list(outcome.drifted), **window_summary(read),
        "signals": signal_dicts(signals),
        "drifting_classes": drifting_classes(signals),
        "quality": report.current.to_dict(), "late_label_updates": report.updated,
        "retrain": outcome.decision.to_dict(), "retrain_payload": outcome.retrain_payload,
        "recent_windows": [w.to_dict() for w in recent],
    }
