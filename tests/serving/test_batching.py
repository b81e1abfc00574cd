"""Micro-batching: bounded, length-sorted batches on one thread; same answers as one by one."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from medtx.serving.batcher import MicroBatcher


class Recorder:
    """A fake model: remembers each batch and the thread it ran on; row = note length."""

    labels = ["a", "b"]

    def __init__(self, delay: float = 0.0):
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.delay = delay

    def predict_proba(self, notes):
        self.batches.append(list(notes))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return np.array([[len(n), 0.0] for n in notes])


def test_batches_are_bounded_sorted_and_run_on_one_thread():
    model = Recorder(delay=0.02)
    batcher = MicroBatcher(model, max_notes=4, wait_ms=50).start()
    notes = [[("x" * (i * 7 % 11 + 1))] * (1 + i % 3) for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda ns: batcher.predict_now(ns, timeout=10), notes))
    batcher.stop()
    for ns, rows in zip(notes, results):
        assert rows[:, 0].tolist() == [len(n) for n in ns]  # each request got its own rows
    assert all(len(b) <= 4 for b in model.batches)
    assert all([len(n) for n in b] == sorted((len(n) for n in b), reverse=True) for b in model.batches)
    assert len(model.batches) < sum(map(len, notes))  # notes of different requests shared passes
    assert model.threads == {"medtx-inference"}


def test_a_failing_batch_fails_its_requests_and_the_thread_lives_on():
    class Flaky(Recorder):
        def predict_proba(self, notes):
            if any("boom" in n for n in notes):
                raise RuntimeError("model broke")
            return super().predict_proba(notes)

    batcher = MicroBatcher(Flaky(), max_notes=8, wait_ms=0).start()
    with pytest.raises(RuntimeError):
        batcher.predict_now(["boom"], timeout=5)
    assert batcher.predict_now(["fine"], timeout=5)[0, 0] == 4
    batcher.stop()


def test_stop_answers_what_is_queued():
    model = Recorder(delay=0.01)
    batcher = MicroBatcher(model, max_notes=2, wait_ms=0).start()
    futures = [batcher.submit(["n" * i]) for i in range(1, 9)]
    batcher.stop()
    assert [f.result(timeout=5)[0, 0] for f in futures] == list(range(1, 9))


def test_concurrent_requests_match_one_by_one(live, expected, make_notes):
    server = live(batch_wait_ms=20, batch_max_notes=8)
    requests = [make_notes(1 + i % 3, seed=100 + i) for i in range(24)]
    start = server.state.batcher.batches

    def call(notes):
        r = server.client.invoke({"inputs": notes, "top_k": 3})
        assert r.status == 200
        return r.json()["predictions"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, requests))
    labels = server.state.labels
    for notes, preds in zip(requests, answers):
        want = expected(notes)
        got = np.array([[p["probabilities"][label] for label in labels] for p in preds])
        np.testing.assert_allclose(got, want, atol=1e-5)
    passes = server.state.batcher.batches - start
    assert passes < sum(map(len, requests))  # some notes were batched together


def test_a_model_failure_is_a_500_without_note_text(live, predictor, secret):
    class Broken:
        labels = predictor.labels
        calls = 0

        def predict_proba(self, notes):
            Broken.calls += 1
            if Broken.calls > 1:  # the warm-up passes, requests fail
                raise ValueError(f"cannot encode {notes[0]}")
            return predictor.predict_proba(notes)

    r = live(load=lambda: Broken()).client.invoke({"inputs": f"heart {secret}"})
    assert r.status == 500 and r.json() == {"error": "internal_error", "message": "inference failed"}


def test_a_lone_request_never_waits_but_an_arriving_one_is_waited_for():
    model = Recorder()
    batcher = MicroBatcher(model, max_notes=8, wait_ms=2000).start()
    batcher.predict_now(["warm-up"], timeout=5)  # the first pass in a process pays for imports
    t0 = time.monotonic()
    batcher.predict_now(["alone"], timeout=5)
    assert time.monotonic() - t0 < 1.0 and model.batches == [["warm-up"], ["alone"]]  # not 2 s

    second: list = []
    entered = threading.Event()

    def late() -> None:
        with batcher.arriving():
            entered.set()
            time.sleep(0.1)  # e.g. still reading its body
            second.append(batcher.submit(["second"]))

    with batcher.arriving():
        t = threading.Thread(target=late)
        t.start()
        assert entered.wait(5)  # the second request is arriving (a fixed sleep raced under load)
        first = batcher.submit(["first"])
    first.result(timeout=5)
    t.join()
    second[0].result(timeout=5)
    batcher.stop()
    assert model.batches[2:] == [["second", "first"]]  # one pass, longest first
