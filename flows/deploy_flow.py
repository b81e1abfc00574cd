"""DeployFlow: an Approved model from the registry to its endpoints, stage by stage.

    python flows/deploy_flow.py run                       # the latest Approved version
    python flows/deploy_flow.py run --version 3           # a given (Approved) version
    python flows/deploy_flow.py --trigger TrainFlow/<run_id> run   # as a finished TrainFlow would
    python flows/deploy_flow.py run --model_package arn:aws:sagemaker:...:model-package/g/3
    python flows/deploy_flow.py --config cfg configs/prod.json argo-workflows create
    python flows/deploy_flow.py run --set deploy.smoke_notes=16      # one run's config change

On Argo Workflows it starts when TrainFlow finishes (@trigger_on_finish), or in an account that
receives cross-account hand-offs on ``deploy.handoff_event``, and on the schedule in
``deploy.schedule``. Each stage (``deploy.stages``, e.g. staging then prod) is blue/green:
the new version starts beside the serving one, passes smoke tests, and only then takes the
address; on any failure the previous version keeps serving and the run fails saying why.
"""
from metaflow import Config, FlowSpec, Parameter, card, current, step, trigger_on_finish

from medtx import flowkit, reports
from medtx.stages import deploy as stages

flowkit.setup_logging()


@flowkit.project_from_config
@flowkit.schedule_from_config
@flowkit.deploy_trigger
@trigger_on_finish(flow="TrainFlow")
class DeployFlow(FlowSpec):
    cfg = Config("cfg", default=flowkit.default_config(), parser="medtx.flowkit.config.parse_config")
    model_package = Parameter(flowkit.HANDOFF_PARAMETER, default="", help="Model package ARN "
                              "from a cross-account hand-off (set by the deploy.handoff_event trigger).")
    version = Parameter("version", default="", help="Registry version to deploy (N, latest or "
                        "approved). Empty: the triggering TrainFlow run's version, else the latest "
                        "Approved one.")
    overrides = Parameter(flowkit.SET_PARAMETER, type=str, multiple=True, help=flowkit.SET_HELP)

    @card(type="blank")
    @step
    def start(self):
        """Choose the version: given, triggering run's, or latest Approved; it must be Approved."""
        self.settings, self.config_overrides = flowkit.apply_set(self.cfg, self.overrides)
        flowkit.record_set(self.config_overrides)
        flowkit.append_card(reports.overrides_card(self.config_overrides))
        self.selection = stages.choose(self.settings, self.version, getattr(current, "trigger", None),
                                       self.model_package)
        flowkit.append_card(reports.selection_card(self.selection))
        self.next(self.deploy)

    @card(type="blank")
    @step
    def deploy(self):
        """Each stage in order: blue/green, smoke tests, then the stable address."""
        self.outcomes = stages.deploy(self.settings, self.selection)
        flowkit.append_card(reports.deploy_card(self.selection, self.outcomes))
        self.next(self.end)

    @step
    def end(self):
        """Say where the model serves."""
        for outcome in self.outcomes:
            print(reports.outcome_line(outcome))


if __name__ == "__main__":
    DeployFlow()
