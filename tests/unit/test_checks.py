"""Validation stage on small synthetic frames: table checks fail the run, row checks quarantine."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from medtx.config import LabelSettings
from medtx.data.checks import note_group, suite_path, validate
from medtx.data.labels import resolve_policy
from medtx.data.redact import redact_preview
from medtx.errors import ConfigError, DataValidationError

CLASSES = ("Cardiovascular / Pulmonary", "Orthopedic", "Neurology")
TOPICS = {"Cardiovascular / Pulmonary": "chest pain and dyspnea on exertion",
          "Orthopedic": "a twisted knee with joint line tenderness",
          "Neurology": "recurrent headaches with visual aura"}
COLUMNS = ["Unnamed: 0", "description", "medical_specialty", "sample_name", "transcription",
           "keywords"]


def note(label, i):
    return (f"HISTORY OF PRESENT ILLNESS: the patient reports {TOPICS[label]} for {i + 2} weeks; "
            f"examination and plan were discussed at visit {i}.")


def make_raw(per_class=4, classes=CLASSES, extra=()):
    """A mtsamples-like raw frame (as ingest returns it) plus `extra` (text, label) rows."""
    rows = [(note(c, i), " " + c) for c in classes for i in range(per_class)] + list(extra)
    frame = pd.DataFrame({
        "Unnamed: 0": [str(i) for i in range(len(rows))],
        "description": [f"Sample {i}." for i in range(len(rows))],
        "medical_specialty": pd.Series([lab for _, lab in rows], dtype="str"),
        "sample_name": [f"Sample {i}" for i in range(len(rows))],
        "transcription": pd.Series([text for text, _ in rows], dtype="str"),
        "keywords": [f"{str(lab).strip().lower()}, visit, plan" for _, lab in rows],
    })
    frame.insert(0, "row_id", range(len(frame)))
    return frame


@pytest.fixture
def all40(settings):
    return resolve_policy(settings.labels, "all40")


def assert_nothing_lost(report):
    c = report.counts
    assert c["rows_in"] == (c["notes_out"] + c["quarantined"] + c["excluded_by_policy"]
                            + c["duplicate_pairs_removed"])
    assert c["notes_out"] == len(report.notes) and c["quarantined"] == len(report.quarantine)


def test_clean_frame_passes_and_builds_the_notes_frame(settings, all40):
    report = validate(make_raw(), settings, all40)
    assert all(c.passed for c in report.checks)
    assert list(report.notes.columns) == ["note_id", "text", "label", "group"]
    assert report.notes["note_id"].tolist()[:2] == ["r0", "r1"]
    assert (report.notes["group"] == report.notes["text"].map(note_group)).all()
    assert report.label_counts == {c: 4 for c in sorted(CLASSES)}
    assert report.counts["classes"] == 3 and report.quarantine.empty
    json.dumps(report.summary())  # no DataFrames, no numpy scalars


@pytest.mark.parametrize("missing", [["transcription"], ["transcription", "medical_specialty"]])
def test_missing_required_column_is_named(settings, all40, missing):
    raw = make_raw().drop(columns=missing)
    with pytest.raises(DataValidationError) as err:
        validate(raw, settings, all40)
    assert err.value.failed == ["required_columns"]
    for column in missing:
        assert repr(column) in str(err.value)


def test_header_only_frame_fails(settings, all40):
    with pytest.raises(DataValidationError) as err:
        validate(make_raw().iloc[0:0], settings, all40)
    assert err.value.failed == ["min_rows"]


def test_empty_notes_are_quarantined_and_counted(settings, all40):
    raw = make_raw(extra=[("", " Neurology"), (np.nan, " Orthopedic"), ("   \n ", " Neurology")])
    report = validate(raw, settings, all40)
    q = report.quarantine
    assert sorted(q["row_id"]) == [12, 13, 14]
    assert set(q["reason"]) == {"empty_text"} and (q["n_chars"] == 0).all()
    assert report.counts["quarantined"] == 3 and report.counts["notes_out"] == 12
    check = next(c for c in report.checks if c.name == "empty_text")
    assert check.level == "row" and check.unexpected == 3 and not check.passed
    assert_nothing_lost(report)


def test_a_row_failing_several_checks_is_quarantined_once_with_the_first_reason(settings, all40):
    raw = make_raw(extra=[("", ""), ("Short \ufffd", "")])  # empty+unlabelled; unlabelled+damaged+short
    report = validate(raw, settings.with_overrides(data={"max_encoding_damage_frac": 0.2}), all40)
    assert report.quarantine["reason"].tolist() == ["empty_text", "missing_label"]
    assert next(c for c in report.checks if c.name == "missing_label").unexpected == 2


@pytest.mark.parametrize("preset", ["all40", "spec12"])
def test_every_input_row_is_accounted_for(settings, preset):
    extra = [("", " Neurology"), ("too short", " Neurology"), (note("Neurology", 0), " Surgery"),
             (note("Neurology", 1), " Neurology"), (note("Orthopedic", 9), ""),
             (note("Orthopedic", 8), " Letters"), (note("Orthopedic", 8) + " x", " Letters")]
    raw = make_raw(extra=extra)
    raw = pd.concat([raw, raw.iloc[[3]].assign(row_id=len(raw))], ignore_index=True)
    policy = resolve_policy(LabelSettings(preset=preset, min_samples=3))  # drops Letters, Surgery
    report = validate(raw, settings, policy)
    assert report.counts["excluded_by_policy"] > 0 and report.counts["duplicate_pairs_removed"] > 0
    assert_nothing_lost(report)
    seen = set(report.quarantine["row_id"]) | {int(n[1:]) for n in report.notes["note_id"]}
    assert seen <= set(raw["row_id"])
    assert not set(report.quarantine["note_id"]) & set(report.notes["note_id"])


def test_duplicate_rows_are_quarantined_first_copy_kept(settings, all40):
    raw = make_raw()
    raw = pd.concat([raw, raw.iloc[[1, 1]]], ignore_index=True).assign(row_id=range(len(raw) + 2))
    report = validate(raw, settings, all40)
    q = report.quarantine
    assert q["row_id"].tolist() == [12, 13] and set(q["reason"]) == {"duplicate_row"}
    assert "r1" in set(report.notes["note_id"])
    assert_nothing_lost(report)


def test_same_text_under_two_labels_is_kept_repeated_pair_is_removed(settings, all40):
    text = note("Neurology", 0)
    also_surgery = [(note("Neurology", i), " Surgery") for i in range(3)]
    raw = make_raw(extra=also_surgery + [(text, " Neurology")])  # rows differ in other columns
    report = validate(raw, settings, all40)
    assert report.quarantine.empty
    assert report.counts["duplicate_pairs_removed"] == 1
    assert report.counts["label_conflict_texts"] == 3
    assert sorted(report.notes.loc[report.notes["group"] == note_group(text), "label"]) == [
        "Neurology", "Surgery"]
    assert_nothing_lost(report)


def test_huge_and_tiny_notes_are_quarantined(settings, all40):
    huge = "Findings 12 mm. " * 312_500  # 5 MB
    raw = make_raw(extra=[(huge, " Neurology"), ("Seen.", " Neurology")])
    report = validate(raw, settings, all40)
    q = report.quarantine.set_index("row_id")
    assert q.loc[12, "reason"] == "too_long" and q.loc[12, "n_chars"] == len(huge.strip())
    assert q.loc[13, "reason"] == "too_short"
    assert (q["preview"].str.len() <= 40).all()


def test_length_limits_come_from_settings(settings, all40):
    raw = make_raw(per_class=5)
    limit = int(raw["transcription"].str.len().median())
    report = validate(raw, settings.with_overrides(data={"min_chars": limit}), all40)
    short = raw.loc[raw["transcription"].str.len() < limit, "row_id"]
    assert sorted(report.quarantine["row_id"]) == sorted(short) and len(short) > 0
    assert set(report.quarantine["reason"]) == {"too_short"}


def test_unknown_label_fails_a_strict_policy(settings):
    raw = make_raw(extra=[(note("Neurology", 7), " Astrology")])
    strict = resolve_policy(LabelSettings(preset="all40", strict=True))
    with pytest.raises(DataValidationError) as err:
        validate(raw, settings, strict)
    assert err.value.failed == ["known_labels"] and "Astrology" in str(err.value)
    lenient = validate(raw, settings, resolve_policy(LabelSettings(preset="spec12")))
    assert lenient.counts["excluded_by_policy"] == 1  # excluded and counted, not an error


def test_leak_guard_trips_on_a_keywords_like_field(settings, all40):
    with pytest.raises(DataValidationError) as err:
        validate(make_raw(), settings.with_overrides(data={"text_field": "keywords",
                                                           "min_chars": 5}), all40)
    assert err.value.failed == ["leak_guard"] and "1.0" in str(err.value)


def test_leak_guard_ignores_a_label_word_later_in_the_note(settings, all40):
    late = [(note("Orthopedic", i) + " Referred to orthopedic clinic.", " Orthopedic")
            for i in range(9)]
    report = validate(make_raw(extra=late), settings, all40)
    assert next(c for c in report.checks if c.name == "leak_guard").observed == 0.0


def test_encoding_damage_quarantines_rows_below_threshold_and_fails_above(settings, all40):
    damaged = [(note("Neurology", 20) + " caf\u00c3\u00a9", " Neurology")]
    raw = make_raw(per_class=8, extra=damaged)  # 1 of 25 rows = 0.04
    lenient = settings.with_overrides(data={"max_encoding_damage_frac": 0.05})
    report = validate(raw, lenient, all40)
    assert report.quarantine[["row_id", "reason"]].values.tolist() == [[24, "encoding_damage"]]
    with pytest.raises(DataValidationError) as err:
        validate(raw, settings.with_overrides(data={"max_encoding_damage_frac": 0.01}), all40)
    assert err.value.failed == ["encoding_damage_frac"] and "0.04" in str(err.value)


def test_replacement_character_counts_as_damage(settings, all40):
    raw = make_raw(per_class=8, extra=[(note("Neurology", 30) + " \ufffd", " Neurology")])
    report = validate(raw, settings.with_overrides(data={"max_encoding_damage_frac": 0.1}), all40)
    assert report.quarantine["reason"].tolist() == ["encoding_damage"]


def test_class_with_too_few_notes_is_named(settings, all40):
    raw = make_raw(extra=[(note("Neurology", i), " Dentistry") for i in (40, 41)])
    with pytest.raises(DataValidationError) as err:
        validate(raw, settings, all40)
    assert err.value.failed == ["min_notes_per_class"] and "Dentistry" in str(err.value)


def test_min_samples_drops_small_classes_before_the_class_check(settings):
    raw = make_raw(extra=[(note("Neurology", 40), " Dentistry")])
    policy = resolve_policy(LabelSettings(preset="all40", min_samples=3))
    report = validate(raw, settings, policy)
    assert "Dentistry" not in report.label_counts and report.counts["excluded_by_policy"] == 1
    assert_nothing_lost(report)


def test_a_single_class_fails(settings, all40):
    with pytest.raises(DataValidationError) as err:
        validate(make_raw(classes=("Neurology",)), settings, all40)
    assert "min_classes" in err.value.failed


def test_preview_has_no_digits_and_no_names(settings, all40):
    text = ("Mr. John Smith, a 45-year-old, was seen on 03/12/2019 by Dr. Alice Brown "
            "for HEADACHE.")
    report = validate(make_raw(extra=[(text, "")]), settings, all40)
    preview = report.quarantine["preview"].iloc[0]
    assert report.quarantine["reason"].iloc[0] == "missing_label"
    assert 0 < len(preview) <= 40 and not re.search(r"\d", preview)
    for name in ("John", "Smith", "Alice", "Brown"):
        assert name not in preview


def test_redaction_keeps_section_headers_and_lower_case_words():
    assert redact_preview("HISTORY OF PRESENT ILLNESS: Jane Doe fell") == (
        "HISTORY OF PRESENT ILLNESS: J. D. fell")
    assert redact_preview("BP 120/80, O'Brien") == "BP ###/##, O."
    assert redact_preview(float("nan")) == ""


def test_error_messages_carry_no_note_text(settings, all40):
    raw = make_raw(extra=[(note("Neurology", 40), " Dentistry")] * 2)
    with pytest.raises(DataValidationError) as err:
        validate(raw, settings, all40)
    assert "headaches" not in str(err.value) and "HISTORY" not in str(err.value)


def test_suites_are_files_that_say_why_each_check_exists():
    """Each check documents itself in its suite: a reason, a level and, for a table check that
    stops the run, what to do about it. Names are unique across suites, since a quarantine reason
    or a DataValidationError names one check."""
    import great_expectations as gx

    names = []
    for name in ("schema", "rows", "table", "classes"):
        suite = gx.ExpectationSuite(**json.loads(suite_path(name).read_text()))  # as GX loads it
        assert suite.expectations
        for expectation in suite.expectations:
            meta = expectation.meta
            assert meta["name"] and meta["reason"].strip() and meta["level"] in ("row", "table")
            if meta["level"] == "table":
                assert meta["action"].strip(), meta["name"]
            names.append(meta["name"])
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_a_suite_check_that_cannot_run_is_a_config_error(settings, all40, tmp_path, monkeypatch):
    from pathlib import Path

    import medtx.data.checks as checks

    broken = tmp_path / "rows.json"
    broken.write_text(json.dumps({"name": "rows", "expectations": [{
        "type": "expect_column_values_to_not_be_null", "kwargs": {"column": "_no_such_column"},
        "meta": {"name": "empty_text", "level": "row", "reason": "test"}}]}))
    real = checks.suite_path
    monkeypatch.setattr(checks, "suite_path",
                        lambda name: broken if name == "rows" else Path(real(name)))
    with pytest.raises(ConfigError, match="empty_text"):
        validate(make_raw(), settings, all40)
