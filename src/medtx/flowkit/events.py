"""The retrain event: published to Argo Events in the cloud, a TrainFlow run on a laptop.

On Argo Workflows (``ARGO_WORKFLOW_TEMPLATE`` set) the event ``monitor.retrain_event`` goes to
the Argo Events webhook with ``ignore_errors=False``: a lost event fails the step instead of
vanishing. Locally, ``--retrain`` starts TrainFlow through Metaflow's Runner with the same
payload as its ``retrain_request`` parameter; without it the event is only recorded and the
command that would start the retrain is printed.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from medtx.flowkit.mutators import RETRAIN_PARAMETER

log = logging.getLogger("medtx.flowkit.events")


@dataclass(frozen=True)
class RetrainEvent:
    """How a fired retrain left this run: ``argo`` (event id), ``runner`` (the TrainFlow run it
    started and its status) or ``recorded`` (nothing started; ``command`` would)."""

    how: str
    payload: dict
    event_id: Optional[str] = None
    train_run: Optional[str] = None
    status: Optional[str] = None
    command: str = ""


def on_argo() -> bool:
    return bool(os.environ.get("ARGO_WORKFLOW_TEMPLATE"))


def start_retrain(payload: dict, event_name: str, config: Any, train_flow: str | Path,
                  run_locally: bool, webhook_url: Optional[str] = None) -> RetrainEvent:
    """Publish or start the retrain for ``payload`` (see the module docstring)."""
    body = json.dumps(payload, sort_keys=True)
    if on_argo():
        # the documented import; metaflow.integrations resolves it lazily, so it has no static type
        from metaflow.integrations import ArgoEvent  # type: ignore[attr-defined]

        kwargs = {"url": webhook_url} if webhook_url else {}
        event_id = ArgoEvent(event_name, payload={RETRAIN_PARAMETER: body}, **kwargs).publish(
            ignore_errors=False)
        log.info("retrain event %s published (%s)", event_name, event_id)
        return RetrainEvent("argo", payload, event_id=event_id)
    command = f"python {train_flow} run --{RETRAIN_PARAMETER} '<payload>'"
    if not run_locally:
        return RetrainEvent("recorded", payload, command=command)
    from metaflow import Runner

    with tempfile.TemporaryDirectory(prefix="medtx-retrain-") as tmp:
        cfg_path = Path(tmp) / "config.json"
        cfg_path.write_text(json.dumps(dict(config)), encoding="utf-8")
        with Runner(str(train_flow), show_output=True, config=[("cfg", str(cfg_path))]) as runner:
            result = runner.run(**{RETRAIN_PARAMETER: body})
            status, pathspec = result.status, result.run.pathspec if result.run else None
    log.info("retrain TrainFlow run %s: %s", pathspec, status)
    return RetrainEvent("runner", payload, train_run=pathspec, status=status, command=command)
