"""Real server processes: SIGTERM loses no capture record, logs hold no note text, and the
container's ``serve`` entry point and ``medtx serve`` answer on a free 127.0.0.1 port."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from medtx.serving.process import free_port, start_server, stop_server, wait_ready
from medtx.serving.server import container_defaults

ENV = {"TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def _records(root: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(root.rglob("*.jsonl")) for line in f.read_text().splitlines()]


def test_sigterm_flushes_every_capture_record_and_logs_hold_no_note_text(
        package_dir, serving_settings, tmp_path, make_notes, secret, client_for):
    port, log = free_port(), tmp_path / "serve.log"
    proc = start_server(package_dir, serving_settings, port, log, env=ENV)
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=120, proc=proc)
        client = client_for(f"http://127.0.0.1:{port}")
        refused = [client.invoke(b'{"inputs": "' + secret.encode() + b'"', "application/json"),
                   client.invoke({"inputs": [secret, 4]}), client.invoke(secret, "text/plain"),
                   client.invoke({"inputs": secret * 20000})]
        assert [r.status for r in refused] == [400, 400, 415, 413]
        notes = make_notes(40, seed=9)
        ok = [client.invoke({"inputs": n, "inference_id": f"n{i}"}) for i, n in enumerate(notes)]
        assert all(r.status == 200 for r in ok)

        def burst(i: int) -> int:  # requests racing the SIGTERM below
            try:
                return client_for(f"http://127.0.0.1:{port}").invoke(
                    {"inputs": notes[i % 40], "inference_id": f"b{i}"}).status
            except OSError:
                return 0

        with ThreadPoolExecutor(4) as pool:
            racing = [pool.submit(burst, i) for i in range(60)]
            time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            statuses = [f.result() for f in racing]
        assert proc.wait(30) == 0
    finally:
        stop_server(proc)
    answered = 40 + statuses.count(200)
    records = _records(Path(serving_settings.serving.capture_to))
    assert len(records) == answered  # every answered request was captured, none lost
    assert len({r["eventMetadata"]["eventId"] for r in records}) == answered
    text = log.read_text()
    assert "invocations: 200" in text and "invocations: 400" in text and "invocations: 413" in text
    assert secret not in text and "model ready" in text and "capture closed" in text


def test_container_entry_point_serves_the_model_dir_on_the_bind_port(
        package_dir, tmp_path, client_for):
    assert container_defaults({}) == {"model_dir": "/opt/ml/model", "host": "0.0.0.0", "port": 8080}
    assert container_defaults({"SAGEMAKER_BIND_TO_PORT": "9001"})["port"] == 9001
    port = free_port()
    env = {**os.environ, **ENV, "SM_MODEL_DIR": str(package_dir), "SAGEMAKER_BIND_TO_PORT": str(port),
           "MEDTX_SERVING": json.dumps({"capture_to": str(tmp_path / "dc"), "threads": 1,
                                        "debug_routes": True})}
    env.pop("MEDTX_SETTINGS", None)
    # --host keeps the test on loopback; inside the container the default is 0.0.0.0
    proc = subprocess.Popen([sys.executable, "-m", "medtx.serving.server", "serve", "--host", "127.0.0.1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=120, proc=proc)
        r = client_for(f"http://127.0.0.1:{port}").invoke({"inputs": "heart murmur"})
        assert r.status == 200
        assert r.json()["predictions"][0]["model_version"] == 7  # from the package's medtx.json
        # SageMaker exposes /ping and /invocations only: the container drops debug routes it is given
        assert client_for(f"http://127.0.0.1:{port}").request("GET", "/openapi.json").status == 404
    finally:
        assert stop_server(proc) == 0
    assert len(_records(tmp_path / "dc")) == 1


def test_medtx_serve_serves_a_package_folder(package_dir, tmp_path, client_for):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"env": "test", "registry": {"path": str(tmp_path / "reg")},
                                  "serving": {"capture_to": None, "threads": 1}}))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "medtx.cli.main", "serve", "--model", str(package_dir),
                             "--port", str(port), "--config", str(config)],
                            env={**os.environ, **ENV}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=120, proc=proc)
        r = client_for(f"http://127.0.0.1:{port}").invoke("heart\nknee\n", "text/csv")
        assert r.status == 200 and len(r.json()["predictions"]) == 2
    finally:
        assert stop_server(proc) == 0
