"""The local CPU recipe on the real spec12 task, stage by stage (slow tier: ~10 minutes).

Run with `make test-slow`. It holds the shipped local profile to a quality floor and checks
that the packaged model predicts exactly what evaluation scored.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.real_data]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Overrides the tests/model fixture of that name: a real model trains on every core."""
    yield


def test_local_profile_on_real_spec12(real_data_path, settings, tmp_path):
    from medtx.data.prepare import prepare
    from medtx.modeling.package import package_from_bytes
    from medtx.modeling.predictor import Predictor
    from medtx.stages import train as stages

    settings = settings.with_overrides(labels={"preset": "spec12"})  # the shipped local profile's task
    prepared = prepare(settings, source=str(real_data_path))
    split = prepared.split
    tok = stages.tokenize(split, settings, tmp_path / "cache")
    ft = stages.finetune(split, tok, settings, "test/1/finetune/1")
    base = stages.baseline(split, settings)
    doc, package = stages.evaluate(split, ft, base, settings, prepared.info, prepared.report,
                                   "test/1/evaluate/1")

    assert len(split.labels) == 12 and doc.model.n == len(split.test)
    assert doc.model.macro_f1 >= 0.55  # measured 0.65 with configs/local.json
    assert doc.baseline.macro_f1 >= 0.70  # measured 0.76
    assert doc.model.ece_after <= doc.model.ece_before

    with tempfile.TemporaryDirectory() as tmp:
        predictor = Predictor.load(package_from_bytes(package, Path(tmp) / "model"))
        sample = list(split.test["text"][:16])
        predicted = predictor.predict_proba(sample).argmax(axis=1)
    assert np.array_equal(predicted, ft.test_logits[:16].argmax(axis=1))
