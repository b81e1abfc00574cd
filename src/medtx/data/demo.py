"""Built-in synthetic demo notes in the Medical Transcriptions CSV format.

Invented procedurally from small vocabulary pools (no real patient, clinician or note), with the
traps of the real data on purpose: overlapping vocabulary, label noise, identical notes under a
second label (" Surgery" plus an organ specialty), empty transcriptions, labels with a leading
space. Same ``seed`` → identical frame.
"""
from __future__ import annotations

import random
import re
from functools import cache, lru_cache
from pathlib import Path

import pandas as pd

from medtx.config import DataSettings
from medtx.data.demo_pools import POOLS, SHARED, SPEC_TMPL
from medtx.errors import ConfigError

#: size of the built-in demo set: the one default is ``data.demo_notes`` in the config
DEMO_NOTES = DataSettings().demo_notes

DEMO_NOTICE = ("This run uses the built-in synthetic demo notes (invented text, not real clinical "
               "data); its metrics say nothing about real-world performance.")
COLUMNS = ("Unnamed: 0", "description", "medical_specialty", "sample_name", "transcription",
           "keywords")
MIN_NOTES = 60
NOISE_FRAC, DUP_FRAC, EMPTY_FRAC = 0.06, 0.03, 0.01
P_SPEC, P_OTHER, MAX_MIX = 0.3, 0.15, 0.4  # filler flavour; off-pool draws; 2nd-pool share

_GROW = {"HISTORY OF PRESENT ILLNESS": "hx", "INDICATIONS": "hx", "PHYSICAL EXAMINATION": "gen",
         "FINDINGS": "gen", "PLAN": "plan", "DESCRIPTION OF PROCEDURE": "op"}
_SYLL = "ba ker son lin dor mar vel ta ris hal gren o wen pe ston fi lo ra mun del".split()


def _unwrap(text: str) -> str:
    """Join each indented continuation line onto the line above it."""
    return re.sub(r"\n[ \t]+", "", text.strip())


@cache
def _lines(text: str) -> dict[str, list[str]]:
    """Parse "key entry|entry|..." lines (cached; callers must not mutate the lists)."""
    return {k: v.split("|") for k, _, v in (ln.partition(" ") for ln in _unwrap(text).splitlines())}


@lru_cache(maxsize=1)
def _pools() -> dict[str, dict]:
    """Parse the pool text into {specialty: {"w": weight, "near": [names], key: [entries]}}."""
    pools = {}
    for block in _unwrap(POOLS).split("\n@"):
        head, _, body = block.lstrip("@").partition("\n")
        name, weight, near = head.split("|")
        pools[name] = {"w": float(weight), "near": [x for x in near.split(";") if x],
                       **_lines(body)}
    return pools


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _title(text: str) -> str:
    return " ".join(_cap(word) for word in text.split())


class _Writer:
    """Writes one note from a specialty's pools, drawing some slots from other pools."""

    def __init__(self, rng: random.Random, spec: str):
        self.rng, self.spec, self.pools = rng, spec, _pools()
        self.pool, self.names = self.pools[spec], sorted(self.pools)
        near = self.pool["near"] if self.pool["near"] and rng.random() < 0.6 else self.names
        self.second = self.pools[rng.choice(near)]  # a note may cover a second specialty
        self.mix = rng.random() * MAX_MIX

    def draw(self, key: str, p_other: float = P_OTHER) -> str:
        """A pool entry: mostly this specialty, sometimes the second one or any other one."""
        r, pool = self.rng.random(), self.pool
        if r < self.mix:
            pool = self.second
        elif r > 1 - p_other or (self.spec == "Radiology" and key in "CDTF" and r < 0.5):
            pool = self.pools[self.rng.choice(self.names)]
        return self.rng.choice(pool[key])

    def shared(self, key: str) -> str:
        return self.fill(self.rng.choice(_lines(SHARED)[key]))

    def fill(self, tmpl: str) -> str:
        """Replace pool slots, then names, dates and numbers."""
        out, r = tmpl, self.rng
        for key in "CDPTF":
            while "{" + key + "}" in out:
                out = out.replace("{" + key + "}", self.draw(key), 1)
        if "{" not in out:
            return out
        name = "".join(r.sample(_SYLL, r.randint(2, 3))).capitalize()
        date = f"{r.randint(1, 12):02d}/{r.randint(1, 28):02d}/{r.randint(2003, 2012)}"
        return out.format(name=name, date=date, n=r.randint(2, 6),
                          job=r.choice(_lines(SHARED)["job"]))

    def pad(self, key: str) -> str:
        """One filler sentence for a section: specialty-flavoured with probability P_SPEC."""
        if self.rng.random() < P_SPEC:
            return _cap(self.fill(self.rng.choice(_lines(SPEC_TMPL)[key])))
        return self.shared(key)


def _sections(w: _Writer, kind: str, age: int, sex: str) -> tuple[list, str, str, str]:
    """(sections, description, sample name, main keyword) for one note of the given kind."""
    r = w.rng
    c, d, p = w.draw("C"), w.draw("D"), w.draw("P")
    if kind == "imaging":
        secs = [["EXAM", _cap(p) + "."], ["INDICATION", f"{age}-year-old {sex} with {c}."],
                ["TECHNIQUE", r.choice(w.pool["F"])], ["FINDINGS", w.fill("{F} {F}")],
                ["IMPRESSION", f"1. {_cap(d)}. 2. {_cap(w.draw('D'))}."]]
        return secs, _cap(p) + ".", _title(p), p
    if kind == "procedure":
        secs = [["PREOPERATIVE DIAGNOSIS", _cap(d) + "."], ["POSTOPERATIVE DIAGNOSIS", "Same."],
                ["PROCEDURE PERFORMED", _cap(p) + "."],
                ["ANESTHESIA", r.choice(["General endotracheal.", "Monitored anesthesia care.",
                                         "Local with sedation."])],
                ["INDICATIONS", f"This {age}-year-old {sex} with {d} presented with {c}."],
                ["FINDINGS", w.fill("{F}")],
                ["DESCRIPTION OF PROCEDURE", " ".join(_lines(SHARED)["open"])],
                ["COMPLICATIONS", "None."]]
        return secs, _cap(p) + ".", f"{_title(p)} - {r.randint(1, 9)}", p
    vit = (f"Blood pressure {r.randint(100, 170)}/{r.randint(60, 100)}, pulse "
           f"{r.randint(55, 110)}, respirations {r.randint(12, 22)}, temperature "
           f"{r.randint(970, 1004) / 10}.")
    meds = [w.draw("M")] + r.sample(_lines(SHARED)["med"], r.randint(1, 3))
    secs = [["CHIEF COMPLAINT", _cap(c) + "."],
            ["HISTORY OF PRESENT ILLNESS", f"This is a {age}-year-old {sex} who presents with "
             f"{c} for the past {r.randint(2, 11)} {r.choice(['days', 'weeks', 'months'])}."],
            ["PAST MEDICAL HISTORY", _cap(", ".join(r.sample(_lines(SHARED)["pmh"], 2)))
             + f", and {w.draw('D')}."],
            ["MEDICATIONS", ", ".join(meds) + "."],
            ["ALLERGIES", r.choice(["No known drug allergies.", "Penicillin.", "Sulfa drugs."])],
            ["SOCIAL HISTORY", w.shared("soc")],
            ["PHYSICAL EXAMINATION", f"VITAL SIGNS: {vit} " + w.fill("{F}")],
            ["ASSESSMENT", _cap(d) + "."],
            ["PLAN", f"{_cap(p)} was recommended. " + w.shared("plan")]]
    return secs, f"{age}-year-old {sex} with {c}.", _title(d), d


def _note(rng: random.Random, spec: str) -> dict:
    """One row (keyword terms and note kind still separate) written from ``spec``'s pools."""
    w = _Writer(rng, spec)
    kind = "imaging" if spec == "Radiology" else rng.choice(["clinic"] * 3 + ["procedure"])
    target = int(rng.triangular(150, 420 if kind == "imaging" else 700, 260))
    age, sex = rng.randint(18, 89), rng.choice(["male", "female"])
    secs, desc, sample, key = _sections(w, kind, age, sex)
    words = sum(len(body.split()) + 2 for _, body in secs)
    grow = [(sec, "img" if kind == "imaging" else _GROW[sec[0]]) for sec in secs
            if sec[0] in _GROW]
    while words < target:
        sec, pool = rng.choice(grow)
        sent = w.pad(pool)
        if sent in sec[1] and rng.random() < 0.8:  # mostly avoid repeating a sentence
            continue
        sec[1] += " " + sent
        words += len(sent.split())
    text = ",".join(f"{h}:,  {body}" for h, body in secs)
    terms = [key] + sorted({w.draw("T", 0.0) for _ in range(4)})
    return {"description": desc, "medical_specialty": spec, "sample_name": sample,
            "transcription": text, "terms": terms, "kind": kind}


def make_demo_notes(n: int = DEMO_NOTES, seed: int = 0) -> pd.DataFrame:
    """``n`` synthetic notes in the mtsamples CSV layout; identical output for the same seed."""
    if not isinstance(n, int) or n < MIN_NOTES:
        raise ConfigError(f"demo set needs at least {MIN_NOTES} notes, got n={n!r}")
    rng = random.Random(seed)
    specs = sorted(_pools())
    weights = [_pools()[s]["w"] for s in specs]
    n_dup = round(n * DUP_FRAC)
    rows = []
    for _ in range(n - n_dup):
        spec = rng.choices(specs, weights)[0]
        row = _note(rng, spec)
        if rng.random() < NOISE_FRAC:  # written from one pool, filed under another label
            row["medical_specialty"] = rng.choice([s for s in specs if s != spec])
        rows.append(row)
    ops = [r for r in rows if r["kind"] == "procedure"]
    n_surg = min(len(ops), round(n_dup * 0.7))
    for src in rng.sample(ops, n_surg):  # the same note filed under a second label
        rows.append(dict(src, medical_specialty="Surgery"))
    for src in rng.sample(rows[: n - n_dup], n_dup - n_surg):
        others = [s for s in specs if s != src["medical_specialty"]]
        rows.append(dict(src, medical_specialty=rng.choice(others)))
    rng.shuffle(rows)
    for row in rng.sample(rows, max(1, round(n * EMPTY_FRAC))):
        row["transcription"], row["terms"] = None, []
    for i, row in enumerate(rows):
        terms, _ = row.pop("terms"), row.pop("kind")
        row["keywords"] = (", ".join([row["medical_specialty"].lower()] + terms) + ","
                           if terms else None)
        row["description"] = " " + row["description"]
        row["medical_specialty"] = " " + row["medical_specialty"]
        row["sample_name"] = row["sample_name"] + " "
        row["Unnamed: 0"] = i
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_demo_csv(path: str | Path, n: int = DEMO_NOTES, seed: int = 0) -> Path:
    """Write the demo set as a CSV shaped like mtsamples.csv (unnamed first column)."""
    out = Path(path)
    frame = make_demo_notes(n=n, seed=seed).rename(columns={"Unnamed: 0": ""})
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return out
