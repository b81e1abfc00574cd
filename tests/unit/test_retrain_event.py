"""The retrain event: published to an Argo Events webhook (a local HTTP server on 127.0.0.1
standing in for it) with errors raised, recorded when local, parsed by TrainFlow."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from medtx.errors import ConfigError
from medtx.flowkit import RETRAIN_PARAMETER, start_retrain
from medtx.stages.train import triggered_by

PAYLOAD = {"reasons": ["drift on input_mmd in 2 window(s) in a row (rule: 2)"], "window_id": 7,
           "monitor_run": "MonitorFlow/12", "endpoint": "medtx-prod", "model_version": 3}


@pytest.fixture
def webhook():
    """``(url, received, set_status)``: a webhook that records each POSTed JSON body."""
    received, status = [], [200]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/medtx", received, lambda code: status.__setitem__(0, code)
    server.shutdown()
    server.server_close()


def test_on_argo_the_event_reaches_the_webhook_with_the_payload(webhook, monkeypatch):
    url, received, _ = webhook
    monkeypatch.setenv("ARGO_WORKFLOW_TEMPLATE", "monitorflow")
    event = start_retrain(PAYLOAD, "medtx.retrain", {}, "flows/train_flow.py", run_locally=False,
                          webhook_url=url)
    assert event.how == "argo" and event.event_id
    (body,) = received
    assert body["name"] == "medtx.retrain" and body["payload"]["id"] == event.event_id
    assert json.loads(body["payload"][RETRAIN_PARAMETER]) == PAYLOAD
    # what TrainFlow does with the parameter the Sensor fills from that field
    got = triggered_by(body["payload"][RETRAIN_PARAMETER])
    assert got.kind == "retrain" and got.reasons == tuple(PAYLOAD["reasons"])
    assert got.source == "MonitorFlow/12"


def test_a_failed_publish_fails_loudly(webhook, monkeypatch):
    from metaflow.plugins.argo.argo_events import ArgoEventException

    url, _, set_status = webhook
    set_status(500)
    monkeypatch.setenv("ARGO_WORKFLOW_TEMPLATE", "monitorflow")
    with pytest.raises(ArgoEventException, match="Unable to publish"):
        start_retrain(PAYLOAD, "medtx.retrain", {}, "flows/train_flow.py", False, webhook_url=url)


def test_locally_without_retrain_the_event_is_only_recorded(monkeypatch):
    monkeypatch.delenv("ARGO_WORKFLOW_TEMPLATE", raising=False)
    event = start_retrain(PAYLOAD, "medtx.retrain", {}, "flows/train_flow.py", run_locally=False)
    assert event.how == "recorded" and f"--{RETRAIN_PARAMETER}" in event.command


def test_trainflow_refuses_a_malformed_retrain_request():
    assert triggered_by("").kind == "manual"
    with pytest.raises(ConfigError, match="not JSON"):
        triggered_by("{nope")
    with pytest.raises(ConfigError, match="list of text 'reasons'"):
        triggered_by(json.dumps({"reasons": "drift"}))
