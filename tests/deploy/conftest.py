"""Deploy fixtures: stand-in server packages, a launcher for them, local endpoints that are
always stopped afterwards, and labelled smoke notes (no real note text anywhere)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
LABELS = ["cardiology", "neurology", "orthopedic"]


@pytest.fixture
def make_package(tmp_path):
    """``make(version, mode="keyword", delay_ms=0) -> folder`` for the stand-in server."""
    def make(version: int, mode: str = "keyword", delay_ms: float = 0) -> Path:
        folder = tmp_path / "packages" / f"v{version}-{mode}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "standin.json").write_text(json.dumps(
            {"version": version, "mode": mode, "labels": LABELS, "delay_ms": delay_ms}))
        return folder
    return make


def standin_launcher(package: Path, port: int, log: Path, **_: object) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, str(HERE / "standin_server.py"),
                                 "--package", str(package), "--port", str(port)],
                                stdin=subprocess.DEVNULL, stdout=fh, stderr=fh,
                                start_new_session=True)


@pytest.fixture
def smoke_notes():
    """(text, label) pairs the keyword stand-in gets right and a one-class model does not."""
    return [(f"patient seen in {label} clinic, follow-up {i}", label)
            for i in range(4) for label in LABELS]


@pytest.fixture
def endpoints(tmp_path):
    """LocalEndpoints on stand-in servers with two stages on free ports; stopped at the end."""
    from medtx.deploy import procs
    from medtx.deploy.local import LocalEndpoints

    eps = LocalEndpoints(tmp_path / "registry", {"staging": procs.free_port(),
                                                  "prod": procs.free_port()},
                         standin_launcher, ready_timeout_s=20, drain_timeout_s=10, stop_grace_s=5)
    yield eps
    for stage in eps.ports:
        eps.stop(stage)
