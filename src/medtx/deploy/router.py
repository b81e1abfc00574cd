"""The long-lived router on a stage's stable port: each connection goes to the current backend.

``python -m medtx.deploy.router --port 8081 --backend 40123 --ready-file F`` listens on the
stable port and forwards every accepted TCP connection to ``127.0.0.1:<backend>``. A control
port on 127.0.0.1 takes one JSON line per connection:

    {"op": "route", "port": N}  -> switch: every connection accepted after the reply goes to N
    {"op": "stats"}             -> {"backend": N, "active": {"<port>": open connections}}
    {"op": "quit"}              -> stop listening and exit once connections are closed

A switch is a single assignment in the event loop, so no connection is refused or half-routed;
connections already open stay on their backend until they close (the deployer waits for the old
backend's count to reach zero before stopping it). Once bound, the router writes
``{"pid", "port", "control_port"}`` to the ready file (atomically); it exits 2 when the stable
port is busy.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
CHUNK = 1 << 16


class Router:
    def __init__(self, backend: int):
        self.backend = backend
        self.active: Counter = Counter()
        self.done = asyncio.Event()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except (OSError, RuntimeError):
                writer.close()

    async def handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        port = self.backend  # chosen once, at accept time
        self.active[port] += 1
        try:
            try:
                b_reader, b_writer = await asyncio.open_connection(HOST, port)
            except OSError:
                c_writer.close()
                return
            await asyncio.gather(self._pipe(c_reader, b_writer), self._pipe(b_reader, c_writer))
            for w in (b_writer, c_writer):
                w.close()
        finally:
            self.active[port] -= 1
            if self.active[port] <= 0:
                del self.active[port]

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            msg = json.loads((await reader.readline()) or b"{}")
            op = msg.get("op")
            reply: dict[str, Any]
            if op == "route":
                self.backend = int(msg["port"])
                reply = {"ok": True, "backend": self.backend}
            elif op == "stats":
                reply = {"ok": True, "backend": self.backend,
                         "active": {str(p): n for p, n in self.active.items()}}
            elif op == "quit":
                reply = {"ok": True}
                self.done.set()
            else:
                reply = {"ok": False, "error": f"unknown op {op!r}"}
        except (ValueError, KeyError, TypeError) as exc:
            reply = {"ok": False, "error": type(exc).__name__}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()


async def serve(port: int, backend: int, ready_file: Path) -> int:
    router = Router(backend)
    try:
        public = await asyncio.start_server(router.handle, HOST, port, reuse_address=True, backlog=512)
    except OSError as exc:
        print(f"router: cannot bind {HOST}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    control = await asyncio.start_server(router.control, HOST, 0)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, router.done.set)
    info = {"pid": os.getpid(), "port": port,
            "control_port": control.sockets[0].getsockname()[1]}
    tmp = ready_file.with_name(ready_file.name + ".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, ready_file)
    await router.done.wait()
    public.close()
    control.close()
    for _ in range(100):  # up to 10 s for open connections to finish
        if not router.active:
            break
        await asyncio.sleep(0.1)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m medtx.deploy.router")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--backend", type=int, required=True)
    p.add_argument("--ready-file", type=Path, required=True)
    args = p.parse_args(argv)
    return asyncio.run(serve(args.port, args.backend, args.ready_file))


if __name__ == "__main__":
    sys.exit(main())
