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


def _setting(settings: Settings, dotted: str) -> Any:
    value: Any = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


class schedule_from_config(FlowMutator):
    """``@schedule(cron=...)`` from a config key (``deploy.schedule`` unless another dotted key
    is given, e.g. ``@schedule_from_config("monitor.schedule")``) when it is set, else nothing.

    ``@schedule`` with no cron means daily, so the decorator is added only when asked for; it
    acts on Argo Workflows (``argo-workflows create``), local runs ignore it.
    """

    def init(self, key: str = "deploy.schedule") -> None:
        self.key = key

    def pre_mutate(self, mutable_flow: Any) -> None:
        configs = dict(mutable_flow.configs)
        if "cfg" not in configs:
            return
        key = getattr(self, "key", "deploy.schedule")
        cron = _setting(settings_from(configs["cfg"]), key)
        if cron:
            mutable_flow.add_decorator("schedule", deco_kwargs={"cron": cron})


RETRAIN_PARAMETER = "retrain_request"


class retrain_trigger(FlowMutator):
    """TrainFlow's retraining entries: ``@trigger`` on the event ``monitor.retrain_event``, its
    payload field ``retrain_request`` mapped to the flow parameter of that name (so a local
    ``--retrain_request`` run and an Argo-triggered one see the same value), and the calendar
    retrain ``@schedule`` from ``monitor.retrain_schedule`` when set."""

    def pre_mutate(self, mutable_flow: Any) -> None:
        configs = dict(mutable_flow.configs)
        if "cfg" not in configs:
            return
        monitor = settings_from(configs["cfg"]).monitor
        mutable_flow.add_decorator("trigger", deco_kwargs={"event": {
            "name": monitor.retrain_event,
            "parameters": {RETRAIN_PARAMETER: RETRAIN_PARAMETER}}})
        if monitor.retrain_schedule:
            mutable_flow.add_decorator("schedule", deco_kwargs={"cron": monitor.retrain_schedule})


class project_from_config(FlowMutator):
    """``@project`` from the config's ``project`` section: its name, and the branch of the
    account the config describes (``branch`` / ``production``; a laptop config sets neither,
    so ``--branch`` / ``--production`` on the command line still work there)."""

    def pre_mutate(self, mutable_flow: Any) -> None:
        configs = dict(mutable_flow.configs)
        if "cfg" not in configs:
            return
        project = settings_from(configs["cfg"]).project
        # a decospec string: attributes passed as deco_kwargs would not count as set by the
        # user, and @project would then ignore branch and production
        spec = f"project:name={project.name}"
        if project.branch:
            spec += f",branch={project.branch}"
        if project.production:
            spec += ",production=True"
        mutable_flow.add_decorator(spec)


HANDOFF_PARAMETER = "model_package"


class deploy_trigger(FlowMutator):
    """DeployFlow's Argo trigger in an account that receives hand-offs
    (``deploy.handoff_event``): ``@trigger`` on that event, its ``model_package_arn`` as the
    ``model_package`` parameter, in place of the flow's ``@trigger_on_finish`` of TrainFlow
    (Argo Workflows refuses both on one flow). Elsewhere the flow keeps the latter, and with it
    the ``--trigger`` option of local runs."""

    def pre_mutate(self, mutable_flow: Any) -> None:
        configs = dict(mutable_flow.configs)
        if "cfg" not in configs:
            return
        event = settings_from(configs["cfg"]).deploy.handoff_event
        if event:
            mutable_flow.remove_decorator("trigger_on_finish")
            mutable_flow.add_decorator("trigger", deco_kwargs={"event": {
                "name": event, "parameters": {HANDOFF_PARAMETER: "model_package_arn"}}})
