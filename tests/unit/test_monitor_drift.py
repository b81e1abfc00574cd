"""Drift signals on synthetic notes: false alarms near alpha on unchanged data, the right
signals on shifted data, the MMD permutation p-value, FDR control and input errors."""
from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from scipy import stats

from medtx.monitor import drift
from medtx.monitor.descriptors import COLUMNS, TextReducer, build_vocabulary, describe, describe_one, fit_reducer
from medtx.monitor.drift import Signal

ALPHA = 0.05
REPS = 40
# Bin(40, 0.05): P(X >= 7) = 0.003, so a valid test at alpha exceeds 6 false alarms in 40
# repetitions only by a rare accident; a test whose null is wrong (e.g. drawn from the
# reference alone) fires far more often. (Repetitions share one reference sample, so counts
# vary a little more than binomially from seed to seed.)
MAX_FALSE_ALARMS = 6

LABELS = ["cardiology", "orthopedics", "neurology"]
_COMMON = ("patient presents with history of pain noted today denies fever reports mild "
           "stable normal follow given well since year old male female").split()
_TOPIC = {
    "cardiology": "chest heart murmur atrial rhythm cardiac angina valve aortic".split(),
    "orthopedics": "knee joint fracture spine tendon ankle femur cartilage lumbar".split(),
    "neurology": "headache seizure nerve cranial tremor stroke cortex neuron gait".split(),
}
SECTIONS = ("HISTORY", "PHYSICAL EXAM", "ASSESSMENT", "PLAN")


def _note(rng: np.random.Generator, label: str, sections=SECTIONS) -> str:
    parts = []
    for section in sections:
        words = []
        for _ in range(rng.integers(8, 16)):
            u = rng.random()
            if u < 0.05:  # a rare or misspelt word: the vocabulary mostly lacks these
                words.append("".join(rng.choice(list("abcdefghij"), size=6)))
            elif u < 0.4:
                words.append(str(rng.choice(_TOPIC[label])))
            else:
                words.append(str(rng.choice(_COMMON)))
        if rng.random() < 0.3:
            words.append(f"{rng.integers(1, 99)}mg")
        parts.append(f"{section}: " + " ".join(words) + ".")
    return "\n".join(parts)


def _notes(rng, n, mix=(1 / 3, 1 / 3, 1 / 3), sections=SECTIONS):
    labels = rng.choice(len(LABELS), size=n, p=mix)
    return [_note(rng, LABELS[c], sections) for c in labels], labels


def _probs(rng, labels):
    logits = 2.0 * np.eye(len(LABELS))[labels] + rng.normal(size=(len(labels), len(LABELS)))
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _truncate(text: str, share: float = 0.4) -> str:
    return text[: int(len(text) * share)].rsplit(" ", 1)[0]


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(7)
    training, _ = _notes(rng, 300)  # the training notes give the vocabulary
    vocab = build_vocabulary(training)
    texts, labels = _notes(rng, 300)  # held-out notes give the reference profile
    return {"texts": texts, "labels": labels, "vocab": vocab,
            "reducer": fit_reducer(texts, dims=16, seed=0),
            "desc": describe(texts, vocab), "probs": _probs(rng, labels)}


def _fired(signals):
    return {s.name for s in signals if s.drifted}


# ---- unchanged data: false alarms near alpha ------------------------------------------------

def test_descriptor_and_prediction_signals_false_alarm_rate(reference):
    rng = np.random.default_rng(11)
    alarms = {}
    for _ in range(REPS):
        texts, labels = _notes(rng, 150)
        signals = drift.descriptor_signals(reference["desc"], describe(texts, reference["vocab"]))
        signals += drift.prediction_signals(reference["probs"], _probs(rng, labels), LABELS)
        for s in signals:
            alarms[s.name] = alarms.get(s.name, 0) + int(s.drifted)
    assert set(alarms) >= {"chars", "words", "headers", "oov_rate", "empty",
                           "predicted_label", "confidence"}
    assert max(alarms.values()) <= MAX_FALSE_ALARMS, alarms


def test_mmd_and_classifier_false_alarm_rate():
    rng = np.random.default_rng(3)
    mmd_alarms = clf_alarms = 0
    mmd_p = []
    for rep in range(REPS):
        ref, cur = rng.normal(size=(80, 8)), rng.normal(size=(70, 8))
        mmd = drift.mmd_signal(ref, cur, permutations=199, seed=rep)
        mmd_alarms += mmd.drifted
        mmd_p.append(mmd.p_value)
        clf_alarms += drift.classifier_signal(ref, cur, seed=rep).drifted
    assert mmd_alarms <= MAX_FALSE_ALARMS and clf_alarms <= MAX_FALSE_ALARMS
    assert 0.3 < np.mean(mmd_p) < 0.7  # null p-values are roughly uniform, not piled near 0


def test_ks_and_chi2_false_alarm_rate():
    rng = np.random.default_rng(5)
    ks = sum(drift.ks_signal("x", rng.normal(size=60), rng.normal(size=90)).drifted
             for _ in range(REPS))
    p = [0.5, 0.3, 0.15, 0.05]
    chi = sum(drift.chi2_signal("c", rng.multinomial(200, p), rng.multinomial(120, p)).drifted
              for _ in range(REPS))
    small = sum(drift.chi2_signal("c", rng.multinomial(20, p), rng.multinomial(15, p),
                                  simulations=499, seed=i).drifted for i in range(REPS))
    assert max(ks, chi, small) <= MAX_FALSE_ALARMS, (ks, chi, small)


# ---- shifted data: the right signal fires ----------------------------------------------------

def test_class_mix_shift_moves_predictions_not_structure(reference):
    rng = np.random.default_rng(21)
    texts, labels = _notes(rng, 200, mix=(0.8, 0.1, 0.1))
    preds = drift.prediction_signals(reference["probs"], _probs(rng, labels), LABELS)
    assert _fired(preds) == {"predicted_label", "confidence"}
    assert next(iter(preds[0].detail["share_change"])) == "cardiology"
    structure = drift.descriptor_signals(reference["desc"], describe(texts, reference["vocab"]))
    assert not _fired(structure) & {"words", "headers", "empty", "oov_rate"}
    vectors = reference["reducer"].transform(texts)
    assert drift.mmd_signal(reference["reducer"].transform(reference["texts"]), vectors,
                            permutations=199).drifted


def test_truncated_notes_move_length_and_sections(reference):
    rng = np.random.default_rng(22)
    texts, labels = _notes(rng, 150)
    signals = drift.descriptor_signals(reference["desc"],
                                       describe([_truncate(t) for t in texts], reference["vocab"]))
    fired = _fired(signals)
    assert {"chars", "words", "headers"} <= fired
    assert "empty" not in fired
    preds = drift.prediction_signals(reference["probs"], _probs(rng, labels), LABELS)
    assert not _fired(preds)


def test_missing_section_moves_header_count(reference):
    rng = np.random.default_rng(23)
    texts, labels = _notes(rng, 150, sections=("HISTORY", "ASSESSMENT", "PLAN"))
    signals = drift.descriptor_signals(reference["desc"], describe(texts, reference["vocab"]))
    by_name = {s.name: s for s in signals}
    assert by_name["headers"].drifted and by_name["headers"].detail["current_mean"] == 3
    assert min(signals, key=lambda s: s.p_value).name == "headers"
    assert not by_name["empty"].drifted
    assert not _fired(drift.prediction_signals(reference["probs"], _probs(rng, labels), LABELS))


def test_empty_notes_move_the_empty_rate(reference):
    rng = np.random.default_rng(24)
    texts, _ = _notes(rng, 150)
    texts[:30] = [""] * 30
    by_name = {s.name: s for s in drift.descriptor_signals(
        reference["desc"], describe(texts, reference["vocab"]))}
    assert by_name["empty"].drifted and by_name["empty"].detail["current_shares"]["yes"] == 0.2


def test_shifted_vector_mean_fires_mmd_and_classifier_naming_rows():
    rng = np.random.default_rng(31)
    ref, cur = rng.normal(size=(120, 8)), rng.normal(size=(100, 8))
    cur[:, 0] += 0.8
    cur[:10] += 3.0  # ten clearly foreign rows
    ids = [f"event-{i:03d}" for i in range(len(cur))]
    assert drift.mmd_signal(ref, cur, permutations=199).drifted
    clf = drift.classifier_signal(ref, cur, seed=0, ids=ids, top=10)
    assert clf.drifted and clf.statistic > 0.7
    named = [row["id"] for row in clf.detail["atypical"]]
    assert len(named) == 10 and sum(n < "event-010" for n in named) >= 8
    # its p-value is the one-sided Mann-Whitney test of the held-out scores: AUC > 0.5
    assert clf.p_value < 1e-4


# ---- the MMD statistic and p-value -------------------------------------------------------------

def test_mmd_matches_direct_unbiased_estimate_and_p_formula():
    rng = np.random.default_rng(41)
    x, y = rng.normal(size=(30, 4)), rng.normal(0.3, 1.0, size=(25, 4))
    sig = drift.mmd_signal(x, y, permutations=99, seed=1)
    s2 = sig.detail["bandwidth"] ** 2
    k = lambda a, b: np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * s2))  # noqa: E731
    kxx, kyy = k(x, x), k(y, y)
    direct = ((kxx.sum() - np.trace(kxx)) / (30 * 29) + (kyy.sum() - np.trace(kyy)) / (25 * 24)
              - 2 * k(x, y).mean())
    assert sig.statistic == pytest.approx(direct, rel=1e-9)
    pooled = np.vstack([x, y])
    d = np.sqrt(((pooled[:, None] - pooled[None]) ** 2).sum(-1))
    assert s2 == pytest.approx(np.median(d[np.triu_indices(55, 1)]) ** 2, rel=1e-9)
    count = sig.p_value * 100
    assert count == pytest.approx(round(count)) and round(count) >= 1
    far = drift.mmd_signal(x, y + 5.0, permutations=99, seed=1)
    assert far.p_value == pytest.approx(1 / 100)
    assert drift.permutation_p_value(2.0, np.array([1.0, 2.0, 3.0, 0.0])) == pytest.approx(3 / 5)
    assert drift.permutation_p_value(9.0, np.zeros(199)) == pytest.approx(1 / 200)


# ---- multiple testing --------------------------------------------------------------------------

def test_correct_matches_benjamini_hochberg_and_keeps_raw():
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    signals = [Signal(f"s{i}", 0.0, v, ALPHA, v <= ALPHA, {}) for i, v in enumerate(p)]
    out = drift.correct(signals, ALPHA)
    expected = stats.false_discovery_control(p, method="bh")
    assert [s.p_value for s in out] == pytest.approx(list(expected))
    assert [s.detail["raw_p_value"] for s in out] == p
    assert [s.name for s in out if s.drifted] == ["s0", "s1"]
    assert sum(s.drifted for s in signals) == 5 and drift.correct([], ALPHA) == []


def test_correct_controls_false_discovery_rate():
    rng = np.random.default_rng(51)
    fdp, raw_false = [], 0
    for _ in range(400):
        p = np.r_[rng.uniform(size=15), rng.uniform(0, 1e-3, size=5)]
        out = drift.correct([Signal(f"s{i}", 0.0, v, ALPHA, v <= ALPHA, {})
                             for i, v in enumerate(p)], ALPHA)
        flags = np.array([s.drifted for s in out])
        fdp.append(flags[:15].sum() / max(flags.sum(), 1))
        raw_false += int(np.sum(p[:15] <= ALPHA))
        assert flags[15:].all()
    assert np.mean(fdp) <= ALPHA  # BH bound: (15 / 20) * alpha in expectation
    assert raw_false / 400 > 0.5  # uncorrected, most windows carry a false alarm


# ---- the reduced representation ----------------------------------------------------------------

def test_reducer_round_trips_through_pickle_and_numpy(reference):
    reducer = reference["reducer"]
    texts = reference["texts"][:20] + ["", None, "unseen words only qqq"]
    vectors = reducer.transform(texts)
    assert vectors.shape == (23, 16) and np.all(vectors[20:22] == 0)
    assert np.allclose(pickle.loads(pickle.dumps(reducer)).transform(texts), vectors)
    buf = io.BytesIO()
    np.savez(buf, **reducer.to_arrays())
    buf.seek(0)
    with np.load(buf) as arrays:
        loaded = TextReducer.from_arrays(dict(arrays))
    assert np.allclose(loaded.transform(texts), vectors)
    assert fit_reducer(["alpha beta gamma", "beta gamma delta"], dims=64).dims == 1


# ---- input errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: drift.ks_signal("x", [], [1.0]), "reference sample"),
    (lambda: drift.ks_signal("x", [1.0], [np.nan]), "non-finite"),
    (lambda: drift.ks_signal("x", [1.0], [2.0], alpha=0), "alpha"),
    (lambda: drift.chi2_signal("c", {"a": 0}, {"a": 3}), "reference counts are empty"),
    (lambda: drift.chi2_signal("c", {"a": -1}, {"a": 3}), "non-negative"),
    (lambda: drift.mmd_signal(np.zeros((5, 3)), np.zeros((5, 4))), "dimension mismatch"),
    (lambda: drift.mmd_signal(np.zeros((0, 3)), np.zeros((5, 3))), "reference vectors"),
    (lambda: drift.mmd_signal(np.ones((5, 3)), np.ones((5, 3)), permutations=0), "permutations"),
    (lambda: drift.classifier_signal(np.ones((8, 2)), np.ones((3, 2))), "current vectors"),
    (lambda: drift.classifier_signal(np.ones((8, 2)), np.ones((6, 2)), ids=["a"]), "ids"),
    (lambda: drift.prediction_signals(np.full((4, 3), 1 / 3), np.full((4, 2), 0.5), LABELS),
     "class mismatch"),
    (lambda: drift.prediction_signals(np.full((4, 3), 0.5), np.full((4, 3), 1 / 3), LABELS),
     "summing to 1"),
    (lambda: describe("HISTORY: one note", set()), "single string"),
    (lambda: describe([3], set()), "strings"),
    (lambda: fit_reducer(["only one"]), "at least 2"),
    (lambda: fit_reducer(["", " "]), "no usable terms"),
])
def test_input_errors_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_descriptors_of_a_note():
    row = describe(["HISTORY: Chest pain 3x daily.\nREVIEW OF SYSTEMS: none", "  "],
                   {"chest", "pain", "daily", "none"}).iloc[0]
    assert row["headers"] == 2 and row["words"] == 9 and not row["empty"]
    # 9 letter words; history, x, review, of, systems are not in the vocabulary
    assert row["oov_rate"] == pytest.approx(5 / 9)
    assert row["non_letter_share"] == pytest.approx(4 / 45)  # ':', '3', '.', ':' of 45 visible


_VARIED = [
    "", None, "   ", "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f", "\u00a0\u2028\u3000\x85", "a", "AB:",
    "HISTORY: Chest pain 3x daily.\nREVIEW OF SYSTEMS: none",
    "CHIEF COMPLAINT:,  Pain.,HISTORY OF PRESENT ILLNESS:,  Worse.,PLAN:,  Follow up.",
    "X-RAY/CT & MRI : clear. BP: 120/80 HR:72 aBC: ABc: A: 1AB: _AB: éAB: ÉTAT: ABÉ:",
    "ABC DE:FGH:IJ :  KL\n:MN - OP:", "Température 38,5 °C, µg, ½ tablet, Ⅻ, ², ßtraße, İstanbul",
    "K\u212aelvin 中文 病历: ΣΙΓΜΑ: σίγμα", "no header here, just 12 words and 3 numbers 4.5 mg",
    "ALL CAPS NO COLON", ":::", " : : ", "HEENT:\n\nNECK:\tSupple.\r\nEXTREMITIES:",
]


def _random_notes(seed: int, n: int, alphabet: list[str]) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(alphabet, size=int(rng.integers(0, 30)))) for _ in range(n)]


def test_describe_matches_describe_one_note_by_note(reference):
    tricky = list("ABXYabxy:/&- \t\n\x0b\x1c\x85\xa0\u3000019_.,éÉßİµ°²Ⅻ中") + [
        "HISTORY", "X-RAY", "BP", "REVIEW OF SYSTEMS", " : "]
    ascii_chars = [chr(c) for c in range(128)] + ["HX", "AB", "history"]
    texts = (_VARIED + reference["texts"][:50] + _random_notes(1, 400, tricky)
             + _random_notes(2, 400, ascii_chars))
    vocab = reference["vocab"] | {"history", "pain", "a", "x"}
    frame = describe(texts, vocab)
    assert list(frame.columns) == list(COLUMNS) and len(frame) == len(texts)
    assert frame.dtypes.to_dict() == {"chars": np.int64, "words": np.int64,
                                      "headers": np.int64, "non_letter_share": np.float64,
                                      "empty": bool, "oov_rate": np.float64}
    for i, text in enumerate(texts):
        assert frame.iloc[i].to_dict() == describe_one(text, vocab), f"note {i}"


def test_describe_of_no_notes_has_the_columns():
    frame = describe([], set())
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 0
    assert frame["empty"].dtype == bool and frame["chars"].dtype == np.int64
