"""TrainFlow: notes in, a checked, evaluated and registered specialty classifier out.

    python flows/train_flow.py run                                   # built-in demo notes
    python flows/train_flow.py run --data notes.csv --labels spec12  # your data (path or s3://)
    python flows/train_flow.py --config cfg configs/dev.json run     # another environment

Every step is one call into the ``medtx`` library; cards show what each step saw.
"""
from metaflow import Config, FlowSpec, Parameter, card, config_expr, current, resources, step

from medtx import flowkit

flowkit.setup_logging()


class TrainFlow(FlowSpec):
    cfg = Config("cfg", default=flowkit.default_config(), parser="medtx.config.parse_config")
    data = Parameter(
        "data", default="",
        help="mtsamples-format CSV: local path or s3://bucket/key. Empty: config data.path, "
        "else the built-in synthetic demo set.",
    )
    labels = Parameter(
        "labels", default="",
        help="Label policy preset: all40 | spec12 | custom. Empty: config labels.preset.",
    )
    output_dir = Parameter(
        "output-dir", default=".medtx/runs",
        help="Where the end step writes <run_id>/model/, model.tar.gz and evaluation.json.",
    )

    @card(type="blank")
    @step
    def start(self):
        """Resolve settings (config + parameters) once; later steps read self.settings."""
        from medtx import reports
        from medtx.config import settings_from

        settings = settings_from(self.cfg)
        overrides = {"data": {"path": self.data}} if self.data else {}
        if self.labels:
            overrides["labels"] = {"preset": self.labels}
        self.settings = settings.with_overrides(**overrides) if overrides else settings
        flowkit.append_card(reports.settings_card(self.settings.to_dict()))
        self.next(self.ingest)

    @card(type="blank")
    @step
    def ingest(self):
        """Read the CSV (local or S3) or generate the demo set."""
        from medtx import reports
        from medtx.data.ingest import ingest

        self.raw, self.ingest_info = ingest(self.settings.data.path, self.settings)
        flowkit.append_card(reports.ingest_card(self.ingest_info.to_dict()))
        self.next(self.validate)

    @card(type="blank", id="validation")
    @card(type="blank", id="eda")
    @step
    def validate(self):
        """great-expectations suites from data_checks/; bad rows are quarantined, not dropped."""
        from medtx import reports
        from medtx.data import checks
        from medtx.data.labels import resolve_policy

        policy = resolve_policy(self.settings.labels)
        report = checks.validate(self.raw, self.settings, policy)
        self.notes, self.quarantine = report.notes, report.quarantine
        self.validation = report.summary()
        flowkit.append_card(reports.validation_card(self.validation, self.quarantine), "validation")
        eda = reports.eda_summary(
            self.raw, self.notes, self.settings.data.text_field, self.settings.data.label_field,
            source=self.ingest_info.source, is_demo=self.ingest_info.is_demo,
        )
        flowkit.append_card(reports.eda_card(eda), "eda")
        self.next(self.split)

    @card(type="blank")
    @step
    def split(self):
        """Group-aware split: identical notes never straddle train and test."""
        from medtx import reports
        from medtx.data.split import split_notes

        self.split_data = split_notes(self.notes, self.settings.split)
        self.split_summary = self.split_data.summary()
        flowkit.append_card(reports.split_card(self.split_summary))
        self.next(self.tokenize, self.baseline)

    @card(type="blank")
    @step
    def tokenize(self):
        """Fast tokenizer with the long-note strategy; cached by (data, tokenizer, strategy)."""
        from medtx import reports
        from medtx.stages import train as pipeline

        tok = self.tokenized = pipeline.tokenize(self.split_data, self.settings, flowkit.cache_dir("tokens"))
        flowkit.append_card(reports.tokenize_card(
            tok.strategy, {s: e.n_windows for s, e in tok.encoded.items()},
            {s: e.n_notes for s, e in tok.encoded.items()}, tok.source, tok.seconds,
        ))
        self.next(self.finetune)

    @flowkit.compute_backend
    @resources(
        gpu=config_expr("cfg.compute.gpu"), cpu=config_expr("cfg.compute.cpu"),
        memory=config_expr("cfg.compute.memory"),
    )
    @card(type="blank")
    @step
    def finetune(self):
        """Fine-tune the transformer (GPU when present; Batch/Kubernetes by compute.backend)."""
        from medtx import reports
        from medtx.stages import train as pipeline

        self.finetuned = pipeline.finetune(self.split_data, self.tokenized, self.settings, current.pathspec)
        flowkit.append_card(reports.training_card(self.finetuned.history, self.finetuned.best_epoch))
        self.next(self.evaluate)

    @card(type="blank")
    @step
    def baseline(self):
        """TF-IDF + linear model on the same split: the floor every model must beat."""
        from medtx.stages import train as pipeline

        self.baseline_scores = pipeline.baseline(self.split_data, self.settings)
        self.next(self.evaluate)

    @card(type="blank")
    @step
    def evaluate(self, inputs):
        """Model vs baseline on test; temperature fitted on validation; evaluation.json."""
        from medtx import reports
        from medtx.stages import train as pipeline

        self.merge_artifacts(inputs)
        meta = {
            "pathspec": current.pathspec, "data_sha256": self.ingest_info.sha256,
            "data_source": self.ingest_info.source, "is_demo": self.ingest_info.is_demo,
            "labels_policy": self.validation["policy"], "model": self.settings.model.name_or_path,
            "split": self.split_summary["sizes"],
        }
        self.evaluation, self.model_package = pipeline.evaluate(
            self.split_data, self.finetuned, self.baseline_scores, meta
        )
        flowkit.append_card(reports.evaluation_card(self.evaluation))
        self.next(self.register)

    @card(type="blank")
    @step
    def register(self):
        """Gate (thresholds, baseline margin, champion re-scored here) and register the model."""
        from medtx import reports
        from medtx.stages import train as pipeline
        from medtx.registry import current_actor

        lineage = {
            "pathspec": current.pathspec, "data_hash": self.tokenized.data_hash,
            "data_sha256": self.ingest_info.sha256, "git_commit": flowkit.git_commit(),
            "env": self.settings.env,
        }
        self.registered = pipeline.register(
            self.settings, self.model_package, self.evaluation, self.split_data, lineage, current_actor()
        )
        flowkit.tag_run(self.registered.tags)
        decision = self.registered.decision
        flowkit.append_card(reports.gate_card(
            decision, self.evaluation["model"], self.evaluation["baseline"], self.registered.champion
        ))
        self.next(self.end)

    @card(type="blank")
    @step
    def end(self):
        """Write the model package, model.tar.gz and evaluation.json; say where they are."""
        from medtx import reports
        from medtx.stages.export import export_run

        out = export_run(self.model_package, self.evaluation, self.output_dir, current.run_id)
        v = self.registered.version
        flowkit.append_card(reports.summary_card(v.to_dict(), self.evaluation, str(out)))
        print(
            f"TrainFlow/{current.run_id}: model {v.group} v{v.version} {v.status}; "
            f"test macro-F1 {self.evaluation['model']['macro_f1']:.3f} "
            f"(baseline {self.evaluation['baseline']['macro_f1']:.3f}); files in {out}"
        )


if __name__ == "__main__":
    TrainFlow()
