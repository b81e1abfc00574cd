"""Local endpoints with the real inference server (medtx.serving) on a tiny model package:
blue/green under load with zero failed requests, smoke contracts, the version reported."""
from __future__ import annotations

import json
import threading
import urllib.request

import pytest

pytest.importorskip("medtx.serving.process", reason="the inference server is not in this tree")

from medtx.deploy import (  # noqa: E402
    Candidate,
    SmokeSpec,
    procs,  # noqa: E402
)
from medtx.deploy.local import LocalEndpoints, default_launcher  # noqa: E402

LABELS = ["Cardiology", "Neurology", "Orthopedics"]
WORDS = "heart valve stent seizure tremor migraine knee fracture tendon patient plan".split()


@pytest.fixture(scope="module")
def tiny_package(tmp_path_factory, tiny_bert, word_tokenizer):
    from medtx.modeling.features import LongNoteStrategy
    from medtx.modeling.package import save_package

    root = tmp_path_factory.mktemp("deploy-pkg")
    tok = word_tokenizer(WORDS, root / "tok")
    meta = {"long_note": LongNoteStrategy(kind="head", max_length=32).to_dict(),
            "temperature": 1.0, "model_group": "medtx-test"}
    return save_package(tiny_bert(tok, labels=LABELS, seed=1), tok, root / "model", meta)


def ask(port: int) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                 data=json.dumps({"inputs": ["patient heart valve plan"]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["predictions"][0]


def test_real_server_blue_green_under_load(settings, tmp_path, tiny_package):
    s = settings.with_overrides(serving={"capture_to": str(tmp_path / "capture"), "threads": 1})
    eps = LocalEndpoints(tmp_path / "registry", {"staging": procs.free_port()},
                         default_launcher(s), ready_timeout_s=120, drain_timeout_s=10,
                         stop_grace_s=10)
    notes = tuple((" ".join(WORDS[i:i + 4]), LABELS[i % 3]) for i in range(6))
    spec = SmokeSpec(notes, evaluated_accuracy=0.0, tolerance=0.0, latency_budget_ms=5000,
                     latency_requests=5)
    stable = eps.ports["staging"]
    try:
        first = eps.deploy("staging", Candidate(1, "medtx-test", tiny_package), spec)
        assert first.smoke.passed, first.smoke.summary()
        assert ask(stable)["model_version"] == 1
        seen, failures, stop = [], [], threading.Event()

        def load():
            for _ in range(3000):
                if stop.is_set():
                    return
                try:
                    seen.append(ask(stable)["model_version"])
                except Exception as exc:
                    failures.append(type(exc).__name__)

        workers = [threading.Thread(target=load) for _ in range(2)]
        for w in workers:
            w.start()
        second = eps.deploy("staging", Candidate(2, "medtx-test", tiny_package),
                            SmokeSpec(notes, 0.0, 0.0, 5000, 5, expected_version=2))
        for _ in range(20):
            ask(stable)
        stop.set()
        for w in workers:
            w.join(60)
        assert failures == [] and 1 in seen and 2 in seen and len(seen) > 20
        assert second.smoke.passed and second.before.version == 1
        assert [d.version for d in eps.status() if d.state == "serving"] == [2]
        assert not procs.pid_alive(first.after.pid)
    finally:
        eps.stop("staging")
    assert not procs.port_busy(stable)
