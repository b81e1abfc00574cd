"""Readers and writers of s3:// capture and monitoring state take ``aws=None`` as the default
AWS settings (what a config without an ``aws`` section gives), not as a broken session: the
session they ask for targets what ``AwsSettings()`` targets."""
from __future__ import annotations

import pytest

from medtx.aws import session
from medtx.config import AwsSettings
from medtx.errors import ConfigError
from medtx.monitor.capture_reader import CaptureReader
from medtx.monitor.state import local_state
from medtx.serving.capture import CaptureWriter, read_capture

DEFAULT = session.target(AwsSettings())


def test_no_aws_settings_is_the_defaults_and_anything_else_is_refused():
    assert session.target(None) == DEFAULT
    with pytest.raises(ConfigError, match="expected AwsSettings"):
        session.target({"region": "us-east-1"})


class _Reached(Exception):
    """Raised by the stand-in client once the session target has been built."""


@pytest.fixture
def seen(monkeypatch) -> list:
    calls: list = []

    def fake_client(aws, service, account=None, max_attempts=None):
        calls.append(session.target(aws, account))  # what the real client would connect to
        raise _Reached

    monkeypatch.setattr(session, "client", fake_client)
    return calls


def test_capture_writer_to_s3_without_aws_uses_the_defaults(seen):
    with pytest.raises(_Reached):
        CaptureWriter("s3://bucket/capture", "ep", "AllTraffic", aws=None)
    assert seen == [DEFAULT]


def test_read_capture_from_s3_without_aws_uses_the_defaults(seen):
    with pytest.raises(_Reached):
        list(read_capture("s3://bucket/capture", "ep", aws=None))
    assert seen == [DEFAULT]


def test_capture_reader_on_s3_without_aws_uses_the_defaults(seen, tmp_path):
    with pytest.raises(_Reached):
        CaptureReader("s3://bucket/capture", tmp_path, "ep", aws=None).read(commit=False)
    assert seen == [DEFAULT]


def test_monitor_state_on_s3_without_aws_uses_the_defaults(seen):
    with pytest.raises(_Reached), local_state("s3://bucket/state", aws=None):
        pass
    assert seen == [DEFAULT]
