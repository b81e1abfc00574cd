"""Step mutators: decorators a flow's config adds to its steps (no code change per environment)."""
from __future__ import annotations

from typing import Any

from metaflow import FlowMutator, StepMutator

from medtx.config import Settings, settings_from


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


class schedule_from_config(FlowMutator):
    """``@schedule(cron=...)`` from ``deploy.schedule`` when the config sets one, else nothing.

    ``@schedule`` with no cron means daily, so the decorator is added only when asked for; it
    acts on Argo Workflows (``argo-workflows create``), local runs ignore it.
    """

    def pre_mutate(self, mutable_flow: Any) -> None:
        configs = dict(mutable_flow.configs)
        if "cfg" not in configs:
            return
        cron = settings_from(configs["cfg"]).deploy.schedule
        if cron:
            mutable_flow.add_decorator("schedule", deco_kwargs={"cron": cron})
