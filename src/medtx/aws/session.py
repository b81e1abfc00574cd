"""AWS sessions and clients per account: assumed roles whose credentials refresh themselves.

``session(aws, account=None)`` gives one cached boto3 session per target: the base credentials
(environment, profile, instance role) when no role applies, else a role assumed with
``sts:AssumeRole``. ``account=None`` is the default account (``aws.role_arn`` when set);
``account="serving"`` is an entry of ``aws.accounts``. Assumed-role credentials are botocore
refreshable credentials: they are fetched on first use and fetched again before they expire, so a
server or a long monitoring run keeps working.

``aws.endpoint_url`` (or ``AWS_ENDPOINT_URL``, which boto3 reads itself) points every client, STS
included, at an emulator such as moto or MinIO. Sessions and clients are created under a lock:
boto3 sessions are not safe to create clients from concurrently; the clients themselves are.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Optional

from medtx.config import AwsSettings
from medtx.errors import ConfigError

#: lifetime asked for each assumed-role credential set (botocore refreshes 15 min before the end)
ROLE_DURATION_S = 3600


@dataclass(frozen=True)
class Target:
    """What a session is for: where it talks to and which role, if any, it assumes."""

    region: str
    endpoint_url: Optional[str] = None
    role_arn: Optional[str] = None
    account_id: Optional[str] = None
    external_id: Optional[str] = None
    session_name: str = "medtx"


def target(aws: Optional[AwsSettings], account: Optional[str] = None, session_name: str = "medtx") -> Target:
    """The target of ``account`` (None = default); ConfigError for an unknown account name.
    ``aws`` None is a config without an ``aws`` section: the defaults (``AwsSettings()``)."""
    if aws is None:
        aws = AwsSettings()
    if not isinstance(aws, AwsSettings):
        raise ConfigError(f"expected AwsSettings (settings.aws), got {type(aws).__name__}")
    if account is None:
        return Target(aws.region, aws.endpoint_url, aws.role_arn,
                      aws.account_id if aws.role_arn else None, None, session_name)
    acct = aws.get_account(account)
    return Target(acct.region or aws.region, aws.endpoint_url, acct.role_arn, acct.account_id,
                  acct.external_id, session_name)


class _Entry:
    """A cached session and the lock that guards creating clients from it."""

    def __init__(self, session: Any):
        self.session = session
        self.lock = threading.Lock()


_LOCK = threading.Lock()
_SESSIONS: dict[Target, _Entry] = {}


def _endpoint(t: Target) -> dict:
    kwargs: dict[str, Any] = {"region_name": t.region}
    if t.endpoint_url:
        kwargs["endpoint_url"] = t.endpoint_url
    return kwargs


def _sts_client(base: Any, t: Target) -> Any:
    """The STS client (base credentials) that fetches ``t``'s role credentials."""
    return base.client("sts", **_endpoint(t))


def _role_fetcher(sts: Any, t: Target) -> Any:
    """A botocore ``refresh_using`` callable: one sts:AssumeRole -> credential metadata."""

    def fetch() -> dict:
        request: dict[str, Any] = {"RoleArn": t.role_arn, "RoleSessionName": t.session_name,
                                   "DurationSeconds": ROLE_DURATION_S}
        if t.external_id:
            request["ExternalId"] = t.external_id
        creds = sts.assume_role(**request)["Credentials"]
        expiry = creds["Expiration"]
        metadata = {
            "access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry),
        }
        if t.account_id:
            metadata["account_id"] = t.account_id
        return metadata

    return fetch


class _Provider:
    """A botocore credential provider that hands out one credentials object."""

    METHOD = "medtx-assume-role"
    CANONICAL_NAME = "medtx-assume-role"

    def __init__(self, credentials: Any):
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def _build(t: Target) -> Any:
    import boto3
    import botocore.session
    from botocore.credentials import CredentialResolver, DeferredRefreshableCredentials

    base = boto3.Session(region_name=t.region)
    if not t.role_arn:
        return base
    creds = DeferredRefreshableCredentials(refresh_using=_role_fetcher(_sts_client(base, t), t),
                                           method="assume-role")
    core = botocore.session.Session()
    core.register_component("credential_provider", CredentialResolver([_Provider(creds)]))
    return boto3.Session(botocore_session=core, region_name=t.region)


def _entry(t: Target) -> _Entry:
    with _LOCK:
        if t not in _SESSIONS:
            _SESSIONS[t] = _Entry(_build(t))
        return _SESSIONS[t]


def session(aws: Optional[AwsSettings], account: Optional[str] = None, session_name: str = "medtx") -> Any:
    """The cached boto3 session of ``account`` (None = default credentials or ``aws.role_arn``)."""
    return _entry(target(aws, account, session_name)).session


def client(aws: Optional[AwsSettings], service: str, account: Optional[str] = None,
           max_attempts: Optional[int] = None) -> Any:
    """A boto3 client for ``service`` in ``account``: its region, role and the endpoint override."""
    from botocore.config import Config as BotoConfig

    t = target(aws, account)
    entry = _entry(t)
    cfg = BotoConfig(retries={"max_attempts": max_attempts, "mode": "standard"}) if max_attempts else None
    with entry.lock:
        made = entry.session.client(service, config=cfg, **_endpoint(t))
    if os.environ.get(AUDIT_ENV):
        _audit(made, t)
    return made


AUDIT_ENV = "MEDTX_AWS_AUDIT"  # a file: one JSON line per AWS call (role, service, operation)


def _audit(made: Any, t: Target) -> None:
    """Append each call this client makes to ``$MEDTX_AWS_AUDIT``: which role made which call
    (the IAM policies under iam/ are checked against such a log). No parameters are kept."""
    import json

    role = t.role_arn.rsplit("/", 1)[-1] if t.role_arn else "default"
    prefix = made.meta.service_model.signing_name

    def record(model: Any, **_: Any) -> None:
        line = json.dumps({"role": role, "service": prefix, "operation": model.name})
        with open(os.environ[AUDIT_ENV], "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    made.meta.events.register("before-call", record)


def clear_sessions() -> None:
    """Forget every cached session (e.g. after the base credentials changed)."""
    with _LOCK:
        _SESSIONS.clear()
