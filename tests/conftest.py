"""Shared fixtures: settings, the real dataset (skipped when absent), a moto server on loopback."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("MEDTX_REAL_DATA", ROOT.parent / "shared" / "data" / "mtsamples.csv"))

os.environ.setdefault("USER", "medtx-tests")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture
def settings():
    from medtx.config import parse_settings

    return parse_settings(json.loads((ROOT / "configs" / "local.json").read_text()))


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    if not REAL_DATA.is_file():
        pytest.skip(f"real dataset not found at {REAL_DATA} (set MEDTX_REAL_DATA to its path)")
    return REAL_DATA


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on 127.0.0.1 (random free port) with fake credentials; yields its URL."""
    from moto.server import ThreadedMotoServer

    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
