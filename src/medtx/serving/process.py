"""Run the server as a background process (local endpoints, tests, benchmarks).

    proc = start_server(package_dir, settings, port=free_port(), log_path=Path("serve.log"))
    wait_ready(f"http://127.0.0.1:{port}", timeout=120, proc=proc)
    ...
    stop_server(proc)   # SIGTERM: in-flight requests finish, capture is flushed

The child is ``python -m medtx.serving.server`` with the settings passed as JSON in
``MEDTX_SETTINGS``; it starts its own session, so it can outlive the caller.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from medtx.config import Settings
from medtx.errors import MedtxError


class ServerStartError(MedtxError):
    """A server process exited or did not become ready in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_server(package_dir: Path, settings: Settings, port: int, log_path: Path,
                 host: str = "127.0.0.1", group: Optional[str] = None,
                 version: Optional[int] = None, env: Optional[dict] = None) -> subprocess.Popen:
    """Start serving ``package_dir`` on ``host:port``; stdout and stderr go to ``log_path``."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "medtx.serving.server", "--model-dir", str(Path(package_dir).resolve()),
           "--host", host, "--port", str(int(port))]
    if group:
        cmd += ["--model-group", group]
    if version is not None:
        cmd += ["--model-version", str(int(version))]
    child_env = {**os.environ, **(env or {}), "MEDTX_SETTINGS": json.dumps(settings.to_dict())}
    child_env.pop("MEDTX_SERVING", None)
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def ping(url: str, timeout: float = 2.0) -> int:
    """The status of ``GET <url>/ping`` (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/ping", timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def wait_ready(url: str, timeout: float = 240.0, proc: Optional[subprocess.Popen] = None,
               interval: float = 0.2) -> None:
    """Poll ``/ping`` until 200; ServerStartError when ``proc`` exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(url) == 200:
            return
        if proc is not None and proc.poll() is not None:
            raise ServerStartError(f"server process {proc.pid} exited with status "
                                   f"{proc.returncode} before {url}/ping answered 200")
        time.sleep(interval)
    raise ServerStartError(f"{url}/ping did not answer 200 within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM, wait up to ``timeout`` s (then SIGKILL); the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
