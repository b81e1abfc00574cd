"""Data capture in SageMaker's format, written by the server wherever it runs.

One JSON record per line under ``<dest>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``
(``dest`` a folder or an ``s3://`` prefix; local files are readable by their owner only, as
they hold note text). Records are queued by the request path and written
by one writer thread: a local file per hour (flushed after every drain), or S3 objects uploaded
every ``flush_s`` seconds / ``flush_records`` records and whenever the hour changes.
:meth:`CaptureWriter.close` drains everything, so a graceful shutdown loses no record.
:func:`read_capture` yields the records back (for monitoring), :func:`capture_rows` the notes
and predictions of one record.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from medtx.config import AwsSettings

log = logging.getLogger("medtx.serving.capture")
_STOP = object()
CONTENT_TYPES = {"JSON": "application/json", "CSV": "text/csv"}


def capture_record(input_data: str, input_type: str, encoding: str, output_data: str,
                   inference_id: Optional[str] = None, when: Optional[datetime] = None,
                   event_id: Optional[str] = None) -> dict:
    """One SageMaker capture record (``eventVersion`` "0")."""
    when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    meta = {"eventId": event_id or str(uuid.uuid4()),
            "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id is not None:
        meta["inferenceId"] = inference_id
    return {"captureData": {
        "endpointInput": {"observedContentType": input_type, "mode": "INPUT",
                          "data": input_data, "encoding": encoding},
        "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                           "data": output_data, "encoding": "JSON"}},
        "eventMetadata": meta, "eventVersion": "0"}


def hour_prefix(dest: str, endpoint: str, variant: str, when: datetime) -> str:
    """``<dest>/<endpoint>/<variant>/yyyy/mm/dd/hh``."""
    return "/".join([dest.rstrip("/"), endpoint, variant, when.strftime("%Y/%m/%d/%H")])


def _file_name(when: datetime) -> str:
    return f"{when.strftime('%M-%S')}-{when.microsecond // 1000:03d}-{uuid.uuid4().hex[:12]}.jsonl"


class _LocalSink:
    def __init__(self) -> None:
        self.hour: Optional[str] = None
        self.fh: Any = None

    def write(self, prefix: str, when: datetime, lines: list[str]) -> None:
        if prefix != self.hour:
            self.close()
            Path(prefix).mkdir(mode=0o700, parents=True, exist_ok=True)  # clinical text
            fd = os.open(Path(prefix) / _file_name(when), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self.fh = os.fdopen(fd, "a", encoding="utf-8")
            self.hour = prefix
        self.fh.write("".join(lines))

    def flush(self, final: bool = False) -> None:
        if self.fh is not None:
            self.fh.flush()
            if final:
                os.fsync(self.fh.fileno())

    def close(self) -> None:
        if self.fh is not None:
            self.flush(final=True)
            self.fh.close()
        self.fh, self.hour = None, None


class _S3Sink:
    """Lines of the current hour kept in memory and put as a new object on each flush."""

    def __init__(self, aws: Optional[AwsSettings], flush_s: float, flush_records: int):
        from medtx.aws.session import client

        self.s3 = client(aws, "s3", max_attempts=5)
        self.flush_s, self.flush_records = flush_s, flush_records
        self.hour: Optional[str] = None
        self.first: Optional[datetime] = None
        self.lines: list[str] = []
        self.since = time.monotonic()

    def write(self, prefix: str, when: datetime, lines: list[str]) -> None:
        if prefix != self.hour:
            self.flush(final=True)
            self.hour, self.first = prefix, when
        self.lines.extend(lines)

    def flush(self, final: bool = False) -> None:
        due = final or len(self.lines) >= self.flush_records or \
            time.monotonic() - self.since >= self.flush_s
        if not self.lines or not due:
            return
        from medtx.aws.s3 import split_s3_uri

        bucket, key = split_s3_uri(f"{self.hour}/{_file_name(self.first or datetime.now(timezone.utc))}")
        self.s3.put_object(Bucket=bucket, Key=key, Body="".join(self.lines).encode("utf-8"),
                           ContentType="application/jsonlines")
        self.lines, self.since, self.first = [], time.monotonic(), None

    def close(self) -> None:
        self.flush(final=True)


class CaptureWriter:
    """Sample, queue and write capture records off the request path."""

    def __init__(self, dest: str, endpoint: str, variant: str, percent: float = 100.0,
                 aws: Optional[AwsSettings] = None, flush_s: float = 30.0, flush_records: int = 1000):
        if not 0 <= float(percent) <= 100:
            raise ValueError(f"capture percent must be within 0..100, got {percent}")
        self.dest, self.endpoint, self.variant = str(dest), endpoint, variant
        self.percent = float(percent)
        if self.dest.startswith("s3://"):
            self.sink: Any = _S3Sink(aws, flush_s, flush_records)
        else:
            self.sink = _LocalSink()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="medtx-capture", daemon=True)
        self._thread.start()
        self.written = 0
        self.failed = 0

    def sampled(self) -> bool:
        """Whether this request is captured (``percent`` of requests, drawn at random)."""
        return self.percent >= 100 or random.random() * 100 < self.percent

    def put(self, record: dict) -> None:
        """Queue a record (returns at once)."""
        self._queue.put(record)

    def close(self, timeout: float = 20.0) -> None:
        """Write everything queued, flush, and end the writer thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                items = [self._queue.get(timeout=1.0)]
            except queue.Empty:
                items = []
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(it is _STOP for it in items)
            self._write([it for it in items if it is not _STOP], final=stop)
        try:
            self.sink.close()
        except Exception as exc:  # noqa: BLE001 - reported, never raised into a request
            log.error("capture: closing %s failed: %s", self.dest, type(exc).__name__)

    def _write(self, records: list[dict], final: bool) -> None:
        try:
            groups: dict[str, tuple[datetime, list[str]]] = {}
            for rec in records:
                when = datetime.strptime(rec["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
                prefix = hour_prefix(self.dest, self.endpoint, self.variant, when)
                groups.setdefault(prefix, (when, []))[1].append(json.dumps(rec) + "\n")
            for prefix, (when, lines) in groups.items():
                self.sink.write(prefix, when, lines)
            self.sink.flush(final=final)
            self.written += len(records)
        except Exception as exc:  # noqa: BLE001 - a capture failure must not stop serving
            self.failed += len(records)
            log.error("capture: %d record(s) not written to %s: %s", len(records), self.dest,
                      type(exc).__name__)


def _capture_files(prefix: str, aws: Optional[AwsSettings]) -> Iterator[tuple[str, bytes]]:
    if prefix.startswith("s3://"):
        from medtx.aws.s3 import split_s3_uri
        from medtx.aws.session import client

        bucket, key = split_s3_uri(prefix.rstrip("/") + "/")
        s3 = client(aws, "s3", max_attempts=5)
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=key) for o in page.get("Contents", []) if o["Key"].endswith(".jsonl")]
        for k in sorted(keys):
            yield f"s3://{bucket}/{k}", s3.get_object(Bucket=bucket, Key=k)["Body"].read()
    else:
        for path in sorted(Path(prefix).rglob("*.jsonl")):
            yield str(path), path.read_bytes()


def read_capture(prefix: str, endpoint: Optional[str] = None, variant: Optional[str] = None,
                 since: Optional[datetime] = None, until: Optional[datetime] = None,
                 aws: Optional[AwsSettings] = None) -> Iterator[dict]:
    """Capture records under ``prefix[/endpoint[/variant]]`` (folder or ``s3://``), in file
    order, optionally only those with ``since <= inferenceTime < until`` (UTC datetimes)."""
    root = "/".join([prefix.rstrip("/")] + [p for p in (endpoint, variant) if p])
    lo = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if since else None
    hi = until.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if until else None
    for _, data in _capture_files(root, aws):
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            t = rec.get("eventMetadata", {}).get("inferenceTime", "")
            if (lo and t < lo) or (hi and t >= hi):
                continue
            yield rec


def capture_rows(record: dict) -> list[dict]:
    """The notes of one record beside their predictions: ``[{"note", "prediction",
    "event_id", "inference_id", "time"}]`` (input parsed as the server parsed it)."""
    from medtx.serving.payload import parse_request

    data = record["captureData"]
    inp, out = data["endpointInput"], data["endpointOutput"]
    notes = parse_request(inp["data"].encode("utf-8"), inp["observedContentType"]).notes
    predictions = json.loads(out["data"])["predictions"]
    meta = record["eventMetadata"]
    return [{"note": n, "prediction": p, "event_id": meta["eventId"],
             "inference_id": meta.get("inferenceId"), "time": meta["inferenceTime"]}
            for n, p in zip(notes, predictions)]
