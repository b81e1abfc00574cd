"""Reading what earlier runs stored, through Metaflow's Client (any namespace)."""
from __future__ import annotations

from typing import Any

from medtx.errors import MedtxError


class RunReadError(MedtxError):
    """An artifact of an earlier run cannot be read (the run, step or artifact is missing)."""


def read_artifact(run: Any, step: str, name: str) -> Any:
    """The artifact ``name`` of ``step`` in ``run``: a Client ``Run`` in hand, or its pathspec
    (``Flow/<run id>``, looked up in every namespace)."""
    from metaflow import Run, namespace

    where = run if isinstance(run, str) else run.pathspec
    try:
        if isinstance(run, str):
            namespace(None)
            run = Run(run)
        task = run[step].task
        if task is not None:
            return getattr(task.data, name)
        why = "no task"
    except Exception as exc:  # the Client raises several kinds for a missing run, step or name
        why = type(exc).__name__
    raise RunReadError(f"cannot read {name} of {where}/{step} ({why})")
