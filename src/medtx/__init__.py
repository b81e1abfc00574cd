"""medtx: MLOps for clinical text.

The library is one package per stage; data flows one way and a lower package never imports
a higher one::

    errors, config      typed settings from configs/<env>.json (pydantic), paths, errors
    clock, sqlitedb     the stores' timestamps and the one way they open SQLite files
    aws                 sessions per account (assumed roles, refreshed), S3 helpers
    data                ingest -> checks (great-expectations, quarantine) -> split; demo set
    modeling            pretrained sources, features, training loop, inference, baseline,
                        model packages, the predictor
    evaluation          metrics, calibration, ceiling, scoring, the evaluation document, gate
    registry            the contract, local (SQLite) and SageMaker backends, model references
    serving             the SageMaker-contract inference server, micro-batcher, data capture;
                        ``serving.contract``: headers, id prefixes, endpoint names both sides use
    deploy              endpoint targets (local blue/green, SageMaker), smoke tests, batch
    stages              one function per flow step, returning frozen artifacts
    reports, flowkit    Metaflow cards and flow helpers (the only code that knows Metaflow,
                        besides the rehearsal that runs the flows)
    rehearsal           ``medtx pipeline``: the whole loop on one machine, synthetic traffic
    cli                 the ``medtx`` command, one module per verb group

Flows in ``flows/`` only orchestrate: one call into ``medtx.stages`` per step, plus its card.
"""
__version__ = "0.1.0"
