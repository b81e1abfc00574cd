"""The approval gate: each condition, auto vs manual approval, champion handling, boundaries."""
from __future__ import annotations

import json

import pytest

from medtx.config import GateSettings
from medtx.errors import GateFailed
from medtx.evaluation.gate import decide
from medtx.reports import decision_card

GATE = GateSettings(min_macro_f1=0.70, min_accuracy=0.75, min_margin_over_baseline=0.02,
                    champion_tolerance=0.01, compare_to_champion=True, approval="auto")
GOOD = {"accuracy": 0.82, "macro_f1": 0.76}
BASE = {"accuracy": 0.78, "macro_f1": 0.72}
CHAMP = {"accuracy": 0.80, "macro_f1": 0.75}


def _by_name(decision):
    return {c.name: c for c in decision.conditions}


def test_all_conditions_pass_auto_approves():
    d = decide(GOOD, BASE, CHAMP, GATE)
    assert d.passed and d.status == "Approved" and d.reasons == []
    assert list(_by_name(d)) == ["min_macro_f1", "min_accuracy", "margin_over_baseline",
                                 "not_worse_than_champion"]
    assert all(c.passed for c in d.conditions)


def test_manual_mode_passing_model_waits_for_a_person():
    d = decide(GOOD, BASE, CHAMP, GateSettings(**{**GATE.__dict__, "approval": "manual"}))
    assert d.passed and d.status == "PendingManualApproval"


@pytest.mark.parametrize(("candidate", "failed"), [
    ({"accuracy": 0.82, "macro_f1": 0.69}, {"min_macro_f1", "margin_over_baseline",
                                              "not_worse_than_champion"}),
    ({"accuracy": 0.74, "macro_f1": 0.76}, {"min_accuracy"}),
    ({"accuracy": 0.82, "macro_f1": 0.735}, {"margin_over_baseline", "not_worse_than_champion"}),
])
def test_each_failing_condition_rejects_with_its_reason(candidate, failed):
    for approval in ("auto", "manual"):
        gate = GateSettings(**{**GATE.__dict__, "approval": approval})
        d = decide(candidate, BASE, CHAMP, gate)
        assert not d.passed and d.status == "Rejected"
        assert {c.name for c in d.conditions if not c.passed} == failed
        assert sorted(r.split(":")[0] for r in d.reasons) == sorted(failed)


def test_margin_over_baseline_alone_can_fail():
    d = decide({"accuracy": 0.9, "macro_f1": 0.80}, {"accuracy": 0.9, "macro_f1": 0.79}, None, GATE)
    assert [c.name for c in d.conditions if not c.passed] == ["margin_over_baseline"]
    assert "+0.0100 < +0.0200" in d.reasons[0]


def test_margin_exactly_at_threshold_passes_and_just_below_fails():
    at = decide({"accuracy": 0.9, "macro_f1": 0.74}, {"accuracy": 0.9, "macro_f1": 0.72}, None, GATE)
    assert _by_name(at)["margin_over_baseline"].passed  # 0.74 - 0.72 is 0.0199999... in floats
    below = decide({"accuracy": 0.9, "macro_f1": 0.7399}, {"accuracy": 0.9, "macro_f1": 0.72},
                   None, GATE)
    assert not _by_name(below)["margin_over_baseline"].passed


def test_champion_tolerance_boundary():
    champ = {"accuracy": 0.9, "macro_f1": 0.77}
    at = decide(GOOD, BASE, champ, GATE)  # 0.76 - 0.77 = -0.01, tolerance 0.01
    assert _by_name(at)["not_worse_than_champion"].passed
    worse = decide(GOOD, BASE, {"accuracy": 0.9, "macro_f1": 0.7701}, GATE)
    assert not _by_name(worse)["not_worse_than_champion"].passed
    assert worse.status == "Rejected"


def test_no_champion_passes_with_detail():
    c = _by_name(decide(GOOD, BASE, None, GATE))["not_worse_than_champion"]
    assert c.passed and c.observed is None and c.detail == "no champion"


def test_champion_comparison_can_be_switched_off():
    gate = GateSettings(**{**GATE.__dict__, "compare_to_champion": False})
    d = decide(GOOD, BASE, {"accuracy": 0.99, "macro_f1": 0.99}, gate)
    assert d.passed and "not_worse_than_champion" not in _by_name(d)


def test_nan_metric_fails_instead_of_passing():
    d = decide({"accuracy": 0.9, "macro_f1": float("nan")}, BASE, None, GATE)
    assert not _by_name(d)["min_macro_f1"].passed and "not a number" in d.reasons[0]
    assert json.loads(json.dumps(d.to_dict()))["status"] == "Rejected"


def test_missing_metric_is_a_clear_error():
    with pytest.raises(GateFailed, match="baseline metrics lack 'macro_f1'"):
        decide(GOOD, {"accuracy": 0.7}, None, GATE)


def test_to_dict_carries_the_evidence():
    d = decide(GOOD, BASE, CHAMP, GATE).to_dict()
    assert d["passed"] is True and len(d["conditions"]) == 4
    assert d["conditions"][0] == {"name": "min_macro_f1", "passed": True, "observed": 0.76,
                                  "required": ">= 0.7000", "detail": "macro-F1 0.7600 >= 0.7000"}


def test_decision_card_shows_models_and_conditions():
    d = decide({"accuracy": 0.74, "macro_f1": 0.76}, BASE, CHAMP, GATE)
    parts = decision_card(d, {"accuracy": 0.74, "macro_f1": 0.76}, BASE, CHAMP)
    rendered = json.dumps([p.render() for p in parts])
    assert "Rejected" in rendered and "FAIL" in rendered and "PASS" in rendered
    assert "0.7600" in rendered and "0.7200" in rendered and "0.7500" in rendered
    assert "min_accuracy" in rendered
