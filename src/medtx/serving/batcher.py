"""Micro-batching: notes of concurrent requests share one forward pass on one inference thread.

A request's notes become items of a queue. The inference thread takes the first waiting item
and everything already queued (at most ``max_notes``); while other requests are still on their
way in (:meth:`MicroBatcher.arriving`, counted by the server between reading a body and
submitting it) it waits up to ``wait_ms`` for them. A lone request never waits. The batch is
sorted by length (less padding), run through ``model.predict_proba`` once, and each row goes
back to its request.
Torch's intra-op thread count is set on that thread (``threads`` or all cores).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from typing import Any, Optional

import numpy as np

log = logging.getLogger("medtx.serving.batcher")
_STOP = object()


class _Job:
    """One request: its notes, the rows filled so far and the future it waits on."""

    def __init__(self, notes: Sequence[str], n_labels: int):
        self.notes = list(notes)
        self.rows = np.zeros((len(self.notes), n_labels), dtype=np.float64)
        self.left = len(self.notes)
        self.future: Future = Future()


def set_threads(threads: Optional[int]) -> int:
    """Set torch's intra-op threads (when torch is loaded) to ``threads`` or all cores."""
    n = int(threads or os.cpu_count() or 1)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # an ONNX-only image
        pass
    return n


class MicroBatcher:
    """Gather notes of concurrent requests into bounded batches for ``model.predict_proba``."""

    def __init__(self, model: Any, max_notes: int = 32, wait_ms: float = 5.0,
                 threads: Optional[int] = None):
        if int(max_notes) < 1 or float(wait_ms) < 0:
            raise ValueError("max_notes must be >= 1 and wait_ms >= 0")
        self.model, self.max_notes, self.wait_s = model, int(max_notes), float(wait_ms) / 1000
        self.threads = threads
        self.n_labels = len(model.labels)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="medtx-inference", daemon=True)
        self.batches = 0  # forward passes so far (for tests and stats)
        self._arriving = 0  # requests read but not yet submitted (changed on the event loop)
        self._arriving_lock = threading.Lock()

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Mark a request on its way to :meth:`submit`, so a gathering batch waits for it."""
        with self._arriving_lock:
            self._arriving += 1
        try:
            yield
        finally:
            with self._arriving_lock:
                self._arriving -= 1

    def start(self) -> MicroBatcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the queued work, then end the inference thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def submit(self, notes: Sequence[str]) -> Future:
        """Queue notes; the future resolves to their ``[n, n_labels]`` probabilities."""
        job = _Job(notes, self.n_labels)
        if not job.notes:
            job.future.set_result(job.rows)
            return job.future
        if not self._thread.is_alive():
            raise RuntimeError("the inference thread is not running")
        for i in range(len(job.notes)):
            self._queue.put((job, i))
        return job.future

    async def predict(self, notes: Sequence[str]) -> np.ndarray:
        """``submit`` for asyncio callers."""
        return await asyncio.wrap_future(self.submit(notes))

    def predict_now(self, notes: Sequence[str], timeout: Optional[float] = None) -> np.ndarray:
        """``submit`` and wait (a warm-up call, synchronous callers)."""
        return self.submit(notes).result(timeout)

    def _gather(self, first: Any) -> tuple[list, bool]:
        items, stop = [first], False
        deadline = time.monotonic() + self.wait_s
        while len(items) < self.max_notes:
            try:  # take what is already queued without waiting
                item = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0 or self._arriving <= 0:
                    break
                try:  # short polls: stop waiting as soon as nothing is arriving
                    item = self._queue.get(timeout=min(left, 0.001))
                except queue.Empty:
                    continue
            if item is _STOP:
                stop = True
                break
            items.append(item)
        return items, stop

    def _run(self) -> None:
        set_threads(self.threads)
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            items, stop = self._gather(first)
            self._infer(items)
        while True:  # anything queued after the stop mark still gets its answer
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                self._infer([item])

    def _infer(self, items: list) -> None:
        items.sort(key=lambda it: len(it[0].notes[it[1]]), reverse=True)
        try:
            proba = np.asarray(self.model.predict_proba([job.notes[i] for job, i in items]))
        except Exception as exc:  # every waiting request learns of it; no text is logged
            log.error("inference failed on a batch of %d notes: %s", len(items), type(exc).__name__)
            for job in {id(j): j for j, _ in items}.values():
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.batches += 1
        for (job, i), row in zip(items, proba):
            if job.future.done():
                continue
            job.rows[i] = row
            job.left -= 1
            if job.left == 0:
                job.future.set_result(job.rows)
