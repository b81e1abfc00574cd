"""The suites the pipeline runs, on the real Medical Transcriptions file (skipped if absent)."""
import pandas as pd
import pytest

from medtx.data.checks import validate
from medtx.data.labels import SPEC12_KEEP, SPEC12_MERGE, resolve_policy
from medtx.errors import DataValidationError

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def raw(real_data_path):
    frame = pd.read_csv(real_data_path)
    frame.insert(0, "row_id", range(len(frame)))
    return frame


def check(report, name):
    return next(c for c in report.checks if c.name == name)


def assert_counts_add_up(report, raw):
    c = report.counts
    assert c["rows_in"] == len(raw)
    assert c["rows_in"] == (c["notes_out"] + c["quarantined"] + c["excluded_by_policy"]
                            + c["duplicate_pairs_removed"])
    assert sum(report.label_counts.values()) == c["notes_out"] == len(report.notes)
    assert c["distinct_texts"] == report.notes["group"].nunique() <= c["notes_out"]


@pytest.mark.parametrize("preset, n_classes", [("spec12", 12), ("all40", 40)])
def test_transcriptions_pass_every_table_check(raw, settings, preset, n_classes):
    report = validate(raw, settings, resolve_policy(settings.labels, preset))
    assert all(c.passed for c in report.checks if c.level == "table")
    assert report.counts["classes"] == n_classes
    assert check(report, "leak_guard").observed < 0.01  # a few notes mention their specialty early
    assert check(report, "encoding_damage_frac").observed <= settings.data.max_encoding_damage_frac
    # the known traps: empty transcriptions are quarantined, repeated texts carry several labels
    assert (report.quarantine["reason"] == "empty_text").sum() == raw["transcription"].isna().sum()
    assert report.counts["label_conflict_texts"] > 0
    assert_counts_add_up(report, raw)


def test_spec12_keeps_only_its_classes(raw, settings):
    report = validate(raw, settings, resolve_policy(settings.labels, "spec12"))
    expected = set(SPEC12_KEEP) - set(SPEC12_MERGE)
    assert set(report.label_counts) == expected
    assert report.counts["merged"] > 0 and report.counts["excluded_by_policy"] > 0


def test_keywords_as_text_trips_the_leak_guard(raw, settings):
    leaky = settings.with_overrides(data={"text_field": "keywords"})
    with pytest.raises(DataValidationError) as err:
        validate(raw, leaky, resolve_policy(settings.labels, "all40"))
    assert "leak_guard" in err.value.failed
