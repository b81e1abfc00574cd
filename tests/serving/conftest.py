"""Fixtures for serving tests: a tiny model package, a live uvicorn server on 127.0.0.1 (free
port, in a thread) and a small HTTP client.

Notes are made of the package's vocabulary words plus :data:`SECRET`, a word that must never
appear in a log or an error body.
"""
from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

LABELS = ["Cardiology", "Neurology", "Orthopedics"]
WORDS = ("heart murmur valve stent seizure tremor migraine gait knee fracture tendon cast "
         "patient history exam plan follow visit stable reports").split()
SECRET = "zanzibarquux"  # stands for patient text: must never leak


def _notes(n: int, seed: int = 0, secret: bool = True) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(3, 60)) + ([SECRET] if secret else []))
            for _ in range(n)]


@pytest.fixture(scope="session")
def make_notes():
    """``make_notes(n, seed=0, secret=True)``: notes of 3..60 vocabulary words (plus SECRET)."""
    return _notes


@pytest.fixture(scope="session")
def secret() -> str:
    """A word in every note that must never appear in a log or an error body."""
    return SECRET


@pytest.fixture(scope="session")
def labels() -> list[str]:
    """The package's labels, in id order."""
    return list(LABELS)


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory, tiny_bert, word_tokenizer) -> Path:
    """A verified tiny model package shaped like the shipped recipe's: a mean-pool classifier
    around a 2-layer BERT plus the wide lexical branch (3 labels, head windows of 32 tokens)."""
    import numpy as np

    from medtx.modeling.baseline import fit_baseline
    from medtx.modeling.features import LongNoteStrategy
    from medtx.modeling.package import add_files, save_package
    from medtx.modeling.pooling import mean_pool_classifier
    from medtx.modeling.wide import FILES, KIND, WideBranch

    root = tmp_path_factory.mktemp("serving-pkg")
    tok = word_tokenizer(WORDS, root / "tok")
    model = mean_pool_classifier(tiny_bert(tok, seed=3), LABELS)
    texts = _notes(60, seed=11, secret=False)
    lexical = fit_baseline(texts, np.arange(60) % 3, len(LABELS))
    branch = WideBranch(lexical, 0.5 * np.eye(3), np.zeros(3))
    meta = {"long_note": LongNoteStrategy(kind="head", max_length=32).to_dict(),
            "temperature": 1.5, "model_group": "medtx-test", "model_version": 7,
            "wide": {"kind": KIND, "files": list(FILES)}}
    pkg = save_package(model, tok, root / "model", meta)
    add_files(pkg, branch.files())
    return pkg


@pytest.fixture(scope="session")
def predictor(package_dir):
    """The package loaded once (torch, one thread) for in-process servers."""
    import torch

    from medtx.modeling.predictor import Predictor

    torch.set_num_threads(1)
    return Predictor.load(package_dir)


@pytest.fixture
def serving_settings(settings, tmp_path):
    """Default serving settings, capture into ``tmp_path/capture``, one torch thread."""
    return settings.with_overrides(serving={"capture_to": str(tmp_path / "capture"), "threads": 1,
                                            "endpoint_name": "ep", "variant_name": "v1"})


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A keep-alive HTTP/1.1 client for one server (one connection per thread)."""

    def __init__(self, base: str):
        self.host, port = base.rsplit("//", 1)[1].split(":")
        self.port, self.base = int(port), base
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        if getattr(self._local, "conn", None) is None:
            self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        return self._local.conn

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict] = None) -> Reply:
        for attempt in (0, 1):
            conn = self._conn()
            try:
                conn.request(method, path, body=body, headers=headers or {})
                r = conn.getresponse()
                reply = Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
                if reply.headers.get("connection") == "close":
                    conn.close()
                    self._local.conn = None
                return reply
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def invoke(self, payload: Any, content_type: str = "application/json",
               headers: Optional[dict] = None) -> Reply:
        body = payload if isinstance(payload, bytes) else (
            payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
        return self.request("POST", "/invocations", body,
                            {"Content-Type": content_type, **(headers or {})})

    def ping(self) -> int:
        return self.request("GET", "/ping").status


class LiveServer:
    """uvicorn serving ``app`` on a socket bound to 127.0.0.1:0, in a thread."""

    def __init__(self, app: Any):
        import uvicorn

        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_config=None, lifespan="on", timeout_graceful_shutdown=10)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.client = Client(self.url)

    def start(self, ready: bool = True, timeout: float = 30) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        while ready and self.client.ping() != 200:
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.sock.close()

    @property
    def state(self) -> Any:
        return self.app.state.medtx


@pytest.fixture(scope="session")
def client_for():
    """``client_for(base_url) -> Client``."""
    return Client


@pytest.fixture
def live(serving_settings, predictor):
    """``live(**serving_overrides, load=None, token=None) -> LiveServer`` started and ready;
    every server is stopped at teardown (which flushes its capture)."""
    from medtx.serving.app import create_app
    from medtx.serving.model import ModelInfo

    servers: list[LiveServer] = []

    def start(load: Optional[Callable[[], Any]] = None, ready: bool = True, **overrides) -> LiveServer:
        serving = serving_settings.with_overrides(serving=overrides).serving if overrides \
            else serving_settings.serving
        app = create_app(serving, load or (lambda: predictor), ModelInfo("medtx-test", 7))
        server = LiveServer(app)
        servers.append(server)
        return server.start(ready=ready)

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def expected(predictor):
    """``expected(notes) -> probabilities`` computed one note at a time, without the server."""
    import numpy as np

    def run(notes):
        return np.vstack([predictor.predict_proba([n]) for n in notes])

    return run
