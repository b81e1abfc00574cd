"""Where an endpoint's monitoring state lives: a local folder, or an ``s3://`` prefix for
flows whose steps run in fresh containers (Argo Workflows, AWS Batch).

:func:`local_state` yields a local folder either way. For S3 it first downloads the files the
caller names (the SQLite state files, or a whole sub-folder such as ``labelled/``) and, for a
writing caller, uploads on success every file that is new or changed. Optimistic locking: a
state file changed in S3 by another run since it was downloaded is not overwritten; the step
fails (MonitorError) and its window is simply judged again by the next run.
"""
from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional

from medtx.config import AwsSettings
from medtx.errors import MonitorError

STATE_FILES = ("monitor.sqlite", "capture/capture_state.sqlite")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _s3_error(exc: Exception, what: str) -> MonitorError:
    return MonitorError(f"monitoring state {what}: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def local_state(state_dir: str, aws: Optional[AwsSettings] = None, write: bool = False,
                pull: Sequence[str] = STATE_FILES) -> Iterator[Path]:
    """A local folder holding the state (see the module docstring); ``pull`` entries ending
    in ``/`` are sub-folders downloaded whole."""
    if not str(state_dir).startswith("s3://"):
        root = Path(state_dir)
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    from botocore.exceptions import BotoCoreError, ClientError

    from medtx.aws.s3 import split_s3_uri
    from medtx.aws.session import client

    bucket, prefix = split_s3_uri(str(state_dir).rstrip("/") + "/")
    s3 = client(aws, "s3", max_attempts=5)
    tmp = Path(tempfile.mkdtemp(prefix="medtx-monitor-state-"))
    etags: dict[str, str] = {}
    pulled: dict[str, str] = {}
    try:
        try:
            keys = []
            for entry in pull:
                if entry.endswith("/"):
                    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + entry)
                    keys += [o["Key"][len(prefix):] for page in pages for o in page.get("Contents", [])]
                else:
                    keys.append(entry)
            for rel in keys:
                try:
                    obj = s3.get_object(Bucket=bucket, Key=prefix + rel)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                        continue
                    raise
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(obj["Body"].read())
                etags[rel], pulled[rel] = obj["ETag"], _digest(target)
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, f"cannot be read from {state_dir}") from None
        yield tmp
        if not write:
            return
        try:
            changed = [p for p in sorted(tmp.rglob("*")) if p.is_file()
                       and not p.name.endswith(("-wal", "-shm", "-journal"))
                       and pulled.get(p.relative_to(tmp).as_posix()) != _digest(p)]
            for path in changed:  # every conflict is found before anything is written
                rel = path.relative_to(tmp).as_posix()
                if rel in etags or rel in STATE_FILES:
                    try:
                        now = s3.head_object(Bucket=bucket, Key=prefix + rel)["ETag"]
                    except ClientError:
                        now = None
                    if now != etags.get(rel):
                        raise MonitorError(f"monitoring state {state_dir}/{rel} was changed by "
                                           "another run meanwhile; nothing of this run was saved")
            for path in changed:
                s3.put_object(Bucket=bucket, Key=prefix + path.relative_to(tmp).as_posix(),
                              Body=path.read_bytes(), ServerSideEncryption="AES256")
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, f"cannot be written to {state_dir}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
