"""Local endpoints: real server processes on 127.0.0.1 that outlive the flow run.

Each stage has a stable port (``deploy.targets[stage].port``) held by a tiny router process
(:mod:`medtx.deploy.router`) that forwards each connection to the current backend. A deploy
starts the candidate on a private port, waits for ``/ping``, runs the smoke tests there, then
switches the router (atomic; new connections go to the candidate at once), waits for the old
backend's open connections to drain and stops it. Any failure before the switch stops the
candidate and leaves the old backend serving. State lives in ``<registry.path>/endpoints.db``
(:mod:`medtx.deploy.localdb`); logs and kept packages under ``<registry.path>/endpoints/``.

A launcher starts one server on 127.0.0.1:
``launcher(package_dir, port, log_path, version=N, group=G, stage=S) -> subprocess.Popen``; the default
is ``medtx.serving.process.start_server`` (a detached ``python -m medtx.serving.server``).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional

from medtx.config import Settings
from medtx.deploy import procs
from medtx.deploy.base import (
    DRAINING,
    FAILED,
    READY,
    SERVING,
    STARTING,
    STOPPED,
    Candidate,
    DeployError,
    Deployment,
    DeployResult,
)
from medtx.deploy.localdb import BackendRow, EndpointDB
from medtx.deploy.smoke import SmokeSpec, smoke_url
from medtx.serving.contract import stage_endpoint

Launcher = Callable[..., Any]
LIVE = (STARTING, READY, SERVING, DRAINING)


def default_launcher(settings: Settings) -> Launcher:
    """``medtx.serving.process.start_server`` with ``settings`` (DeployError if absent)."""
    try:
        from medtx.serving.process import start_server
    except ImportError as exc:
        raise DeployError(f"the inference server (medtx.serving) is not available: {exc}") from None
    def launch(package: Path, port: int, log: Path, version: Optional[int] = None,
               group: Optional[str] = None, stage: Optional[str] = None) -> Any:
        return start_server(package, stage_serving(settings, stage), port, log,
                            group=group or None, version=version)

    return launch


def stage_serving(settings: Settings, stage: Optional[str]) -> Settings:
    """Settings for one stage's server: capture under its own endpoint name (``medtx-<stage>``)
    and, for a local folder, at an absolute path (the server outlives the caller's cwd); no
    debug routes, whatever the config says (a deployed stage answers /ping and /invocations)."""
    capture = settings.serving.capture_to
    if capture and not capture.startswith("s3://"):
        capture = str(Path(capture).absolute())
    name = stage_endpoint(stage) if stage else settings.serving.endpoint_name
    return settings.with_overrides(serving={"capture_to": capture, "endpoint_name": name,
                                            "debug_routes": False})


class LocalEndpoints:
    """The local target: one router and one serving backend per stage."""

    target = "local"

    def __init__(self, root: Path, ports: dict[str, int], launcher: Launcher,
                 ready_timeout_s: float = 240.0, drain_timeout_s: float = 30.0,
                 stop_grace_s: float = 30.0, token: Optional[str] = None):
        self.root = Path(root).absolute()
        self.home = self.root / "endpoints"
        self.db = EndpointDB(self.root / "endpoints.db")
        self.ports, self.launcher, self.token = dict(ports), launcher, token
        self.ready_timeout_s, self.drain_timeout_s = ready_timeout_s, drain_timeout_s
        self.stop_grace_s = stop_grace_s

    @classmethod
    def from_settings(cls, settings: Settings, launcher: Optional[Launcher] = None,
                      **kwargs: Any) -> LocalEndpoints:
        ports = {s: t.port for s, t in settings.deploy.targets.items() if t.target == "local"}
        token = os.environ.get(settings.serving.token_env) or None
        return cls(Path(settings.registry.path), ports, launcher or default_launcher(settings),
                   token=token, **kwargs)

    # -- reading state -------------------------------------------------------------------
    def _port(self, stage: str) -> int:
        if stage not in self.ports:
            raise DeployError(f"stage {stage!r} has no local target; local stages: {sorted(self.ports)}")
        return self.ports[stage]

    def _deployment(self, row: BackendRow) -> Deployment:
        port = self.ports.get(row.stage, row.port) if row.state == SERVING else row.port
        return Deployment(row.stage, self.target, row.version, row.state,
                          f"http://127.0.0.1:{port}", row.started_at, row.package,
                          row.pid, row.port)

    def refresh(self, stage: str) -> None:
        """Notice dead processes: live rows whose pid is gone become ``failed``."""
        for row in self.db.backends(stage, LIVE):
            if not procs.pid_alive(row.pid, row.pid_start) and row.pid is not None:
                self.db.update_backend(row.id, state=FAILED, reason="the server process died")
        router = self.db.router(stage)
        if router and not procs.pid_alive(router.pid, router.pid_start):
            self.db.drop_router(stage)

    def _serving(self, stage: str) -> Optional[BackendRow]:
        rows = self.db.backends(stage, (SERVING,))
        return rows[-1] if rows else None

    def current(self, stage: str) -> Optional[Deployment]:
        self.refresh(stage)
        row = self._serving(stage)
        return self._deployment(row) if row else None

    def status(self) -> list[Deployment]:
        """Live rows of every stage; a serving backend that died shows as ``failed``."""
        out = []
        for stage in self.db.stages():
            self.refresh(stage)
            rows = self.db.backends(stage)
            served = [r for r in rows if r.served_at]
            out += [self._deployment(r) for r in rows if r.state in LIVE
                    or (r.state == FAILED and served and r.id == served[-1].id)]
        return out

    def history(self, stage: str) -> list[Deployment]:
        return [self._deployment(r) for r in self.db.backends(stage)]

    # -- changing state ------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, stage: str) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / f"{stage}.lock").open("w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DeployError(f"another deploy to stage {stage!r} is in progress") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _keep_package(self, candidate: Candidate) -> Path:
        """The package folder the backend serves from: kept under the registry for rollback."""
        if candidate.package_dir is None or not Path(candidate.package_dir).is_dir():
            raise DeployError(f"version {candidate.version}: a local deploy needs an unpacked "
                              f"package folder (registry.fetch), got {candidate.package_dir}")
        src = Path(candidate.package_dir).absolute()
        if src.is_relative_to(self.root):
            return src
        tag = candidate.package_sha256[:16] or uuid.uuid4().hex[:16]
        dest = self.home / "packages" / f"v{candidate.version}-{tag}"
        if not dest.exists():
            tmp = dest.with_name(dest.name + f".tmp{uuid.uuid4().hex[:6]}")
            shutil.copytree(src, tmp)
            os.replace(tmp, dest)
        return dest

    def _stop_row(self, row: BackendRow, state: str = STOPPED, reason: str = "") -> None:
        procs.stop_pid(row.pid, row.pid_start, self.stop_grace_s)
        self.db.update_backend(row.id, state=state, **({"reason": reason} if reason else {}))

    def _start(self, stage: str, version: int, package: Path, spec: Optional[SmokeSpec],
               group: str = ""):
        """Start a backend on a private port, wait for it and smoke it; the row and report."""
        port = procs.free_port()
        log = self.home / "logs" / f"{stage}-v{version}-{port}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        row_id = self.db.add_backend(stage, version, port, str(package), str(log))
        try:
            proc = self.launcher(package, port, log, version=version, group=group, stage=stage)
        except Exception as exc:  # the launcher is pluggable: any failure is a failed deploy
            self.db.update_backend(row_id, state=FAILED, reason=f"launch failed: {type(exc).__name__}")
            raise DeployError(f"{stage}: version {version} did not launch: {exc}") from None
        self.db.update_backend(row_id, pid=proc.pid, pid_start=procs.proc_start(proc.pid))
        row = self.db.backend(row_id)
        why = procs.wait_ready(port, proc.pid, self.ready_timeout_s)
        if why:
            self._stop_row(row, FAILED, why)
            raise DeployError(f"{stage}: version {version} did not become ready: {why} (log: {log})")
        report = smoke_url(f"http://127.0.0.1:{port}", spec, token=self.token)
        if not report.passed:
            self._stop_row(row, FAILED, f"smoke tests {', '.join(report.failed())}")
            raise DeployError(f"{stage}: version {version} failed its smoke tests "
                              f"({report.summary()}); the previous version keeps serving")
        self.db.update_backend(row_id, state=READY)
        return self.db.backend(row_id), report

    def _switch(self, stage: str, row: BackendRow) -> list[BackendRow]:
        """Point the stable port at ``row``; drain and stop what served before."""
        stable = self._port(stage)
        router = self.db.router(stage)
        if router is None:
            if procs.port_busy(stable):
                self._stop_row(row, FAILED, f"stable port {stable} busy")
                raise DeployError(f"{stage}: stable port 127.0.0.1:{stable} is busy with another "
                                  "process; the candidate was stopped")
            log = self.home / "logs" / f"{stage}-router.log"
            try:
                info = procs.start_router(stable, row.port, self.home / f"{stage}.router", log)
            except DeployError:
                self._stop_row(row, FAILED, "router did not start")
                raise
            self.db.set_router(stage, info, str(log))
            router = self.db.router(stage)
            if router is None:
                raise DeployError(f"{stage}: the router on 127.0.0.1:{stable} was not recorded")
        else:
            try:
                procs.control(router.control_port, {"op": "route", "port": row.port})
            except DeployError:
                self._stop_row(row, FAILED, "router did not take the switch")
                raise
        old = [self.db.backend(i) for i in self.db.swap(stage, row.id)]
        for prev in old:
            self._drain(router.control_port, prev)
            self._stop_row(prev)
        return old

    def _drain(self, control_port: int, row: BackendRow) -> None:
        deadline = time.monotonic() + self.drain_timeout_s
        while time.monotonic() < deadline:
            try:
                active = procs.control(control_port, {"op": "stats"})["active"]
            except DeployError:
                return
            if not active.get(str(row.port)):
                return
            time.sleep(0.05)

    def deploy(self, stage: str, candidate: Candidate, smoke: Optional[SmokeSpec] = None,
               promote: bool = True) -> DeployResult:
        """Blue/green deploy of ``candidate``; DeployError with the old version still serving."""
        self._port(stage)
        with self._locked(stage):
            self.refresh(stage)
            before = self._serving(stage)
            stable = self._port(stage)
            if self.db.router(stage) is None and procs.port_busy(stable):
                raise DeployError(f"{stage}: stable port 127.0.0.1:{stable} is busy with a "
                                  "process medtx does not manage; nothing was started")
            for old in self.db.backends(stage, (READY, STARTING)):
                self._stop_row(old, STOPPED, "replaced by a newer candidate")
            package = self._keep_package(candidate)
            row, report = self._start(stage, candidate.version, package, smoke, candidate.group)
            if promote:
                self._switch(stage, row)
            after = self._deployment(self.db.backend(row.id))
            return DeployResult(stage, "deploy", self._deployment(before) if before else None,
                                after, report)

    def promote(self, stage: str) -> DeployResult:
        """Switch the stable port to the candidate that ``deploy(promote=False)`` left ready."""
        with self._locked(stage):
            self.refresh(stage)
            ready = self.db.backends(stage, (READY,))
            if not ready:
                raise DeployError(f"{stage}: no ready candidate to promote")
            if procs.ping(ready[-1].port) != 200:
                self._stop_row(ready[-1], FAILED, "not healthy at promotion")
                raise DeployError(f"{stage}: the candidate stopped answering /ping; not promoted")
            before = self._serving(stage)
            self._switch(stage, ready[-1])
            return DeployResult(stage, "promote", self._deployment(before) if before else None,
                                self._deployment(self.db.backend(ready[-1].id)))

    def rollback(self, stage: str, smoke: Optional[SmokeSpec] = None) -> DeployResult:
        """Serve again the version that served before the current one (blue/green as well)."""
        with self._locked(stage):
            self.refresh(stage)
            current = self._serving(stage)
            served = [r for r in self.db.backends(stage) if r.served_at and r.state != SERVING]
            served.sort(key=lambda r: r.served_at or "")
            if current:
                served = [r for r in served if r.version != current.version] or served
            if not served:
                raise DeployError(f"{stage}: no earlier version to roll back to")
            prev = served[-1]
            if not Path(prev.package).is_dir():
                raise DeployError(f"{stage}: the package of version {prev.version} is gone")
            row, report = self._start(stage, prev.version, Path(prev.package), smoke)
            self._switch(stage, row)
            return DeployResult(stage, "rollback", self._deployment(current) if current else None,
                                self._deployment(self.db.backend(row.id)), report)

    def heal(self, stage: str) -> Optional[Deployment]:
        """Give a serving backend whose router died its stable port again; the serving model."""
        with self._locked(stage):
            self.refresh(stage)
            serving = self._serving(stage)
            if serving and self.db.router(stage) is None:
                self._switch(stage, serving)
            return self._deployment(serving) if serving else None

    def stop(self, stage: str) -> Optional[Deployment]:
        """Stop the router, the serving backend and any candidate of ``stage``."""
        with self._locked(stage):
            self.refresh(stage)
            serving = self._serving(stage)
            router = self.db.router(stage)
            if router:
                with contextlib.suppress(DeployError):
                    procs.control(router.control_port, {"op": "quit"}, timeout_s=2)
                procs.stop_pid(router.pid, router.pid_start, grace_s=self.stop_grace_s)
                self.db.drop_router(stage)
            (self.home / f"{stage}.router").unlink(missing_ok=True)
            for row in self.db.backends(stage, LIVE):
                self._stop_row(row)
            return self._deployment(self.db.backend(serving.id)) if serving else None
