"""MonitorFlow: captured traffic of an endpoint against its model's reference profile.

    python flows/monitor_flow.py run                         # the window since the last one
    python flows/monitor_flow.py run --since 2026-12-01T00:00:00Z --until 2026-12-02T00:00:00Z
    python flows/monitor_flow.py run --retrain true          # locally: start TrainFlow if it fires
    python flows/monitor_flow.py --config cfg configs/prod.json argo-workflows create
    python flows/monitor_flow.py run --set monitor.min_notes=50      # one run's config change

On Argo Workflows it runs on ``monitor.schedule`` and publishes the retrain event TrainFlow is
triggered by. Each step is one call into ``medtx.stages.monitor``; the note text stays inside
the window step, every stored artifact is text-free.
"""
from pathlib import Path

from metaflow import Config, FlowSpec, Parameter, card, current, step

from medtx import flowkit, reports
from medtx.stages import monitor as stages

flowkit.setup_logging()
TRAIN_FLOW = Path(__file__).resolve().with_name("train_flow.py")


@flowkit.project_from_config
@flowkit.schedule_from_config("monitor.schedule")
class MonitorFlow(FlowSpec):
    cfg = Config("cfg", default=flowkit.default_config(), parser="medtx.flowkit.config.parse_config")
    since = Parameter("since", default="", help="Window start (ISO, UTC). Empty: where the last "
                      "judged window ended, else monitor.window_hours before --until.")
    until = Parameter("until", default="", help="Window end (ISO, UTC). Empty: now.")
    version = Parameter("version", default="", help="Model version served (N, latest, approved). "
                        "Empty: the version named in the captured responses.")
    retrain = Parameter("retrain", default=False, type=bool, help="Locally, start TrainFlow "
                        "(Runner) when the retrain rule fires; on Argo the event does it.")
    overrides = Parameter(flowkit.SET_PARAMETER, type=str, multiple=True, help=flowkit.SET_HELP)

    @card(type="blank")
    @step
    def start(self):
        """Settings and the watched endpoint: its capture prefix and monitoring state."""
        cfg, self.config_overrides = flowkit.apply_set(self.cfg, self.overrides)
        self.settings = stages.resolve_settings(cfg)
        flowkit.record_set(self.config_overrides)
        self.target = stages.target_of(self.settings)
        flowkit.append_card(reports.settings_card(self.settings.to_dict(), self.config_overrides))
        self.next(self.window)

    @card(type="blank")
    @step
    def window(self):
        """Read the new capture records of the window (incremental) and describe them."""
        self.read = stages.read_window(self.settings, self.target, self.since, self.until, self.version)
        flowkit.append_card(reports.window_card(stages.window_summary(self.read)))
        self.next(self.drift)

    @card(type="blank")
    @step
    def drift(self):
        """Descriptor, input-distribution and prediction tests, FDR-controlled."""
        self.signals = stages.drift(self.read, self.settings)
        flowkit.append_card(reports.signals_card(stages.signal_dicts(self.signals), self.read.message))
        self.next(self.quality)

    @card(type="blank")
    @step
    def quality(self):
        """Accuracy, macro-F1, any-label accuracy against imported labels; the estimate."""
        self.quality_report = stages.quality(self.read, self.settings)
        flowkit.append_card([reports.quality_card(self.quality_report.current.to_dict())])
        self.next(self.decide)

    @card(type="blank")
    @step
    def decide(self):
        """Record the window, apply the retrain rule and, when it fires, publish or start it."""
        self.outcome, self.report = stages.record(self.read, self.signals, self.quality_report,
                                                  self.settings, current.pathspec)
        self.retrain_event = None
        if self.outcome.retrain_payload is not None:
            self.retrain_event = flowkit.start_retrain(
                self.outcome.retrain_payload, self.settings.monitor.retrain_event, self.cfg,
                TRAIN_FLOW, self.retrain)
        flowkit.append_card(reports.monitor_card(self.report))
        self.next(self.end)

    @step
    def end(self):
        """Say what the window showed and where monitor.json is."""
        print(reports.monitor_line(self.report, self.retrain_event), f"({self.outcome.report_path})")


if __name__ == "__main__":
    MonitorFlow()
