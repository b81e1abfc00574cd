"""Step mutators: decorators a flow's config adds to its steps (no code change per environment)."""
from __future__ import annotations

from typing import Any

from metaflow import StepMutator

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
