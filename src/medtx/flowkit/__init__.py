"""Helpers shared by the flows in ``flows/``: the one place medtx touches Metaflow's API
besides the card builders (``medtx.reports``)."""
from medtx.config.paths import default_config
from medtx.flowkit.events import RetrainEvent, start_retrain
from medtx.flowkit.mutators import (
                                    HANDOFF_PARAMETER,
                                    RETRAIN_PARAMETER,
                                    compute_backend,
                                    deploy_trigger,
                                    project_from_config,
                                    retrain_trigger,
                                    schedule_from_config,
)
from medtx.flowkit.overrides import SET_HELP, SET_PARAMETER, apply_set, record_set, runner_set
from medtx.flowkit.runtime import append_card, cache_dir, setup_logging, tag_run

__all__ = ["HANDOFF_PARAMETER", "RETRAIN_PARAMETER", "RetrainEvent", "append_card", "cache_dir",
           "compute_backend", "default_config", "deploy_trigger", "project_from_config", "retrain_trigger",
           "schedule_from_config", "setup_logging", "start_retrain", "tag_run",
           "SET_HELP", "SET_PARAMETER", "apply_set", "record_set", "runner_set"]
