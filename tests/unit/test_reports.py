"""Data-stage cards: what they show (counts, checks, redacted previews) and what they never show."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from medtx.data.demo import DEMO_NOTICE
from medtx.data.redact import PREVIEW_CHARS
from medtx.reports.data import MAX_EXAMPLES, eda_card, eda_summary, split_card, top_terms, validation_card

SECRET = "Zebediah Quux-Whitfield"  # stands in for note text that must never reach a card

CARDIO = ["Chest pain with coronary stenosis and a cardiac murmur.",
          "Cardiac catheterization showed coronary disease; murmur noted.",
          "Coronary artery disease, cardiac echo, murmur and chest pain.",
          "Follow-up of coronary stent; cardiac rhythm regular, soft murmur."]
ORTHO = ["Knee pain after a fall; meniscus tear on exam of the knee.",
         "Arthroscopy of the knee for a meniscus tear and cartilage wear.",
         "Right knee swelling, meniscus injury, cartilage thinning.",
         f"Left knee meniscus repair planned; patient {SECRET} agrees."]


def _rendered(components: list) -> list[dict]:
    out = [c.render() for c in components]
    assert {r["type"] for r in out} <= {"markdown", "table", "vegaChart"}  # no render errors
    return out


def _text(components: list) -> str:
    return json.dumps(_rendered(components))


def _notes(texts: list[str], labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"note_id": [f"r{i}" for i in range(len(texts))], "text": texts,
                         "label": labels, "group": [str(hash(t.lower())) for t in texts]})


@pytest.fixture()
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    texts = CARDIO + ORTHO + [CARDIO[0], np.nan]
    labels = [" Cardiology"] * 4 + [" Orthopedic"] * 4 + [" Surgery", " Orthopedic"]
    raw = pd.DataFrame({"transcription": texts, "medical_specialty": labels,
                        "row_id": range(len(texts))})
    notes = _notes(CARDIO + ORTHO + [CARDIO[0]], ["Cardiology"] * 4 + ["Orthopedic"] * 4
                   + ["Orthopedic"])
    return raw, notes


@pytest.fixture()
def summary(frames) -> dict:
    raw, notes = frames
    return eda_summary(raw, notes, "transcription", "medical_specialty", top_k=5,
                       source="demo://medtx", is_demo=True)


def test_eda_summary_counts(summary):
    json.dumps(summary)  # JSON-serialisable
    assert summary["raw_class_counts"] == {"Cardiology": 4, "Orthopedic": 5, "Surgery": 1}
    assert summary["class_counts"] == {"Cardiology": 4, "Orthopedic": 5}
    assert summary["rows"] == 10 and summary["empty_texts"] == 1
    assert summary["duplicate_text_rows"] == 1
    assert summary["label_conflict_texts"] == 1  # CARDIO[0] is both classes
    hist = summary["length_words"]
    assert sum(b["count"] for b in hist["bins"]) == hist["n"] == 9
    assert hist["stats"]["min"] <= hist["stats"]["median"] <= hist["stats"]["max"]


def test_top_terms_come_from_their_class_without_stopwords_or_rare_words(summary):
    cardio = [t for t, _ in summary["top_terms"]["Cardiology"]]
    ortho = [t for t, _ in summary["top_terms"]["Orthopedic"]]
    assert {"coronary", "cardiac", "murmur"} <= set(cardio)
    assert {"knee", "meniscus"} <= set(ortho)
    assert not set(cardio) & {"knee", "meniscus"} and not set(ortho) & {"coronary", "murmur"}
    everything = cardio + ortho
    assert not set(everything) & {"the", "and", "with", "of", "a"}
    assert "zebediah" not in everything and "whitfield" not in everything  # one note only


def test_top_terms_handle_tiny_vocabularies():
    out = top_terms(_notes(["Knee.", "Eye."], ["A", "B"]), top_k=3)
    assert out == {"A": [], "B": []}


def test_demo_banner_only_for_demo_data(summary):
    demo_text = _text(eda_card(summary))
    assert "DEMO DATA" in demo_text and DEMO_NOTICE in demo_text
    real_text = _text(eda_card(dict(summary, is_demo=False, source="s3://bucket/notes.csv")))
    assert "DEMO DATA" not in real_text and DEMO_NOTICE not in real_text
    assert "s3://bucket/notes.csv" in real_text


def test_eda_card_shows_charts_classes_and_terms(summary):
    rendered = _rendered(eda_card(summary))
    charts = [r["spec"] for r in rendered if r["type"] == "vegaChart"]
    assert len(charts) == 2
    classes = {row["class"]: row["notes"] for row in charts[0]["data"]["values"]}
    assert classes == {"Cardiology": 4, "Orthopedic": 5}
    tables = [r for r in rendered if r["type"] == "table"]
    term_table = next(t for t in tables if t["columns"] == ["Class", "Top words"])
    row = next(r for r in term_table["data"] if r[0] == "Orthopedic")
    assert "knee" in row[1]
    assert SECRET not in json.dumps(rendered)


def _report_summary(failed_table: bool = False) -> dict:
    checks = [
        {"name": "required_columns", "reason": "columns must exist", "level": "table",
         "passed": True, "unexpected": 0, "observed": [], "details": "all present"},
        {"name": "empty_text", "reason": "nothing to learn from", "level": "row",
         "passed": False, "unexpected": 30, "observed": 0.03, "details": "30 of 1000 rows"},
        {"name": "too_short", "reason": "fragments", "level": "row", "passed": False,
         "unexpected": 5, "observed": 0.005, "details": "5 of 1000 rows"},
        {"name": "leak_guard", "reason": "label up front", "level": "table",
         "passed": not failed_table, "unexpected": 0, "observed": {"frac": 0.5},
         "details": "observed 0.5, allowed [0.0, 0.3]"},
    ]
    return {"checks": checks,
            "counts": {"rows_in": 1000, "quarantined": 35, "excluded_by_policy": 120,
                       "notes_out": 845},
            "label_counts": {"Neurology": 400, "Urology": 445},
            "policy": {"name": "spec12", "merge": {"Nephrology": "Urology"}},
            "quarantine_reasons": {"empty_text": 30, "too_short": 5}}


def _quarantine() -> pd.DataFrame:
    reasons = ["empty_text"] * 30 + ["too_short"] * 5
    return pd.DataFrame({
        "row_id": range(35), "note_id": [f"r{i}" for i in range(35)], "reason": reasons,
        "label": ["Neurology"] * 35, "n_chars": [0] * 30 + [12] * 5,
        "preview": [""] * 30 + ["S. N. #/# see above " + "x" * 80] * 5,
        "text": [f"{SECRET} full note text {i}" for i in range(35)],  # must not be shown
    })


def test_validation_card_lists_every_check_and_count():
    summary = _report_summary()
    text = _text(validation_card(summary, _quarantine()))
    for check in summary["checks"]:
        assert check["name"] in text and check["reason"] in text and check["details"] in text
    for key in summary["counts"]:
        assert key in text
    assert "all table checks passed" in text and "FAIL" not in text
    assert "fail: rows quarantined" in text  # row checks that flagged rows


def test_validation_card_flags_failed_table_checks():
    rendered = _rendered(validation_card(_report_summary(failed_table=True), _quarantine()))
    assert "table checks failed: leak_guard" in json.dumps(rendered)
    checks = next(r for r in rendered if r["type"] == "table" and r["columns"][0] == "Check")
    results = {row[0]: row[2] for row in checks["data"]}
    assert results == {"required_columns": "pass", "empty_text": "fail: rows quarantined",
                       "too_short": "fail: rows quarantined", "leak_guard": "FAIL"}


def test_quarantine_tables_show_reasons_and_only_redacted_previews():
    rendered = _rendered(validation_card(_report_summary(), _quarantine()))
    assert SECRET not in json.dumps(rendered)
    tables = [r for r in rendered if r["type"] == "table"]
    by_reason = next(t for t in tables if t["columns"] == ["Reason", "Rows"])
    assert by_reason["data"] == [["empty_text", 30], ["too_short", 5]]
    examples = next(t for t in tables if "Preview (redacted)" in t["columns"])
    assert examples["columns"] == ["Row", "Reason", "Label", "Characters", "Preview (redacted)"]
    assert len(examples["data"]) == MAX_EXAMPLES
    assert {row[1] for row in examples["data"]} == {"empty_text", "too_short"}
    assert all(len(row[4]) <= PREVIEW_CHARS for row in examples["data"])


def test_validation_card_without_quarantined_rows():
    summary = _report_summary()
    summary["quarantine_reasons"] = {}
    empty = _quarantine().iloc[0:0]
    text = _text(validation_card(summary, empty))
    assert "Quarantined rows: 0" in text and "Preview (redacted)" not in text


def _split_summary(leak: int = 0) -> dict:
    return {"sizes": {"train": 70, "val": 15, "test": 15},
            "groups": {"train": 68, "val": 15, "test": 15},
            "class_counts": {"train": {"A": 40, "B": 30}, "val": {"A": 8, "B": 7},
                             "test": {"A": 9, "B": 6}},
            "overlap": {"train_val": 0, "train_test": leak, "val_test": 0},
            "seed": 42, "test_multi_label_notes": 3}


def test_split_card_sizes_counts_and_overlap_proof():
    rendered = _rendered(split_card(_split_summary()))
    text = json.dumps(rendered)
    assert "seed 42" in text and "no note text is shared" in text and "LEAK" not in text
    tables = [r for r in rendered if r["type"] == "table"]
    sizes = next(t for t in tables if t["columns"][0] == "Side")
    assert [row[:3] for row in sizes["data"]] == [["train", 70, 68], ["val", 15, 15],
                                                  ["test", 15, 15]]
    per_class = next(t for t in tables if t["columns"] == ["Class", "train", "val", "test",
                                                           "Total"])
    assert per_class["data"] == [["A", 40, 8, 9, 57], ["B", 30, 7, 6, 43]]
    overlap = next(t for t in tables if t["columns"] == ["Pair", "Shared groups"])
    assert [row[1] for row in overlap["data"]] == [0, 0, 0]


def test_split_card_shouts_about_a_leak():
    text = _text(split_card(_split_summary(leak=2)))
    assert "LEAK" in text and "train_test" in text


def test_split_card_does_not_claim_disjoint_sides_without_overlap_numbers():
    text = _text(split_card(dict(_split_summary(), overlap={})))
    assert "not reported" in text and "no note text is shared" not in text


def test_run_cards_render_settings_tokenize_and_summary():
    import json as _json

    from medtx.config import parse_settings
    from medtx.evaluation.document import build_evaluation
    from medtx.evaluation.scoring import evaluate_system
    from medtx.modeling.features import Encoded
    from medtx.registry import ModelVersion
    from medtx.reports import settings_card, summary_card, tokenize_card
    from medtx.stages.finetuning import Tokenized

    def render(parts):
        return _json.dumps([p.render() for p in parts], default=str)

    s = render(settings_card(parse_settings({"env": "unit"}).to_dict()))
    assert "unit" in s and "learning_rate" in s
    windows = {"train": Encoded([[1, 5, 2]] * 12, [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9], 10),
               "val": Encoded([[1, 6, 2]] * 3, [0, 1, 2], 3)}
    tok = Tokenized(encoded=windows, strategy={"kind": "head_tail", "max_length": 128},
                    source="/models/x", pad_id=0, data_hash="0" * 64, seconds=0.5)
    t = render(tokenize_card(tok))
    assert "head_tail" in t and "/models/x" in t
    rows = [c for c in json.loads(t) if c["type"] == "table"][-1]["data"]
    assert rows == [["train", 10, 12], ["val", 3, 3]]  # side, notes, windows
    version = ModelVersion(group="g", version=7, status="Rejected", created_at="2026-01-01T00:00:00Z",
                           artifact_uri="a", evaluation_uri="e", reasons=["macro-F1 0.41 < 0.50"])
    rng = np.random.default_rng(0)
    y = np.arange(30) % 3
    system = evaluate_system("model", rng.normal(size=(30, 3)), y, rng.normal(size=(30, 3)), y,
                             ["a", "b", "c"])
    out = render(summary_card(version, build_evaluation(system, system), "/tmp/out"))
    assert "v7" in out and "Rejected" in out
    assert "Gate reasons" in out and f"{round(system.macro_f1, 4)}" in out
