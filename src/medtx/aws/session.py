"""AWS sessions and clients: region, endpoint overrides for emulators, cross-account roles.

``AwsSettings.endpoint_url`` (or the standard ``AWS_ENDPOINT_URL`` variable, which boto3 reads
itself) points every client at an S3/SageMaker emulator such as moto or MinIO.
``AwsSettings.role_arn`` makes medtx assume a role in another account (dev/staging/prod) first.
"""
from __future__ import annotations

import functools
import threading
from typing import Any, Optional

from medtx.config import AwsSettings
from medtx.errors import ConfigError


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; raises ConfigError when malformed."""
    if not uri.startswith("s3://"):
        raise ConfigError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise ConfigError(f"S3 URI has no bucket: {uri!r}")
    return bucket, key


def _client_kwargs(aws: AwsSettings) -> dict:
    kwargs: dict[str, Any] = {"region_name": aws.region}
    if aws.endpoint_url:
        kwargs["endpoint_url"] = aws.endpoint_url
    return kwargs


@functools.lru_cache(maxsize=16)
def session(aws: AwsSettings, session_name: str = "medtx") -> Any:
    """A boto3 session, with ``aws.role_arn`` assumed when set (cross-account access)."""
    import boto3

    base = boto3.Session(region_name=aws.region)
    if not aws.role_arn:
        return base
    sts = base.client("sts", **_client_kwargs(aws))
    creds = sts.assume_role(RoleArn=aws.role_arn, RoleSessionName=session_name)["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=aws.region,
    )


_CLIENT_LOCK = threading.Lock()  # boto3 sessions are not safe to create clients from concurrently


def client(aws: AwsSettings, service: str, max_attempts: Optional[int] = None) -> Any:
    """A boto3 client for ``service`` honouring region, endpoint override and role."""
    from botocore.config import Config as BotoConfig

    cfg = BotoConfig(retries={"max_attempts": max_attempts, "mode": "standard"}) if max_attempts else None
    with _CLIENT_LOCK:
        return session(aws).client(service, config=cfg, **_client_kwargs(aws))
