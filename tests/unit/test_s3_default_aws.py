"""Readers and writers of s3:// capture and monitoring state take ``aws=None`` as the default
AWS settings (what a config without an ``aws`` section gives), not as a broken session."""
from __future__ import annotations

import pytest

from medtx.aws import session
from medtx.config import AwsSettings
from medtx.monitor.capture_reader import CaptureReader
from medtx.monitor.state import local_state
from medtx.serving.capture import CaptureWriter, read_capture


class _Reached(Exception):
    """Raised by the stand-in client once the session target has been built."""


@pytest.fixture
def seen(monkeypatch) -> list:
    calls: list = []

    def fake_client(aws, service, account=None, max_attempts=None):
        session.target(aws, account)  # refuses anything but AwsSettings, like the real client
        calls.append(aws)
        raise _Reached

    monkeypatch.setattr(session, "client", fake_client)
    return calls


def test_capture_writer_to_s3_without_aws_uses_the_defaults(seen):
    with pytest.raises(_Reached):
        CaptureWriter("s3://bucket/capture", "ep", "AllTraffic", aws=None)
    assert seen == [AwsSettings()]


def test_read_capture_from_s3_without_aws_uses_the_defaults(seen):
    with pytest.raises(_Reached):
        list(read_capture("s3://bucket/capture", "ep", aws=None))
    assert seen == [AwsSettings()]


def test_capture_reader_on_s3_without_aws_uses_the_defaults(seen, tmp_path):
    with pytest.raises(_Reached):
        CaptureReader("s3://bucket/capture", tmp_path, "ep", aws=None).read(commit=False)
    assert seen == [AwsSettings()]


def test_monitor_state_on_s3_without_aws_uses_the_defaults(seen):
    with pytest.raises(_Reached), local_state("s3://bucket/state", aws=None):
        pass
    assert seen == [AwsSettings()]
