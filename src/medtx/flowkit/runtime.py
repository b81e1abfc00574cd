"""What a flow step needs from its runtime: logging, appending cards, the cache folder, run tags."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


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

    # Current gains .card at run time from the card decorator; metaflow's types do not declare it
    card = current.card  # type: ignore[attr-defined]
    target = card[card_id] if card_id else card
    for component in components:
        target.append(component)


def cache_dir(kind: str) -> Path:
    """Local cache folder for ``kind`` (e.g. tokens), under ``MEDTX_CACHE`` or ``.medtx/cache``."""
    return Path(os.environ.get("MEDTX_CACHE", ".medtx/cache")) / kind


def tag_run(tags: Iterable[str]) -> None:
    """Mirror an outcome on the current run as tags (visible in the UI and the Client API)."""
    from metaflow import Run, current, namespace

    namespace(None)
    Run(f"{current.flow_name}/{current.run_id}").add_tags(list(tags))
