"""``--set section.key=value`` on every flow: one run's changes to its config file.

The flows declare ``overrides = Parameter(SET_PARAMETER, multiple=True, ...)``; the start step
calls :func:`apply_set`, which parses the values, refuses unknown keys (naming the dotted key)
and the keys that are read when the flow is compiled, and returns the settings the run uses
with the overrides it applied. :func:`record_set` tags the run with them.

Keys read when the flow is compiled cannot change per run: ``compute.*`` becomes
``@resources`` and ``@batch``/``@kubernetes`` on the fine-tune step, ``project.*`` becomes
``@project``, and the schedule and trigger keys become ``@schedule``/``@trigger`` (see
:mod:`medtx.flowkit.mutators`). A run that says ``--set compute.gpu=1`` would store settings
that the step decorators never saw, so such keys are refused: change them in the config file
(``--config cfg FILE``).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Optional

from medtx.config import Settings, parse_overrides, settings_from
from medtx.config.overrides import leaf_keys, shown
from medtx.errors import ConfigError

SET_PARAMETER = "set"
SET_HELP = ("section.key=value: change one config key for this run (e.g. train.epochs=1). The "
            "value is read as JSON where it parses (1, 3e-5, true, null, [\"a\"]), else as text. "
            "Repeat the option or join items with commas. compute.*, project.* and the "
            "schedule/trigger keys are fixed when the flow is compiled: change them in the "
            "--config file.")

#: config keys the flow mutators read when the flow is compiled (a key or a whole section)
COMPILED_KEYS = ("compute", "project", "deploy.schedule", "deploy.handoff_event",
                 "monitor.schedule", "monitor.retrain_event", "monitor.retrain_schedule")
_TAG_MAX = 500  # Metaflow's longest tag


def compiled_keys(overrides: dict[str, Any]) -> list[str]:
    """The overridden keys that only the config file can change (see the module docstring)."""
    return [key for key in leaf_keys(overrides)
            if any(key == fixed or key.startswith(fixed + ".") for fixed in COMPILED_KEYS)]


def refuse_compiled(overrides: dict[str, Any]) -> None:
    """ConfigError naming the overridden keys that only the config file can change."""
    fixed = compiled_keys(overrides)
    if fixed:
        raise ConfigError(f"--set cannot change {', '.join(fixed)}: these keys are read when the "
                          "flow is compiled (step decorators such as @resources, @kubernetes, "
                          "@project, @schedule); change them in the config file (--config cfg FILE)")


def apply_set(cfg: Any, values: Optional[Iterable[str]]) -> tuple[Settings, dict[str, Any]]:
    """``(settings, overrides)``: the run's config with its ``--set`` values applied, and those
    values as ``{dotted key: value}`` ({} without any). ConfigError for an unknown key, a bad
    value or a key fixed at compile time, before any work starts."""
    overrides = parse_overrides(values)
    refuse_compiled(overrides)
    return settings_from(cfg, overrides), overrides


def set_tags(overrides: dict[str, Any]) -> list[str]:
    """One ``set:section.key=value`` tag per override (cut to Metaflow's tag length)."""
    tags = [f"set:{item}" for item in shown(overrides)]
    return [t if len(t) <= _TAG_MAX else t[:_TAG_MAX - 3] + "..." for t in tags]


def record_set(overrides: dict[str, Any]) -> None:
    """Tag the current run with its overrides (nothing when there are none)."""
    if overrides:
        from medtx.flowkit.runtime import tag_run

        tag_run(set_tags(overrides))


def runner_set(overrides: Optional[dict[str, Any]]) -> dict[str, list[str]]:
    """``Runner(...).run(**runner_set({...}))``: the keyword that passes overrides to a flow."""
    return {SET_PARAMETER: [f"{k}={json.dumps(v)}" for k, v in overrides.items()]} if overrides else {}
