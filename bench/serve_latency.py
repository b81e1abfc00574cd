"""Serving latency and throughput: the medtx server against a naive pipeline server.

Closed-loop load on 127.0.0.1 at 1, 4 and 16 concurrent clients (each client sends one note,
waits for the answer, sends the next), bounded by ``--requests`` and ``--seconds`` per level.
Both servers run as their own processes with the same package and window length:

* medtx: ``medtx.serving`` (micro-batching, one inference thread, capture on), and
* naive: ``http.server.ThreadingHTTPServer`` calling ``transformers.pipeline(
  "text-classification")`` once per request, truncating to the package's ``max_length``.

Batch prediction (the runtime's ``predict_proba`` over ``--batch-notes`` notes in batches of
32, what ``medtx predict`` does) is timed beside ``pipeline(notes, batch_size=32)``.
``--runtime onnx-int8`` serves the package's int8 ONNX export (made on first load when absent:
point it at a writable copy of the package).

    python bench/serve_latency.py                              # newest .medtx/runs/*/model
    python bench/serve_latency.py PATH/model --requests 300 --seconds 40

Notes are the built-in synthetic demo notes (``--data CSV`` for another file). Prints a table
and writes ``bench/results/serve_latency-<time>.json``.
"""
from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import medtx  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from medtx.serving.process import free_port, start_server, stop_server, wait_ready  # noqa: E402


def naive_server(package: str, port: int) -> None:
    """The baseline: one pipeline call per request, no batching (runs until killed)."""
    import torch
    from transformers import pipeline

    window = json.loads((Path(package) / "medtx.json").read_text())["long_note"]["max_length"]
    clf = pipeline("text-classification", model=package, tokenizer=package,
                   device=0 if torch.cuda.is_available() else -1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body in two writes wait ~40 ms

        def do_GET(self):  # /ping
            self._send(200, b'{"status": "ready"}')

        def do_POST(self):
            doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            out = clf(doc["inputs"], truncation=True, max_length=window, top_k=3)
            self._send(200, json.dumps({"predictions": out}).encode())

        def _send(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the default 5 drops connections of 16 clients
        daemon_threads = True

    clf("warm up", truncation=True, max_length=window)
    Server(("127.0.0.1", port), Handler).serve_forever()


def closed_loop(port: int, notes: list[str], clients: int, max_requests: int, max_s: float) -> dict:
    """``clients`` threads, each one request at a time, until the count or the time is spent."""
    lat: list[float] = []
    errors = [0]
    lock, counter = threading.Lock(), [0]
    deadline = time.monotonic() + max_s

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < deadline:
            with lock:
                if counter[0] >= max_requests:
                    return
                i = counter[0]
                counter[0] += 1
            body = json.dumps({"inputs": notes[i % len(notes)]}).encode()
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok = False
            dt = time.perf_counter() - t0
            with lock:
                lat.append(dt) if ok else None
                errors[0] += 0 if ok else 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.array(lat) * 1000 if lat else np.array([np.nan])
    return {"clients": clients, "requests": len(lat), "errors": errors[0], "wall_s": round(wall, 2),
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "notes_per_s": len(lat) / wall}


def load_notes(data: str | None, n: int) -> list[str]:
    if data:
        import pandas as pd

        texts = pd.read_csv(data)["transcription"].dropna().tolist()
        texts = [t for t in texts if isinstance(t, str) and t.strip()]
    else:
        from medtx.data.demo import make_demo_notes

        texts = make_demo_notes(max(n, 300), seed=7)["transcription"].dropna().tolist()
        texts = [t for t in texts if isinstance(t, str) and t.strip()]
    return texts[:n]


def batch_prediction(package: str, notes: list[str], runtime: str, threads: int | None) -> dict:
    """Offline batch prediction: the medtx runtime vs pipeline(batch_size=32), notes/s."""
    import torch
    from transformers import pipeline

    from medtx.serving.batcher import set_threads
    from medtx.serving.model import load_model

    window = json.loads((Path(package) / "medtx.json").read_text())["long_note"]["max_length"]
    set_threads(threads)
    pred = load_model(Path(package), runtime, batch_size=32, threads=threads)
    pred.predict_proba(notes[:8])
    t0 = time.perf_counter()
    pred.predict_proba(notes)
    medtx_rate = len(notes) / (time.perf_counter() - t0)
    clf = pipeline("text-classification", model=package, tokenizer=package,
                   device=0 if torch.cuda.is_available() else -1)
    clf(notes[:8], truncation=True, max_length=window, batch_size=32)
    t0 = time.perf_counter()
    clf(notes, truncation=True, max_length=window, batch_size=32)
    return {"notes": len(notes), "medtx_notes_per_s": medtx_rate,
            "pipeline_notes_per_s": len(notes) / (time.perf_counter() - t0)}


def newest_package() -> str:
    runs = sorted(glob.glob(str(ROOT / ".medtx" / "runs" / "*" / "model")), key=os.path.getmtime)
    if not runs:
        sys.exit("no package under .medtx/runs/*/model: run `make train` or pass a package path")
    return runs[-1]


def run(args: argparse.Namespace) -> dict:
    import subprocess

    from medtx.config import parse_settings

    package = str(Path(args.package or newest_package()).resolve())
    notes = load_notes(args.data, max(args.batch_notes, 300))
    levels = [int(c) for c in args.clients.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    results: dict = {"package": package, "levels": {}, "started": datetime.now(timezone.utc).isoformat()}
    settings = parse_settings({"env": "bench", "serving": {
        "capture_to": str(tmp / "capture"), "runtime": args.runtime, "threads": args.threads}})
    results.update(runtime=args.runtime, threads=args.threads)
    for name in ("medtx", "naive"):
        port = free_port()
        if name == "medtx":
            proc = start_server(package, settings, port, tmp / "medtx.log")
        else:
            # the child keeps its own copy of the log descriptor once started
            with open(tmp / "naive.log", "ab") as log:
                proc = subprocess.Popen([sys.executable, __file__, "--naive-server", package, str(port)],
                                        stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{port}", timeout=300, proc=proc)
            closed_loop(port, notes, 2, 10, 30)  # warm the connections and caches
            results["levels"][name] = [closed_loop(port, notes, c, args.requests, args.seconds)
                                       for c in levels]
        finally:
            stop_server(proc)
    results["batch"] = batch_prediction(package, notes[:args.batch_notes], args.runtime, args.threads)
    return results


def table(results: dict) -> str:
    rows = [f"runtime {results['runtime']}, package {results['package']}",
            "| server | clients | requests | errors | p50 ms | p95 ms | p99 ms | notes/s |",
            "|---|---|---|---|---|---|---|---|"]
    for name, levels in results["levels"].items():
        for r in levels:
            rows.append(f"| {name} | {r['clients']} | {r['requests']} | {r['errors']} | "
                        f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['notes_per_s']:.1f} |")
    m, n = results["levels"].get("medtx", []), results["levels"].get("naive", [])
    for a, b in zip(m, n):
        rows.append(f"| ratio medtx/naive | {a['clients']} | | | | | | {a['notes_per_s'] / b['notes_per_s']:.2f}x |")
    b = results["batch"]
    rows.append(f"| batch: medtx {results['runtime']} | {b['notes']} notes | | | | | | {b['medtx_notes_per_s']:.1f} |")
    rows.append(f"| batch: pipeline(batch_size=32) | {b['notes']} notes | | | | | | {b['pipeline_notes_per_s']:.1f} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("package", nargs="?", help="model package folder (default: newest .medtx/runs/*/model)")
    p.add_argument("--clients", default="1,4,16", help="concurrency levels (default: %(default)s)")
    p.add_argument("--requests", type=int, default=200, help="requests per level at most")
    p.add_argument("--seconds", type=float, default=30, help="seconds per level at most")
    p.add_argument("--batch-notes", type=int, default=256, help="notes for batch prediction")
    p.add_argument("--runtime", default="torch", choices=["torch", "onnx-int8"],
                   help="serving.runtime of the medtx server (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="serving.threads (default: all cores)")
    p.add_argument("--data", help="CSV with a transcription column (default: demo notes)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"), help="folder for the JSON")
    p.add_argument("--naive-server", nargs=2, metavar=("PACKAGE", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.naive_server:
        naive_server(args.naive_server[0], int(args.naive_server[1]))
        return
    results = run(args)
    import platform

    import torch

    results.update({"host": platform.node(), "cpus": os.cpu_count(),
                    "device": "cuda" if torch.cuda.is_available() else "cpu",
                    "torch_threads": torch.get_num_threads()})
    print(table(results))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"serve_latency-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
