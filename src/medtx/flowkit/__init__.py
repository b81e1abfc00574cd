"""Helpers shared by the flows in ``flows/``: the one place medtx touches Metaflow's API
besides the card builders (``medtx.reports``)."""
from medtx.config.paths import default_config
from medtx.flowkit.mutators import compute_backend, schedule_from_config
from medtx.flowkit.runtime import append_card, cache_dir, setup_logging, tag_run

__all__ = ["append_card", "cache_dir", "compute_backend", "default_config", "schedule_from_config", "setup_logging", "tag_run"]
