"""TrainFlow: notes in, a checked, evaluated and registered specialty classifier out.

    python flows/train_flow.py run [--data notes.csv|s3://...] [--labels spec12|all40|custom]
    python flows/train_flow.py --config cfg configs/dev.json run     # another environment
    python flows/train_flow.py run --set train.epochs=1 --set model.max_length=64   # one run's changes
Orchestration only: each step is one call into ``medtx.stages.train`` plus its card.
"""
from metaflow import Config, FlowSpec, Parameter, card, config_expr, current, resources, step

from medtx import flowkit, reports
from medtx.stages import train as stages

flowkit.setup_logging()


@flowkit.project_from_config
@flowkit.retrain_trigger
class TrainFlow(FlowSpec):
    cfg = Config("cfg", default=flowkit.default_config(), parser="medtx.flowkit.config.parse_config")
    data = Parameter("data", default="", help="mtsamples-format CSV: local path or s3://bucket/key. "
                     "Empty: config data.path, else the built-in synthetic demo set.")
    labels = Parameter("labels", default="", help="Label preset: all40 | spec12 | custom (empty: config).")
    retrain_request = Parameter(flowkit.RETRAIN_PARAMETER, default="", help="Set by a retrain "
                                "event (MonitorFlow): its JSON payload, recorded as triggered_by.")
    overrides = Parameter(flowkit.SET_PARAMETER, type=str, multiple=True, help=flowkit.SET_HELP)
    output_dir = Parameter("output-dir", default=".medtx/runs", help="Where the end step writes "
                           "<run_id>/model/, model.tar.gz and evaluation.json.")

    @card(type="blank")
    @step
    def start(self):
        """Resolve settings (config + --set + parameters) once; record what started the run."""
        cfg, self.config_overrides = flowkit.apply_set(self.cfg, self.overrides)
        self.settings = stages.resolve_settings(cfg, self.data, self.labels)
        flowkit.record_set(self.config_overrides)
        self.triggered_by = stages.triggered_by(self.retrain_request, getattr(current, "trigger", None))
        flowkit.append_card(reports.trigger_card(self.triggered_by.to_dict()))
        flowkit.append_card(reports.settings_card(self.settings.to_dict(), self.config_overrides))
        self.next(self.ingest)

    @card(type="blank")
    @step
    def ingest(self):
        """Read the CSV (local or S3) or generate the demo set."""
        self.raw, self.ingest_info = stages.ingest(self.settings)
        flowkit.append_card(reports.ingest_card(self.ingest_info.to_dict()))
        self.next(self.validate)

    @card(type="blank", id="validation")
    @card(type="blank", id="eda")
    @step
    def validate(self):
        """great-expectations suites from data_checks/; bad rows are quarantined, not dropped."""
        self.validation = stages.validate(self.raw, self.settings)
        v = self.validation
        flowkit.append_card(reports.validation_card(v.summary(), v.quarantine), "validation")
        flowkit.append_card(reports.eda_card_for(self.raw, v, self.ingest_info, self.settings.data), "eda")
        self.next(self.split)

    @card(type="blank")
    @step
    def split(self):
        """Group-aware split: identical notes never straddle train and test."""
        self.split_data = stages.split(self.validation, self.settings)
        flowkit.append_card(reports.split_card(self.split_data.summary()))
        self.next(self.tokenize, self.baseline)

    @card(type="blank")
    @step
    def tokenize(self):
        """Fast tokenizer with the long-note strategy; cached by (data, tokenizer, strategy)."""
        self.tokenized = stages.tokenize(self.split_data, self.settings, flowkit.cache_dir("tokens"))
        flowkit.append_card(reports.tokenize_card(self.tokenized))
        self.next(self.finetune)

    @flowkit.compute_backend
    @resources(gpu=config_expr("cfg.compute.gpu"), cpu=config_expr("cfg.compute.cpu"),
               memory=config_expr("cfg.compute.memory"))
    @card(type="blank")
    @step
    def finetune(self):
        """Fine-tune the transformer (GPU when present; Batch/Kubernetes by compute.backend)."""
        self.finetuned = stages.finetune(self.split_data, self.tokenized, self.settings, current.pathspec)
        flowkit.append_card(reports.training_card(self.finetuned.history, self.finetuned.best_epoch))
        self.next(self.evaluate)

    @card(type="blank")
    @step
    def baseline(self):
        """TF-IDF + linear model on the same split: the floor every model must beat."""
        self.baseline_scores = stages.baseline(self.split_data, self.settings)
        self.next(self.evaluate)

    @card(type="blank")
    @step
    def evaluate(self, inputs):
        """Model vs baseline on test (temperature fitted on validation); the package as registered."""
        self.merge_artifacts(inputs)
        self.evaluation = stages.evaluate(self.split_data, self.finetuned, self.baseline_scores,
                                          self.settings, self.ingest_info, self.validation, current.pathspec)
        self.model_package = stages.package(self.split_data, self.finetuned, self.evaluation, self.settings)
        flowkit.append_card(reports.evaluation_card(self.evaluation))
        self.next(self.register)

    @card(type="blank")
    @step
    def register(self):
        """Gate (thresholds, baseline margin, champion re-scored here) and register the model."""
        self.registered = stages.register(self.settings, self.evaluation, self.model_package,
                                          self.split_data, self.ingest_info, self.tokenized, current.pathspec)
        flowkit.tag_run(self.registered.tags)
        flowkit.append_card(reports.gate_card(self.registered, self.evaluation))
        self.next(self.end)

    @card(type="blank")
    @step
    def end(self):
        """Write the model package, model.tar.gz and evaluation.json; say where they are."""
        out = stages.export(self.model_package, self.evaluation, self.output_dir, current.run_id)
        flowkit.append_card(reports.summary_card(self.registered.version, self.evaluation, str(out)))
        print(reports.run_summary_line(current.run_id, self.registered.version, self.evaluation, out))


if __name__ == "__main__":
    TrainFlow()
