"""Sessions per account against a moto server on 127.0.0.1: roles assumed, cached, refreshed."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from medtx.aws import session as aws_session
from medtx.aws.s3 import read_bytes
from medtx.config import parse_settings
from medtx.errors import ConfigError

PIPELINE, SERVING = "111111111111", "444444444444"


@pytest.fixture
def aws(moto_endpoint):
    """AwsSettings with a default role and two named accounts, all on the moto server."""
    aws_session.clear_sessions()
    s = parse_settings({"env": "t", "aws": {
        "region": "us-east-1", "endpoint_url": moto_endpoint, "account_id": PIPELINE,
        "role_arn": f"arn:aws:iam::{PIPELINE}:role/medtx-pipeline",
        "accounts": {
            "pipeline": {"account_id": PIPELINE, "role_arn": f"arn:aws:iam::{PIPELINE}:role/medtx-pipeline"},
            "serving": {"account_id": SERVING, "role_arn": f"arn:aws:iam::{SERVING}:role/medtx-deploy",
                        "region": "eu-west-1", "external_id": "medtx-test"},
        }}})
    yield s.aws
    aws_session.clear_sessions()


@pytest.fixture
def assume_calls(monkeypatch):
    """AssumeRole requests seen by the STS clients medtx builds (a botocore event hook).

    ``calls.expire_next = n`` makes the next ``n`` answers expire within a minute.
    """
    class Calls(list):
        expire_next = 0

    calls = Calls()
    real = aws_session._sts_client

    def on_call(params, **_):
        calls.append(params["body"].get("RoleArn"))

    def on_answer(parsed, **_):
        if calls.expire_next > 0 and "Credentials" in parsed:
            calls.expire_next -= 1
            parsed["Credentials"]["Expiration"] = datetime.now(timezone.utc) + timedelta(seconds=60)

    def hooked(base, t):
        sts = real(base, t)
        sts.meta.events.register("before-call.sts.AssumeRole", on_call)
        sts.meta.events.register("after-call.sts.AssumeRole", on_answer)
        return sts

    monkeypatch.setattr(aws_session, "_sts_client", hooked)
    return calls


def _identity(aws, account=None):
    return aws_session.client(aws, "sts", account=account, max_attempts=1).get_caller_identity()


def test_each_account_assumes_its_own_role(aws, assume_calls):
    serving = _identity(aws, "serving")
    assert serving["Account"] == SERVING
    assert serving["Arn"] == f"arn:aws:sts::{SERVING}:assumed-role/medtx-deploy/medtx"
    pipeline = _identity(aws, "pipeline")
    assert pipeline["Account"] == PIPELINE
    assert pipeline["Arn"] == f"arn:aws:sts::{PIPELINE}:assumed-role/medtx-pipeline/medtx"
    assert assume_calls == [f"arn:aws:iam::{SERVING}:role/medtx-deploy",
                            f"arn:aws:iam::{PIPELINE}:role/medtx-pipeline"]
    assert aws_session.session(aws, "serving").region_name == "eu-west-1"  # the account's region
    assert aws_session.session(aws, "pipeline").region_name == "us-east-1"  # aws.region


def test_default_account_uses_aws_role_arn_or_base_credentials(aws, assume_calls):
    assert _identity(aws)["Arn"] == f"arn:aws:sts::{PIPELINE}:assumed-role/medtx-pipeline/medtx"
    plain = parse_settings({"env": "t", "aws": {"endpoint_url": aws.endpoint_url}}).aws
    base = _identity(plain)
    assert ":assumed-role/" not in base["Arn"]
    assert base["Account"] not in (PIPELINE, SERVING)
    assert len(assume_calls) == 1  # no role, no AssumeRole


def test_sessions_are_cached_per_account(aws, assume_calls):
    first = aws_session.session(aws, "serving")
    assert aws_session.session(aws, "serving") is first
    assert aws_session.session(aws, "pipeline") is not first
    for _ in range(3):
        _identity(aws, "serving")
    assert assume_calls == [f"arn:aws:iam::{SERVING}:role/medtx-deploy"]  # fetched once, reused
    # the default account assumes the same role as "pipeline": they share one session
    assert aws_session.session(aws) is aws_session.session(aws, "pipeline")


def test_credentials_refresh_once_expired(aws, assume_calls):
    assume_calls.expire_next = 1  # the first credentials expire within a minute
    assert _identity(aws, "serving")["Account"] == SERVING
    assert len(assume_calls) == 1
    creds = aws_session.session(aws, "serving").get_credentials()
    assert creds.refresh_needed()  # inside botocore's mandatory refresh window
    assert _identity(aws, "serving")["Account"] == SERVING  # refreshed before signing
    assert len(assume_calls) == 2
    assert not creds.refresh_needed()  # the new ones last an hour
    assert _identity(aws, "serving")["Account"] == SERVING
    assert len(assume_calls) == 2  # fresh credentials are not fetched again


def test_concurrent_clients_share_one_assume_role(aws, assume_calls):
    errors: list[BaseException] = []

    def work():
        try:
            assert _identity(aws, "serving")["Account"] == SERVING
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(assume_calls) == 1


def test_unknown_account_is_a_config_error(aws):
    with pytest.raises(ConfigError, match=r"unknown AWS account 'prod'.*\['pipeline', 'serving'\]"):
        aws_session.session(aws, "prod")
    with pytest.raises(ConfigError, match="'prod'"):
        aws_session.client(aws, "s3", account="prod")


def test_s3_reads_go_through_the_account_session(aws, assume_calls):
    bucket = f"medtx-sessions-{uuid.uuid4().hex[:8]}"
    s3 = aws_session.client(aws, "s3", account="pipeline", max_attempts=1)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
    assert read_bytes(aws, f"s3://{bucket}/a/b.txt", account="pipeline") == b"hello"
    with pytest.raises(ConfigError, match="names no object key"):
        read_bytes(aws, f"s3://{bucket}/")
    assert set(assume_calls) == {f"arn:aws:iam::{PIPELINE}:role/medtx-pipeline"}
