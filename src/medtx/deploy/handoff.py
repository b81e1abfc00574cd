"""The cross-account hand-off: an Approved version announced to the accounts that deploy it.

Metaflow's events do not cross clusters or accounts, so the registry account tells each
``deploy.handoff_to`` account explicitly: a POST to that account's Argo Events webhook in the
shape Metaflow's own events have (``{"name", "payload": {"name", "id", "timestamp", ...}}``),
carrying the model package ARN and version - never a Metaflow pathspec, which means nothing in
another account. Server errors and unreachable webhooks are retried; what still fails raises
:class:`HandoffError`, so the step that approved the model fails and says how to announce again.
On the receiving side :func:`parse_package_arn` checks the ARN before DeployFlow reads the
package through the registry account's role.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from medtx.config import HandoffTarget, Settings
from medtx.errors import MedtxError
from medtx.registry import ModelVersion

log = logging.getLogger("medtx.deploy.handoff")
_ARN = re.compile(r"arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):(\d{12}):model-package/([^/]+)/(\d+)")


class HandoffError(MedtxError):
    """A hand-off could not be delivered, or a received one names no package of our registry."""


@dataclass(frozen=True)
class Receipt:
    target: str
    event: str
    event_id: str
    attempts: int
    status: int


@dataclass(frozen=True)
class PackageRef:
    region: str
    account_id: str
    group: str
    version: int
    arn: str


def parse_package_arn(arn: str) -> PackageRef:
    """The parts of a versioned model package ARN; HandoffError when it is not one."""
    m = _ARN.fullmatch(str(arn).strip())
    if not m:
        raise HandoffError(f"{arn!r} is not a versioned SageMaker model package ARN "
                           "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)")
    return PackageRef(m.group(1), m.group(2), m.group(3), int(m.group(4)), m.group(0))


def payload_of(version: ModelVersion, settings: Settings) -> dict:
    """The fields a receiving DeployFlow needs (strings: Argo maps them to parameters)."""
    if not version.arn:
        raise HandoffError(f"version {version.version} has no model package ARN: a cross-account "
                           "hand-off needs registry.backend 'sagemaker'")
    ref = parse_package_arn(version.arn)
    return {"model_package_arn": ref.arn, "model_group": ref.group, "model_version": str(ref.version),
            "registry_account": ref.account_id, "source_env": settings.env,
            "macro_f1": str(version.metrics.get("macro_f1", ""))}


def _post(url: str, body: bytes, token: Optional[str], timeout_s: float) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return int(resp.status)


def deliver(name: str, target: HandoffTarget, fields: dict, sleep: Callable[[float], None] = time.sleep,
            timeout_s: float = 30.0) -> Receipt:
    """POST one hand-off event to ``target`` (HandoffTarget), retrying 5xx and network errors."""
    token = os.environ.get(target.token_env) if target.token_env else None
    if target.token_env and not token:
        raise HandoffError(f"hand-off to {name}: {target.token_env} (the webhook token) is not set")
    event_id = str(uuid.uuid4())
    body = json.dumps({"name": target.event, "payload": {
        "name": target.event, "id": event_id, "timestamp": int(time.time()), **fields}}).encode()
    last = ""
    for attempt in range(1, target.attempts + 1):
        try:
            status = _post(target.webhook_url, body, token, timeout_s)
            log.info("hand-off %s -> %s delivered (event %s, attempt %d)", target.event, name,
                     event_id, attempt)
            return Receipt(name, target.event, event_id, attempt, status)
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code < 500:  # the webhook refused it: retrying will not help
                break
        except (urllib.error.URLError, OSError) as exc:
            last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if attempt < target.attempts:
            sleep(min(2.0 ** (attempt - 1), 30.0))
    raise HandoffError(f"hand-off of {fields.get('model_package_arn')} to {name} "
                       f"({target.webhook_url}) failed after {attempt} attempt(s): {last}")


def hand_off(settings: Settings, version: ModelVersion) -> tuple[Receipt, ...]:
    """A freshly registered version handed to the ``deploy.handoff_to`` accounts when it is
    Approved (otherwise nothing); a failure says how to announce it again."""
    if version.status != "Approved" or not settings.deploy.handoff_to:
        return ()
    try:
        return announce(settings, version)
    except HandoffError as exc:
        raise HandoffError(f"{exc}. Version {version.version} is registered and Approved; "
                           f"announce it again with `medtx models announce {version.version}`") from None


def announce(settings: Settings, version: ModelVersion,
             sleep: Callable[[float], None] = time.sleep) -> tuple[Receipt, ...]:
    """Tell every ``deploy.handoff_to`` account about an Approved ``version``."""
    targets = settings.deploy.handoff_to
    if not targets:
        return ()
    if version.status != "Approved":
        raise HandoffError(f"version {version.version} is {version.status}: only Approved "
                           "versions are handed off")
    fields = payload_of(version, settings)
    return tuple(deliver(name, target, fields, sleep) for name, target in targets.items())
