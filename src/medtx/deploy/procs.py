"""Processes and ports on 127.0.0.1: liveness (dead and zombie pids, reused pids), free and
busy ports, readiness polling, stopping, and the router's control channel."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from medtx.deploy.base import DeployError

HOST = "127.0.0.1"


def proc_start(pid: int) -> Optional[str]:
    """The kernel's start time of ``pid`` (``/proc/<pid>/stat`` field 22), None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def pid_alive(pid: Optional[int], start: Optional[str] = None) -> bool:
    """True while ``pid`` runs (not a zombie) and, when ``start`` is known, is the same process."""
    if not pid:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # reap our own dead children
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except OSError:
        pass
    now = proc_start(pid)
    return start is None or now is None or now == start


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_busy(port: int) -> bool:
    """True when something accepts connections on ``127.0.0.1:port``."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def ping(port: int, timeout_s: float = 2.0) -> int:
    """Status of ``GET /ping`` on the port (0 when nothing answers)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        conn.request("GET", "/ping")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def wait_ready(port: int, pid: int, timeout_s: float) -> Optional[str]:
    """Poll ``/ping`` until 200; the reason it never came (exit, timeout), or None when ready."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ping(port) == 200:
            return None
        if not pid_alive(pid):
            return "the server process exited before answering /ping"
        time.sleep(0.05)
    return f"/ping did not answer 200 within {timeout_s:g} s"


def stop_pid(pid: Optional[int], start: Optional[str] = None, grace_s: float = 30.0) -> None:
    """SIGTERM (to the process group when ``pid`` leads one), SIGKILL after ``grace_s``."""
    if pid is None or not pid_alive(pid, start):
        return
    try:
        group = os.getpgid(pid) == pid
    except OSError:
        group = False
    kill = (lambda s: os.killpg(pid, s)) if group else (lambda s: os.kill(pid, s))
    try:
        kill(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if not pid_alive(pid, start):
                return
            time.sleep(0.05)
        kill(signal.SIGKILL)
        for _ in range(100):
            if not pid_alive(pid, start):
                return
            time.sleep(0.05)
    except ProcessLookupError:
        return


def control(control_port: int, message: dict, timeout_s: float = 5.0) -> dict:
    """One JSON request to a router's control port; DeployError when it does not answer."""
    try:
        with socket.create_connection((HOST, control_port), timeout=timeout_s) as s:
            s.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data or b"{}")
    except (OSError, ValueError) as exc:
        raise DeployError(f"router control port {control_port} did not answer: {exc}") from None
    if not reply.get("ok"):
        raise DeployError(f"router refused {message.get('op')!r}: {reply.get('error')}")
    return reply


def start_router(port: int, backend: int, ready_file: Path, log_path: Path,
                 timeout_s: float = 15.0) -> dict:
    """Start a detached router on the stable ``port``; its ready info ``{pid, port, control_port}``."""
    ready_file.unlink(missing_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "medtx.deploy.router", "--port", str(port),
             "--backend", str(backend), "--ready-file", str(ready_file)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready_file.exists():
            info = json.loads(ready_file.read_text())
            info["pid_start"] = proc_start(info["pid"])
            return info
        code = proc.poll()
        if code is not None:
            why = f"port {port} is busy" if code == 2 else f"it exited with status {code}"
            raise DeployError(f"the router for 127.0.0.1:{port} did not start: {why} "
                              f"(log: {log_path})")
        time.sleep(0.02)
    stop_pid(proc.pid, grace_s=1)
    raise DeployError(f"the router for 127.0.0.1:{port} was not ready within {timeout_s:g} s")
