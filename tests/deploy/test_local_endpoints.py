"""Local endpoints: blue/green with smoke tests, promotion under load, rollback, stop, dead pids."""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.request

import pytest

from medtx.deploy import Candidate, DeployError, SmokeSpec, procs


def ask(port: int, text: str = "a note from cardiology", timeout: float = 5.0) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                 data=json.dumps({"inputs": [text]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())["predictions"][0]


def spec(notes, version=None):
    return SmokeSpec(tuple(notes), evaluated_accuracy=1.0, tolerance=0.1,
                     latency_budget_ms=2000, latency_requests=5, expected_version=version)


def test_failed_smoke_keeps_previous_version_serving(endpoints, make_package, smoke_notes):
    stable = endpoints.ports["staging"]
    first = endpoints.deploy("staging", Candidate(1, package_dir=make_package(1)), spec(smoke_notes, 1))
    assert first.before is None and first.after.state == "serving" and first.smoke.passed
    assert ask(stable)["model_version"] == 1

    with pytest.raises(DeployError, match="smoke tests.*accuracy") as err:
        endpoints.deploy("staging", Candidate(2, package_dir=make_package(2, "constant")),
                         spec(smoke_notes, 2))
    assert "previous version keeps serving" in str(err.value)
    assert ask(stable)["model_version"] == 1
    cur = endpoints.current("staging")
    assert cur.version == 1 and cur.address == f"http://127.0.0.1:{stable}"
    failed = [d for d in endpoints.history("staging") if d.version == 2]
    assert failed[0].state == "failed" and not procs.pid_alive(failed[0].pid)


def test_promotion_under_load_has_no_failed_request(endpoints, make_package, smoke_notes):
    stable = endpoints.ports["prod"]
    endpoints.deploy("prod", Candidate(1, package_dir=make_package(1, delay_ms=2)), spec(smoke_notes))
    seen, failures, stop = [], [], threading.Event()

    def load():
        n = 0
        while not stop.is_set() and n < 5000:
            n += 1
            try:
                seen.append(ask(stable)["model_version"])
            except Exception as exc:  # any failure counts
                failures.append(type(exc).__name__)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(0.3)
    result = endpoints.deploy("prod", Candidate(2, package_dir=make_package(2, delay_ms=2)),
                              spec(smoke_notes, 2))
    time.sleep(0.3)
    stop.set()
    for w in workers:
        w.join(30)
    assert failures == [] and len(seen) > 100, (failures[:5], len(seen))
    assert 1 in seen and 2 in seen and seen[-1] == 2
    assert seen.index(2) > 0 and 1 not in seen[len(seen) - seen[::-1].index(1):]  # no flip-back
    assert result.before.version == 1 and result.after.version == 2
    old = [d for d in endpoints.history("prod") if d.version == 1][0]
    assert old.state == "stopped" and not procs.pid_alive(old.pid)


def test_two_phase_deploy_rollback_and_stop(endpoints, make_package, smoke_notes):
    stable = endpoints.ports["staging"]
    endpoints.deploy("staging", Candidate(1, package_dir=make_package(1)), spec(smoke_notes))
    ready = endpoints.deploy("staging", Candidate(2, package_dir=make_package(2)),
                             spec(smoke_notes), promote=False)
    assert ready.after.state == "ready" and ask(stable)["model_version"] == 1
    assert ask(ready.after.port)["model_version"] == 2  # candidate answers on its private port
    promoted = endpoints.promote("staging")
    assert promoted.after.version == 2 and ask(stable)["model_version"] == 2

    back = endpoints.rollback("staging")
    assert (back.before.version, back.after.version) == (2, 1)
    assert ask(stable)["model_version"] == 1
    assert [d.version for d in endpoints.status() if d.state == "serving"] == [1]

    stopped = endpoints.stop("staging")
    assert stopped.version == 1
    assert not procs.port_busy(stable)
    assert all(d.state in ("stopped", "failed") for d in endpoints.history("staging"))
    assert all(not procs.pid_alive(d.pid) for d in endpoints.history("staging"))
    with pytest.raises(DeployError, match="no ready candidate"):
        endpoints.promote("staging")


def test_dead_backend_is_noticed_and_replaced(endpoints, make_package, smoke_notes):
    endpoints.deploy("staging", Candidate(1, package_dir=make_package(1)), spec(smoke_notes))
    pid = endpoints.current("staging").pid
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if endpoints.current("staging") is None:
            break
        time.sleep(0.05)
    assert endpoints.current("staging") is None
    dead = [d for d in endpoints.status() if d.stage == "staging"]
    assert [(d.version, d.state) for d in dead] == [(1, "failed")]
    endpoints.deploy("staging", Candidate(2, package_dir=make_package(2)), spec(smoke_notes))
    assert ask(endpoints.ports["staging"])["model_version"] == 2


def test_busy_stable_port_is_refused(endpoints, make_package, smoke_notes):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", endpoints.ports["prod"]))
        squatter.listen()
        with pytest.raises(DeployError, match="busy"):
            endpoints.deploy("prod", Candidate(1, package_dir=make_package(1)), spec(smoke_notes))
    assert endpoints.history("prod") == []


def test_dead_router_is_healed_and_replaced_on_next_deploy(endpoints, make_package, smoke_notes):
    endpoints.deploy("prod", Candidate(1, package_dir=make_package(1)), spec(smoke_notes))
    router = endpoints.db.router("prod")
    os.kill(router.pid, signal.SIGKILL)
    for _ in range(100):
        if not procs.pid_alive(router.pid):
            break
        time.sleep(0.05)
    assert endpoints.current("prod").version == 1  # still serving, but nothing on the port
    assert not procs.port_busy(endpoints.ports["prod"])
    assert endpoints.heal("prod").version == 1
    assert ask(endpoints.ports["prod"])["model_version"] == 1
    healed = endpoints.db.router("prod")
    assert healed.pid != router.pid
    os.kill(healed.pid, signal.SIGKILL)
    for _ in range(100):
        if not procs.pid_alive(healed.pid):
            break
        time.sleep(0.05)
    endpoints.deploy("prod", Candidate(2, package_dir=make_package(2)), spec(smoke_notes))
    assert ask(endpoints.ports["prod"])["model_version"] == 2


def test_concurrent_deploy_to_a_stage_is_refused(endpoints, make_package, smoke_notes):
    with endpoints._locked("staging"), pytest.raises(DeployError, match="in progress"):
        endpoints.deploy("staging", Candidate(1, package_dir=make_package(1)), spec(smoke_notes))
    assert endpoints.history("staging") == []


def test_missing_package_is_refused(endpoints, tmp_path):
    with pytest.raises(DeployError, match="unpacked package folder"):
        endpoints.deploy("staging", Candidate(1, package_dir=tmp_path / "absent"))


def test_a_stage_server_never_exposes_debug_routes(settings, tmp_path):
    """A developer's config may turn the API docs on for `medtx serve`; a deployed stage keeps
    SageMaker's surface (only /ping and /invocations) whatever the config says."""
    from medtx.deploy.local import stage_serving

    mine = settings.with_overrides(serving={"debug_routes": True, "capture_to": str(tmp_path / "c")})
    served = stage_serving(mine, "prod").serving
    assert served.debug_routes is False and served.endpoint_name == "medtx-prod"
    assert mine.serving.debug_routes is True  # the caller's settings are left as they were
