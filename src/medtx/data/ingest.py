"""Ingest: read a mtsamples-format CSV from a local path or ``s3://bucket/key``.

Both sources go through one code path: fetch bytes, check they are UTF-8 CSV text, parse with
pandas (every column as string), add ``row_id`` (0-based position in the file). With no source
the built-in synthetic demo set is used, and the result says so.
"""
from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from medtx.aws.s3 import read_bytes, split_s3_uri
from medtx.config import Settings
from medtx.errors import IngestError

log = logging.getLogger("medtx.data.ingest")

DEMO_SOURCE = "demo://medtx"


@dataclass(frozen=True)
class IngestInfo:
    source: str  # path, s3:// URI or demo://medtx
    sha256: str  # of the bytes read (for demo: of the generated CSV)
    n_bytes: int
    n_rows: int
    columns: tuple
    is_demo: bool
    extra: tuple = ()  # appended files (labelled captured notes): {"path", "rows", "sha256"}

    def to_dict(self) -> dict:
        return asdict(self)


def read_source_bytes(source: str, settings: Settings) -> bytes:
    """Bytes of a local file or an S3 object; IngestError naming the missing path or key."""
    if source.startswith("s3://"):
        return _read_s3(source, settings)
    path = Path(source).expanduser()
    if not path.exists():
        raise IngestError(f"data file not found: {path} (pass --data with an existing CSV path or s3:// URI)")
    if not path.is_file():
        raise IngestError(f"data path is not a file: {path}")
    return path.read_bytes()


def _read_s3(uri: str, settings: Settings) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3_uri(uri)
    if not key:
        raise IngestError(f"S3 URI names no object key: {uri}")
    try:
        return read_bytes(settings.aws, uri, max_attempts=3)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            raise IngestError(f"S3 object not found: {uri}") from None
        if code == "NoSuchBucket":
            raise IngestError(f"S3 bucket not found: {bucket} (from {uri})") from None
        raise IngestError(f"cannot read {uri}: {code or exc}") from None
    except BotoCoreError as exc:
        raise IngestError(f"cannot reach S3 for {uri}: {type(exc).__name__}") from None


def parse_csv_bytes(data: bytes, source: str) -> pd.DataFrame:
    """Parse CSV bytes into a frame of strings with a ``row_id`` column."""
    if not data.strip():
        raise IngestError(f"data file is empty: {source}")
    if b"\x00" in data[:65536]:
        raise IngestError(f"data file is not CSV text (binary content, NUL bytes): {source}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"data file is not UTF-8 (invalid byte at offset {exc.start}): {source}; "
            "re-encode it as UTF-8"
        ) from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise IngestError(f"data file has no header or rows: {source}") from None
    except pd.errors.ParserError as exc:
        first = str(exc).splitlines()[0][:200]
        raise IngestError(f"data file is not a valid CSV ({first}): {source}") from None
    if frame.shape[1] < 2:
        raise IngestError(
            f"data file is not a mtsamples-style CSV: found {frame.shape[1]} column(s) "
            f"{list(map(str, frame.columns))[:5]}: {source}"
        )
    frame.insert(0, "row_id", range(len(frame)))
    return frame


def ingest(source: Optional[str], settings: Settings) -> tuple[pd.DataFrame, IngestInfo]:
    """Read the configured data (``source`` wins over ``settings.data.path``; neither = demo)."""
    source = source or settings.data.path
    if not source:
        from medtx.data.demo import DEMO_NOTICE, make_demo_notes

        log.warning("%s", DEMO_NOTICE)
        data = make_demo_notes(n=settings.data.demo_notes).to_csv(index=False).encode("utf-8")
        source, is_demo = DEMO_SOURCE, True
    else:
        data, is_demo = read_source_bytes(source, settings), False
    frame = parse_csv_bytes(data, source)
    info = IngestInfo(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        n_bytes=len(data),
        n_rows=len(frame),
        columns=tuple(str(c) for c in frame.columns if c != "row_id"),
        is_demo=is_demo,
    )
    log.info("ingested %d rows (%d bytes, sha256 %s) from %s", info.n_rows, info.n_bytes, info.sha256[:12], source)
    return frame, info
