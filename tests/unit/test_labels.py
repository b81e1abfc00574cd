import pytest

from medtx.config import LabelSettings
from medtx.data.labels import MTSAMPLES_LABELS, clean_label, resolve_policy
from medtx.errors import ConfigError


def test_clean_label_strips_and_handles_missing():
    assert clean_label(" Surgery ") == "Surgery"
    assert clean_label(float("nan")) == ""
    assert clean_label(None) == ""


def test_spec12_keeps_merges_and_excludes():
    p = resolve_policy(LabelSettings(preset="spec12"))
    assert p.apply("Neurosurgery") == "Neurology"
    assert p.apply("Nephrology") == "Urology"
    assert p.apply("Orthopedic") == "Orthopedic"
    assert p.apply("Surgery") is None
    targets = {p.apply(label) for label in MTSAMPLES_LABELS} - {None}
    assert len(targets) == 12


def test_all40_keeps_every_label():
    p = resolve_policy(LabelSettings(preset="all40"))
    assert {p.apply(label) for label in MTSAMPLES_LABELS} == set(MTSAMPLES_LABELS)
    assert p.apply("") is None


def test_custom_keep_drop_merge():
    p = resolve_policy(
        LabelSettings(preset="custom", keep=["Urology", "Nephrology"], merge={"Nephrology": "Renal"},
                      drop=["Urology"])
    )
    assert p.apply("Nephrology") == "Renal"
    assert p.apply("Urology") is None
    assert p.apply("Radiology") is None


def test_strict_knows_only_declared_labels():
    p = resolve_policy(LabelSettings(preset="all40", strict=True))
    assert p.is_known("Surgery")
    assert not p.is_known("Astrology")


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown label preset 'spec13'"):
        resolve_policy(LabelSettings(), preset="spec13")
