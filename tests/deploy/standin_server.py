"""A minimal stand-in for the inference server (same HTTP contract), for deploy tests.

``python standin_server.py --package DIR --port N``: DIR/standin.json holds
``{"version": N, "mode": "keyword" | "constant" | "lax", "labels": [...], "delay_ms": 0}``.
keyword: the first label named in the note; constant: always the first label; lax: answers 200
to everything (breaks the error contracts).
"""
import argparse
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_handler(cfg):
    labels = cfg["labels"]

    def predict(text):
        if cfg["mode"] == "constant":
            return labels[0]
        low = text.lower()
        return next((label for label in labels if label.lower() in low), labels[-1])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, status, payload):
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/ping":
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            lax = cfg["mode"] == "lax"
            if self.path != "/invocations":
                return self._send(404, {"error": "not found"})
            if not lax and self.headers.get("Content-Type", "").split(";")[0] != "application/json":
                return self._send(415, {"error": "unsupported content type"})
            try:
                notes = json.loads(raw)["inputs"]
            except (ValueError, KeyError, TypeError):
                return self._send(200 if lax else 400, {"error": "malformed JSON"})
            notes = [notes] if isinstance(notes, str) else notes
            if not lax and (not isinstance(notes, list) or not all(isinstance(n, str) and n.strip() for n in notes)):
                return self._send(400, {"error": "empty or non-text note"})
            time.sleep(cfg.get("delay_ms", 0) / 1000)
            preds = [{"label": predict(str(n)), "probabilities": {}, "model_version": cfg["version"]} for n in notes]
            self._send(200, {"predictions": preds})

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--package", required=True)
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    cfg = json.loads((Path(args.package) / "standin.json").read_text())
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(cfg))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *a: (server.server_close(), sys.exit(0)))
    server.serve_forever()


if __name__ == "__main__":
    main()
