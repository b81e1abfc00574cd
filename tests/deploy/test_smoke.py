"""Smoke tests against stand-in servers: what a report holds, and that each check can fail."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from medtx.deploy import SmokeSpec, procs, smoke_url

HERE = Path(__file__).resolve().parent


@pytest.fixture
def server(make_package, tmp_path):
    """``start(mode, delay_ms=0) -> url`` of a stand-in server; all stopped at the end."""
    started = []

    def start(mode: str = "keyword", delay_ms: float = 0) -> str:
        port = procs.free_port()
        proc = subprocess.Popen([sys.executable, str(HERE / "standin_server.py"), "--package",
                                 str(make_package(len(started) + 1, mode, delay_ms)),
                                 "--port", str(port)], start_new_session=True)
        started.append(proc)
        assert procs.wait_ready(port, proc.pid, 20) is None
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in started:
        procs.stop_pid(proc.pid, grace_s=5)


def spec(notes, **kw):
    return SmokeSpec(tuple(notes), **{"evaluated_accuracy": 0.95, "tolerance": 0.1,
                                      "latency_budget_ms": 2000.0, "latency_requests": 8, **kw})


def test_passing_report_lists_every_check_without_note_text(server, smoke_notes):
    url = server()
    report = smoke_url(url, spec(smoke_notes, expected_version=1))
    assert report.passed, report.summary()
    assert [c.name for c in report.checks] == ["health", "accuracy", "version", "wrong_content_type",
                                               "malformed_json", "empty_note", "latency"]
    acc = report.check("accuracy")
    assert acc.observed["accuracy"] == 1.0 and acc.observed["notes"] == len(smoke_notes)
    assert acc.required["min_accuracy"] == pytest.approx(0.85)
    assert report.check("wrong_content_type").observed == {"status": 415}
    assert report.check("malformed_json").observed == {"status": 400}
    assert report.check("empty_note").observed == {"status": 400}
    assert len(report.latencies_ms) == 8 and all(t > 0 for t in report.latencies_ms)
    lat = report.check("latency").observed
    assert lat["p95_ms"] == max(report.latencies_ms) and lat["errors"] == 0
    text = json.dumps(report.to_dict()) + repr(report) + repr(spec(smoke_notes))
    assert not any(note in text for note, _ in smoke_notes)
    assert "clinic" not in text  # not even a word of a note


def test_one_class_model_fails_accuracy_only(server, smoke_notes):
    report = smoke_url(server("constant"), spec(smoke_notes, expected_version=1))
    assert not report.passed and report.failed() == ["accuracy"]
    assert report.check("accuracy").observed["accuracy"] == pytest.approx(1 / 3, abs=1e-5)
    assert "accuracy (observed" in report.summary()
    lenient = smoke_url(server("constant"), spec(smoke_notes, evaluated_accuracy=0.8, tolerance=0.5))
    assert lenient.passed  # 1/3 >= 0.8 - 0.5


def test_broken_error_contracts_and_wrong_version_fail(server, smoke_notes):
    report = smoke_url(server("lax"), spec(smoke_notes, expected_version=9))
    assert set(report.failed()) == {"version", "wrong_content_type", "malformed_json", "empty_note"}
    assert report.check("malformed_json").observed == {"status": 200}
    assert report.check("version").observed == {"versions": ["1"]}


def test_latency_budget(server, smoke_notes):
    report = smoke_url(server(delay_ms=30), spec(smoke_notes, latency_budget_ms=20.0))
    assert report.failed() == ["latency"]
    assert report.check("latency").observed["p95_ms"] > 20.0


def test_no_server_fails_health_and_stops():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = smoke_url(f"http://127.0.0.1:{port}", spec([("x", "y")]), timeout_s=2)
    assert not report.passed and [c.name for c in report.checks] == ["health"]
    assert report.check("health").observed == {"status": 0}


def test_spec_from_settings_caps_notes(settings, smoke_notes):
    s = settings.with_overrides(deploy={"smoke_notes": 5, "smoke_tolerance": 0.2,
                                        "latency_budget_ms": 123.0})
    made = SmokeSpec.from_settings(s, smoke_notes, 0.7, expected_version=3)
    assert len(made.notes) == 5 and made.tolerance == 0.2 and made.latency_budget_ms == 123.0
    assert made.expected_version == 3 and made.evaluated_accuracy == 0.7


def test_smoke_requests_carry_a_smoke_inference_id():
    """Capture records of smoke traffic are recognisable, so monitoring can leave them out."""
    import http.server
    import threading

    from medtx.deploy.smoke import HttpTransport
    from medtx.serving.contract import SMOKE_ID_PREFIX

    seen: list = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.headers.get("X-Amzn-SageMaker-Inference-Id"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        transport = HttpTransport(f"http://127.0.0.1:{server.server_address[1]}")
        assert transport.request("GET", "/ping")[0] == 200
        assert transport.request("GET", "/ping")[0] == 200
    finally:
        server.shutdown()
    assert seen == [f"{SMOKE_ID_PREFIX}1", f"{SMOKE_ID_PREFIX}2"]
