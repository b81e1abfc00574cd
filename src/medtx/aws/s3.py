"""S3 helpers: ``s3://`` URIs and whole-object reads through :func:`medtx.aws.session.client`.

botocore errors (``ClientError``, ``BotoCoreError``) pass through unchanged, so each caller turns
them into its own typed error (IngestError, RegistryError).
"""
from __future__ import annotations

from typing import Optional

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


def read_bytes(aws: AwsSettings, uri: str, account: Optional[str] = None,
               max_attempts: Optional[int] = 3) -> bytes:
    """The bytes of the object at ``uri``, read with ``account``'s session."""
    from medtx.aws.session import client

    bucket, key = split_s3_uri(uri)
    if not key:
        raise ConfigError(f"S3 URI names no object key: {uri!r}")
    obj = client(aws, "s3", account=account, max_attempts=max_attempts).get_object(
        Bucket=bucket, Key=key)
    return obj["Body"].read()

