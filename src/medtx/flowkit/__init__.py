"""Helpers shared by the flows in ``flows/``: the one place medtx touches Metaflow's API
besides the card builders.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterable

from metaflow import StepMutator

from medtx.config import Settings, settings_from
from medtx.config.paths import default_config  # noqa: F401  (flows: Config default)

def setup_logging() -> None:
    """Log medtx's INFO lines to the step's stdout (flows call this, the library never does)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=os.environ.get("MEDTX_LOG_LEVEL", "INFO"),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )


def append_card(components: Iterable[Any], card_id: str | None = None) -> None:
    """Append card components built by ``medtx.reports`` to the current step's card."""
    from metaflow import current

    target = current.card[card_id] if card_id else current.card
    for component in components:
        target.append(component)


class compute_backend(StepMutator):
    """Send a step to AWS Batch or Kubernetes when ``compute.backend`` says so.

    ``@batch`` written in a flow breaks local runs and Argo refuses steps carrying both
    ``@batch`` and ``@kubernetes``, so the decorator comes from config instead of code.
    ``@resources`` in the flow still states what the step needs.
    """

    def pre_mutate(self, mutable_step: Any) -> None:
        configs = dict(mutable_step.flow.configs)
        if "cfg" not in configs:
            return
        settings: Settings = settings_from(configs["cfg"])
        compute = settings.compute
        kwargs: dict[str, Any] = {"cpu": compute.cpu, "memory": compute.memory, "gpu": compute.gpu}
        if compute.image:
            kwargs["image"] = compute.image
        if compute.backend == "batch":
            mutable_step.add_decorator("batch", deco_kwargs={**kwargs, "queue": compute.queue})
        elif compute.backend == "kubernetes":
            mutable_step.add_decorator("kubernetes", deco_kwargs=kwargs)


def cache_dir(kind: str) -> Path:
    """Local cache folder for ``kind`` (e.g. tokens), under ``MEDTX_CACHE`` or ``.medtx/cache``."""
    return Path(os.environ.get("MEDTX_CACHE", ".medtx/cache")) / kind


def git_commit() -> str | None:
    """The commit of the checkout the flow runs from, or None outside a git work tree."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def tag_run(tags: Iterable[str]) -> None:
    """Mirror an outcome on the current run as tags (visible in the UI and the Client API)."""
    from metaflow import Run, current, namespace

    namespace(None)
    Run(f"{current.flow_name}/{current.run_id}").add_tags(list(tags))
