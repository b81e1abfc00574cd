"""The built-in demo set: mtsamples layout, realistic traps, deterministic, not trivially easy."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from medtx.config import DataSettings
from medtx.data.demo import COLUMNS, DEMO_NOTICE, _lines, _pools, make_demo_notes, write_demo_csv
from medtx.data.demo_pools import SHARED, SPEC_TMPL
from medtx.data.labels import SPEC12_KEEP, LabelPolicy, clean_label
from medtx.errors import ConfigError

CLINIC = ("CHIEF COMPLAINT:", "HISTORY OF PRESENT ILLNESS:", "PHYSICAL EXAMINATION:",
          "ASSESSMENT:", "PLAN:")
PROCEDURE = ("PREOPERATIVE DIAGNOSIS:", "PROCEDURE PERFORMED:", "FINDINGS:")
IMAGING = ("EXAM:", "FINDINGS:", "IMPRESSION:")


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return make_demo_notes()


@pytest.fixture(scope="module")
def texts(demo) -> pd.DataFrame:
    """Non-empty rows with stripped labels."""
    rows = demo[demo["transcription"].notna()]
    return rows.assign(y=rows["medical_specialty"].map(clean_label))


def test_layout_matches_mtsamples(demo):
    assert list(demo.columns) == list(COLUMNS)
    assert len(demo) == DataSettings().demo_notes == 600
    assert demo["Unnamed: 0"].tolist() == list(range(len(demo)))
    assert demo["medical_specialty"].str.startswith(" ").all()
    assert demo["description"].str.startswith(" ").all()
    assert demo["sample_name"].str.endswith(" ").all()


def test_specialties_come_from_spec12_plus_a_few_surgery_rows(demo):
    labels = demo["medical_specialty"].map(clean_label)
    counts = labels.value_counts()
    assert set(labels) <= set(SPEC12_KEEP) | {"Surgery"}
    assert len(set(labels) - {"Surgery"}) >= 8
    assert {"Neurosurgery", "Nephrology", "Surgery"} <= set(labels)
    assert 5 <= counts["Surgery"] <= 40


def test_keywords_start_with_the_label_like_the_real_file(texts):
    for label, keywords in zip(texts["y"], texts["keywords"]):
        assert keywords.startswith(label.lower() + ", ")


def test_empty_transcriptions_are_about_one_percent(demo):
    empty = demo["transcription"].isna()
    assert 0.005 <= empty.mean() <= 0.02
    assert demo.loc[empty, "keywords"].isna().all()


def test_notes_have_sections_and_realistic_lengths(texts):
    words = texts["transcription"].str.split().str.len()
    assert words.between(120, 750).all()
    assert words.median() > 250
    for text in texts["transcription"]:
        assert any(all(h in text for h in kind) for kind in (CLINIC, PROCEDURE, IMAGING))


def test_some_identical_notes_carry_a_second_label(texts):
    per_text = texts.groupby("transcription")["y"].nunique()
    multi = per_text[per_text > 1]
    assert 0.015 <= len(multi) / len(texts) <= 0.05
    surgery = texts[texts["y"] == "Surgery"]
    assert (per_text[surgery["transcription"]] > 1).all()  # every Surgery note is a repeat


def test_spec12_policy_merges_and_excludes(texts):
    policy = LabelPolicy(name="spec12", keep=frozenset(SPEC12_KEEP),
                         merge={"Neurosurgery": "Neurology", "Nephrology": "Urology"})
    classes = texts["y"].map(policy.apply)
    assert classes.isna().sum() == (texts["y"] == "Surgery").sum() > 0
    assert "Neurosurgery" not in set(classes.dropna()) and "Neurology" in set(classes.dropna())
    assert classes.dropna().nunique() >= 8


def test_notes_do_not_open_with_their_own_label(texts):
    for text, label in zip(texts["transcription"], texts["y"]):
        head = " ".join(text[:240].lower().split())[:60]
        assert re.search(r"(?<!\w)" + re.escape(label.lower()) + r"(?!\w)", head) is None


def test_same_seed_gives_the_same_frame_and_another_seed_differs(demo):
    pd.testing.assert_frame_equal(make_demo_notes(seed=0), demo)
    other = make_demo_notes(seed=1)
    assert not other["transcription"].equals(demo["transcription"])
    assert len(other) == len(demo)


def test_wrapped_pool_lines_parse_into_clean_entries():
    """Long pools wrap onto indented lines; joined back, every entry is whole and unpadded."""
    pools = _pools()
    assert len(pools) == 12
    for name, pool in pools.items():
        assert set(pool) == {"w", "near", *"CDPFMT"}, name
        assert set(pool["near"]) <= set(pools), name
    entry_lists = [v for pool in pools.values() for k, v in pool.items() if k not in ("w", "near")]
    entry_lists += [*_lines(SHARED).values(), *_lines(SPEC_TMPL).values()]
    for entries in entry_lists:
        assert all(e and e == e.strip() and "\n" not in e for e in entries), entries
    assert set(_lines(SHARED)) == {"pmh", "med", "soc", "job", "hx", "gen", "img", "plan", "open", "op"}


def test_size_is_configurable_and_checked():
    assert len(make_demo_notes(n=100, seed=3)) == 100
    with pytest.raises(ConfigError, match="at least"):
        make_demo_notes(n=5)


def test_csv_round_trip_reads_like_the_real_file(tmp_path, demo):
    path = write_demo_csv(tmp_path / "sub" / "demo.csv")
    assert path.read_text(encoding="utf-8").startswith(",description,medical_specialty,")
    back = pd.read_csv(path)
    pd.testing.assert_frame_equal(back, demo, check_dtype=False)


def test_a_linear_baseline_learns_it_but_not_perfectly(texts):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(texts, test_size=0.3, random_state=0)
    vec = TfidfVectorizer(sublinear_tf=True, min_df=2)
    model = LogisticRegression(max_iter=2000).fit(vec.fit_transform(train["transcription"]),
                                                  train["y"])
    accuracy = (model.predict(vec.transform(test["transcription"])) == test["y"]).mean()
    assert 0.6 < accuracy < 0.97


def test_notice_says_synthetic():
    assert "synthetic" in DEMO_NOTICE and "not real clinical data" in DEMO_NOTICE


def test_validation_quarantines_exactly_the_empty_rows(demo, settings):
    from medtx.data.checks import validate
    from medtx.data.labels import resolve_policy

    report = validate(demo.assign(row_id=range(len(demo))), settings,
                      resolve_policy(settings.labels, "spec12"))
    assert set(report.quarantine["reason"]) == {"empty_text"}
    assert len(report.quarantine) == int(demo["transcription"].isna().sum())
    assert report.counts["excluded_by_policy"] > 0  # the Surgery rows
    assert report.counts["classes"] >= 8
