"""A bounded load test: 200 requests from 8 threads, mixed formats, zero errors."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor


def test_200_requests_from_8_threads_have_zero_errors(live, make_notes, tmp_path):
    server = live(batch_wait_ms=2)
    notes = make_notes(50, seed=11, secret=False)

    def call(i: int) -> tuple[int, int]:
        if i % 3 == 0:
            r = server.client.invoke(f'"{notes[i % 50]}"\n"{notes[(i + 1) % 50]}"\n', "text/csv")
        elif i % 3 == 1:
            r = server.client.invoke(json.dumps({"inputs": notes[i % 50]}) + "\n", "application/jsonlines")
        else:
            r = server.client.invoke({"inputs": [notes[i % 50]], "inference_id": f"load-{i}"})
        return r.status, len(r.json().get("predictions", []))

    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(200)))
    elapsed = time.monotonic() - t0
    assert [s for s, _ in results].count(200) == 200
    assert sum(n for _, n in results) == sum(2 if i % 3 == 0 else 1 for i in range(200))
    assert elapsed < 60
    server.stop()
    lines = sum(len(f.read_text().splitlines()) for f in (tmp_path / "capture").rglob("*.jsonl"))
    assert lines == 200
