"""Smoke tests against a live endpoint: health, labelled notes, error contracts, latency.

They run over a small :class:`Transport` (plain HTTP for local endpoints and the test servers),
so the same checks judge any endpoint before it takes traffic. A :class:`SmokeReport` carries
only statuses, counts, versions and timings: never note text, never a response body.
"""
from __future__ import annotations

import http.client
import json
import math
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Protocol

from medtx.config import Settings
from medtx.serving.contract import INFERENCE_ID_HEADER, SMOKE_ID_PREFIX

JSON = "application/json"


class Transport(Protocol):
    """One request to an endpoint -> (HTTP status, body bytes)."""

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                content_type: Optional[str] = None) -> tuple[int, bytes]: ...


class HttpTransport:
    """HTTP/1.1 to ``base_url`` (``http://127.0.0.1:8081``), one connection per request; each
    request carries an inference id starting with :data:`~medtx.serving.contract.SMOKE_ID_PREFIX`."""

    def __init__(self, base_url: str, timeout_s: float = 30.0, token: Optional[str] = None):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"smoke tests need an http:// URL, got {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout_s, self.token = timeout_s, token
        self.sent = 0  # requests made, numbering the smoke inference ids

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                content_type: Optional[str] = None) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type} if content_type else {}
        self.sent += 1
        headers[INFERENCE_ID_HEADER] = f"{SMOKE_ID_PREFIX}{self.sent}"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            return 0, b""  # no answer: status 0
        finally:
            conn.close()


@dataclass(frozen=True)
class SmokeSpec:
    """What a candidate must pass. ``notes`` are (text, label) pairs; text never leaves here."""

    notes: tuple[tuple[str, str], ...]
    evaluated_accuracy: float  # the version's test accuracy from its evaluation
    tolerance: float = 0.1  # smoke accuracy >= evaluated_accuracy - tolerance
    latency_budget_ms: float = 500.0  # p95 of single-note requests
    latency_requests: int = 20
    batch_size: int = 16  # notes per labelled request
    expected_version: Optional[int] = None  # every answer must name this version

    def __repr__(self) -> str:  # never show note text
        return (f"SmokeSpec(notes={len(self.notes)}, evaluated_accuracy={self.evaluated_accuracy}, "
                f"tolerance={self.tolerance}, expected_version={self.expected_version})")

    @classmethod
    def from_settings(cls, settings: Settings, notes: Sequence[tuple[str, str]],
                      evaluated_accuracy: float, expected_version: Optional[int] = None) -> SmokeSpec:
        """From ``deploy`` (smoke_notes, smoke_tolerance, latency_budget_ms) and the notes."""
        d = settings.deploy
        picked = tuple((str(t), str(y)) for t, y in list(notes)[: d.smoke_notes])
        batch = max(1, min(16, settings.serving.max_notes))
        return cls(picked, float(evaluated_accuracy), d.smoke_tolerance, d.latency_budget_ms,
                   batch_size=batch, expected_version=expected_version)


@dataclass(frozen=True)
class SmokeCheck:
    """One check: its name, whether it passed, what was observed and what was required."""

    name: str
    passed: bool
    observed: Any
    required: Any


@dataclass(frozen=True)
class SmokeReport:
    """All checks of one smoke run; ``latencies_ms`` are the single-note request times."""

    address: str
    passed: bool
    checks: tuple[SmokeCheck, ...]
    latencies_ms: tuple[float, ...] = field(default_factory=tuple)

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def check(self, name: str) -> SmokeCheck:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for errors and logs: the failed checks with what they observed."""
        bad = [f"{c.name} (observed {c.observed}, required {c.required})"
               for c in self.checks if not c.passed]
        return "all smoke checks passed" if not bad else "failed: " + "; ".join(bad)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def predictions_of(body: bytes) -> list[dict]:
    """The per-note answers of an /invocations body (``{"predictions": [...]}`` or a list)."""
    data = json.loads(body)
    items = data.get("predictions", data.get("outputs")) if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError("response is not a list of per-note answers")
    return items


def _invoke(t: Transport, texts: list[str]) -> tuple[int, Optional[list[dict]]]:
    status, body = t.request("POST", "/invocations", json.dumps({"inputs": texts}).encode(), JSON)
    if status != 200:
        return status, None
    try:
        items = predictions_of(body)
    except (ValueError, json.JSONDecodeError):
        return -1, None  # 200 with an unreadable body
    return status, items if len(items) == len(texts) else None


def _health(t: Transport) -> SmokeCheck:
    status, _ = t.request("GET", "/ping")
    return SmokeCheck("health", status == 200, {"status": status}, {"status": 200})


def _labelled(t: Transport, spec: SmokeSpec) -> list[SmokeCheck]:
    required = round(spec.evaluated_accuracy - spec.tolerance, 6)
    right, seen, statuses, versions = 0, 0, set(), set()
    notes = list(spec.notes)
    for i in range(0, len(notes), spec.batch_size):
        chunk = notes[i:i + spec.batch_size]
        status, items = _invoke(t, [text for text, _ in chunk])
        statuses.add(status)
        for (_, label), item in zip(chunk, items or []):
            seen += 1
            right += str(item.get("label")) == label
            versions.add(str(item.get("model_version", item.get("version"))))
    acc = right / len(notes) if notes else math.nan
    ok = bool(notes) and seen == len(notes) and acc >= required
    checks = [SmokeCheck("accuracy", ok, {"accuracy": round(acc, 6), "notes": len(notes),
                                          "answered": seen, "statuses": sorted(statuses)},
                         {"min_accuracy": required, "notes": ">= 1"})]
    if spec.expected_version is not None:
        want = str(spec.expected_version)
        checks.append(SmokeCheck("version", versions == {want}, {"versions": sorted(versions)},
                                 {"versions": [want]}))
    return checks


def _contracts(t: Transport) -> list[SmokeCheck]:
    cases = [("wrong_content_type", b'{"inputs": ["x"]}', "text/plain", 415),
             ("malformed_json", b'{"inputs": [', JSON, 400),
             ("empty_note", json.dumps({"inputs": [""]}).encode(), JSON, 400)]
    out = []
    for name, body, ctype, want in cases:
        status, _ = t.request("POST", "/invocations", body, ctype)
        out.append(SmokeCheck(name, status == want, {"status": status}, {"status": want}))
    return out


def _latency(t: Transport, spec: SmokeSpec) -> tuple[SmokeCheck, tuple[float, ...]]:
    texts = [text for text, _ in spec.notes] or ["no findings"]
    times, errors = [], 0
    for i in range(spec.latency_requests):
        start = time.perf_counter()
        status, _ = _invoke(t, [texts[i % len(texts)]])
        times.append(round((time.perf_counter() - start) * 1000, 3))
        errors += status != 200
    p95 = percentile(times, 95)
    ok = errors == 0 and bool(times) and p95 <= spec.latency_budget_ms
    observed = {"p50_ms": percentile(times, 50), "p95_ms": p95, "max_ms": max(times, default=0.0),
                "requests": len(times), "errors": errors}
    return SmokeCheck("latency", ok, observed, {"p95_ms": spec.latency_budget_ms, "errors": 0}), tuple(times)


def run_smoke(transport: Transport, spec: Optional[SmokeSpec], address: str = "") -> SmokeReport:
    """Run every check (health only when ``spec`` is None); never raises on a bad answer."""
    checks = [_health(transport)]
    latencies: tuple[float, ...] = ()
    if spec is not None and checks[0].passed:
        checks += _labelled(transport, spec)
        checks += _contracts(transport)
        lat, latencies = _latency(transport, spec)
        checks.append(lat)
    return SmokeReport(address, all(c.passed for c in checks), tuple(checks), latencies)


def smoke_url(url: str, spec: Optional[SmokeSpec], timeout_s: float = 30.0,
              token: Optional[str] = None) -> SmokeReport:
    """:func:`run_smoke` against an HTTP endpoint URL."""
    return run_smoke(HttpTransport(url, timeout_s, token), spec, address=url)
