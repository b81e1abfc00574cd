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

# Per-specialty pools: "@name|sampling weight|neighbours;..." then C complaints, D diagnoses,
# P procedures, F findings, M medications, T terms. Entries are separated by "|"; an indented
# line continues the line above it (see _unwrap), so long pools wrap at an entry boundary.
_POOLS = """
@Cardiovascular / Pulmonary|3.0|ENT - Otolaryngology;Nephrology
C chest pain on exertion|shortness of breath|palpitations|productive cough|dyspnea on exertion|leg swelling|wheezing
D coronary artery disease|atrial fibrillation|congestive heart failure|chronic obstructive pulmonary disease
    |community-acquired pneumonia|pulmonary embolism|aortic stenosis
P cardiac catheterization|transthoracic echocardiogram|coronary artery bypass grafting
    |bronchoscopy with bronchoalveolar lavage|exercise stress test|pulmonary function testing
F Heart has a regular rate and rhythm with a grade 2/6 systolic murmur.
    |Lungs reveal scattered expiratory wheezes bilaterally.|There are bibasilar crackles.
    |Jugular venous distention is noted at 8 cm.|Ejection fraction is estimated at 35%.
    |The left anterior descending artery has a 90% stenosis.
M metoprolol 25 mg twice daily|furosemide 40 mg daily|warfarin 5 mg daily|albuterol inhaler as needed
    |tiotropium inhaler daily|clopidogrel 75 mg daily
T ventricle|myocardium|troponin|stent|ischemia|bronchodilator|spirometry|pleura|coronary arteries|aortic valve
    |infiltrate|oxygenation
@Orthopedic|3.0|Neurosurgery
C right knee pain|left shoulder pain|low back pain after lifting|ankle swelling after a fall|wrist pain and numbness
    |hip pain with walking
D medial meniscus tear|rotator cuff tear|distal radius fracture|osteoarthritis of the knee|carpal tunnel syndrome
    |lumbar strain|ankle sprain
P arthroscopic partial medial meniscectomy|open reduction and internal fixation|total knee arthroplasty
    |rotator cuff repair|carpal tunnel release|cortisone injection of the knee
F There is tenderness along the medial joint line.|McMurray test is positive.
    |Range of motion of the shoulder is limited by pain.|There is no joint effusion.
    |Tinel sign is positive at the wrist.|Anterior drawer test is negative.
M ibuprofen 800 mg three times daily|naproxen 500 mg twice daily|tramadol 50 mg as needed
    |cyclobenzaprine 10 mg at bedtime
T ligament|cartilage|tendon|fracture|splint|cast|arthroscopy|weightbearing|physical therapy|orthotic|hardware|femur
@Radiology|2.5|
C follow-up of a pulmonary nodule|abdominal pain|headache|trauma evaluation|flank pain|persistent cough
D no acute intracranial abnormality|small pulmonary nodule|simple hepatic cyst|nonobstructing renal calculus
    |degenerative disc disease|small pleural effusion
P CT of the abdomen and pelvis with contrast|MRI of the brain without and with contrast|chest x-ray two views
    |ultrasound of the right upper quadrant|MRI of the lumbar spine|CT angiogram of the chest
F Axial images were obtained from the lung bases through the pubic symphysis.|There is no mass effect or midline shift.
    |The visualized osseous structures are unremarkable.|No free fluid is identified.
    |Comparison is made to the prior study.|Sagittal and axial T1 and T2 weighted images were obtained.
M intravenous contrast|gadolinium|oral contrast
T axial images|sagittal images|coronal reformats|attenuation|enhancement|signal intensity|contrast bolus|scout image
    |field of view|slice thickness|radiologist|prior study
@Gastroenterology|2.5|Hematology - Oncology
C epigastric pain|rectal bleeding|difficulty swallowing|chronic diarrhea|nausea and vomiting|heartburn
D gastroesophageal reflux disease|colon polyp|ulcerative colitis|peptic ulcer disease|cholelithiasis|diverticulosis
    |Barrett esophagus
P colonoscopy with polypectomy|esophagogastroduodenoscopy with biopsy|endoscopic retrograde cholangiopancreatography
    |flexible sigmoidoscopy|laparoscopic cholecystectomy
F The abdomen is soft with mild epigastric tenderness.|Bowel sounds are normoactive.
    |The scope was advanced to the cecum.|A 5 mm sessile polyp was removed with a snare.
    |The distal esophagus showed salmon-colored mucosa.|There is no hepatosplenomegaly.
M pantoprazole 40 mg daily|mesalamine 800 mg three times daily|ondansetron 4 mg as needed|polyethylene glycol daily
T mucosa|colon|duodenum|stomach|biliary tree|bowel|stool|hemorrhoids|endoscope|cecum|liver|pancreas
@Neurology|2.5|Neurosurgery;Ophthalmology
C recurrent headaches|episodes of loss of consciousness|numbness in the left arm|tremor of both hands|memory loss
    |dizziness
D migraine without aura|seizure disorder|Parkinson disease|transient ischemic attack|multiple sclerosis
    |peripheral neuropathy|Alzheimer dementia
P electroencephalogram|nerve conduction study and electromyography|lumbar puncture|MRI of the brain|carotid duplex
F Cranial nerves II through XII are intact.|Strength is 5/5 in all extremities.
    |Deep tendon reflexes are 2+ and symmetric.|Romberg is negative.|There is a resting tremor of the right hand.
    |Sensation is decreased to pinprick in the feet.
M levetiracetam 500 mg twice daily|topiramate 50 mg daily|carbidopa-levodopa three times daily
    |sumatriptan 50 mg as needed|donepezil 10 mg daily
T seizure activity|cognition|neurologic exam|cerebral cortex|gait|aura|spasticity|reflexes|EEG|stroke risk|tremor
    |cerebellum
@Neurosurgery|1.0|Neurology;Orthopedic
C neck pain radiating to the right arm|low back pain radiating down the left leg|progressive weakness of the legs
    |headache with a known brain mass
D cervical spondylotic myelopathy|lumbar disc herniation at L4-L5|spinal stenosis|glioblastoma|subdural hematoma
    |cervical radiculopathy
P anterior cervical discectomy and fusion|lumbar laminectomy|craniotomy for tumor resection|burr hole evacuation
    |posterior spinal fusion with pedicle screws
F Spurling sign is positive on the right.|Straight leg raise is positive at 40 degrees.
    |The dura was opened in a curvilinear fashion.|The disc space was decompressed.
    |Fluoroscopy confirmed the correct level.|Hoffmann sign is present.
M dexamethasone 4 mg every 6 hours|gabapentin 300 mg three times daily|oxycodone 5 mg as needed
T dura|vertebral body|lamina|foramen|disc|fusion|spinal cord|nerve root|craniotomy site|microscope|decompression
    |myelopathy
@Urology|1.5|Nephrology;Obstetrics / Gynecology
C blood in the urine|difficulty urinating|flank pain|urinary frequency|an elevated PSA|erectile dysfunction
D benign prostatic hyperplasia|prostate cancer|nephrolithiasis|urinary tract infection|bladder tumor
    |urinary incontinence
P cystoscopy|transurethral resection of the prostate|ureteroscopy with laser lithotripsy|prostate biopsy|vasectomy
    |ureteral stent placement
F The prostate is enlarged and smooth without nodules.|There is no costovertebral angle tenderness.
    |The bladder was inspected and no tumor was seen.|The urethra was normal.|Urinalysis shows microscopic hematuria.
    |The stone was fragmented and basketed.
M tamsulosin 0.4 mg daily|finasteride 5 mg daily|oxybutynin 5 mg twice daily|ciprofloxacin 500 mg twice daily
T bladder|prostate|ureter|urethra|urine stream|stone|catheter|scrotum|kidney|PSA|voiding diary|cystoscope
@Nephrology|0.8|Urology;Cardiovascular / Pulmonary
C worsening kidney function|swelling of the legs|an elevated creatinine|foamy urine|fatigue on dialysis
D chronic kidney disease stage 4|end-stage renal disease|acute kidney injury|nephrotic syndrome|hyperkalemia
    |diabetic nephropathy
P hemodialysis|renal biopsy|arteriovenous fistula creation|peritoneal dialysis catheter placement|renal ultrasound
F Creatinine is 3.2, up from a baseline of 2.1.|Potassium is 5.8.|There is 2+ pitting edema of the lower extremities.
    |The fistula has a good thrill and bruit.|Urine protein to creatinine ratio is elevated.
M sevelamer 800 mg with meals|calcitriol 0.25 mcg daily|epoetin alfa weekly|sodium bicarbonate 650 mg twice daily
T renal function|glomerular filtration rate|dialysis access|proteinuria|electrolytes|creatinine|nephrons|ultrafiltration
    |kidney|fistula|albumin|uremia
@Obstetrics / Gynecology|1.5|Urology
C pelvic pain|heavy menstrual bleeding|a routine prenatal visit|an abnormal Pap smear|contractions at 38 weeks
    |postmenopausal bleeding
D uterine fibroids|intrauterine pregnancy at 32 weeks|endometriosis|ovarian cyst|cervical dysplasia|preeclampsia
P total abdominal hysterectomy|cesarean section|dilation and curettage|colposcopy with biopsy
    |laparoscopic bilateral tubal ligation|spontaneous vaginal delivery
F Fundal height is appropriate for dates.|Fetal heart tones are in the 140s.|The cervix is closed and long.
    |The uterus is enlarged and irregular.|Adnexa are nontender without masses.
    |The infant was delivered from the vertex position.
M prenatal vitamins daily|medroxyprogesterone|oxytocin infusion|oral contraceptive pills
T uterus|cervix|ovary|gestational age|fetal heart rate|placenta|vaginal vault|endometrium|pregnancy|menses
    |gravida status|fundus
@ENT - Otolaryngology|1.0|Cardiovascular / Pulmonary
C chronic sinus congestion|ear pain and drainage|hoarseness|sore throat|hearing loss|snoring with witnessed apneas
D chronic sinusitis|otitis media|tonsillar hypertrophy|deviated nasal septum|vocal cord nodule|obstructive sleep apnea
P functional endoscopic sinus surgery|tonsillectomy and adenoidectomy|bilateral myringotomy with tube placement
    |septoplasty|direct laryngoscopy with biopsy
F The tympanic membranes are dull and bulging.|Nasal mucosa is boggy with clear drainage.|Tonsils are 3+ and cryptic.
    |The septum is deviated to the left.|There is a small lesion on the true vocal cord.
    |There is no cervical lymphadenopathy.
M fluticasone nasal spray daily|amoxicillin 875 mg twice daily|cetirizine 10 mg daily|saline nasal rinses
T sinus|nasal passage|tonsils|adenoids|tympanic membrane|larynx|pharynx|septum|audiogram|ear canal|turbinates|throat
@Ophthalmology|0.8|Neurology
C blurred vision|a gradual decrease in vision|eye redness and irritation|floaters and flashes|eye pain
D cataract|primary open-angle glaucoma|diabetic retinopathy|macular degeneration|retinal detachment|conjunctivitis
P phacoemulsification with intraocular lens implant|trabeculectomy|pars plana vitrectomy|laser photocoagulation
    |YAG capsulotomy
F Visual acuity is 20/60 in the right eye.|Intraocular pressure is 24 mmHg.|There is a dense nuclear sclerotic cataract.
    |The optic nerve shows cupping.|The retina is attached.|Slit lamp examination shows a quiet anterior chamber.
M latanoprost drops at bedtime|prednisolone acetate drops four times daily|timolol drops twice daily|moxifloxacin drops
T lens|retina|cornea|pupil|vision|intraocular pressure|eyelid|macula|conjunctiva|optic disc|lens capsule|visual acuity
@Hematology - Oncology|1.0|Gastroenterology
C unintentional weight loss|easy bruising|fatigue with anemia|a breast mass|swollen lymph nodes|night sweats
D iron deficiency anemia|diffuse large B-cell lymphoma|breast cancer|chronic lymphocytic leukemia|deep venous thrombosis
    |metastatic colon cancer
P bone marrow biopsy|chemotherapy with R-CHOP|port placement|PET scan|blood transfusion|radiation therapy
F Hemoglobin is 8.2.|White blood cell count is 24,000 with lymphocytosis.|Platelets are 45,000.
    |There is a 2 cm firm mobile lymph node.|The spleen is palpable.|Staging workup is complete.
M ferrous sulfate 325 mg three times daily|enoxaparin 80 mg twice daily|ondansetron before chemotherapy
    |tamoxifen 20 mg daily
T tumor|lymphoma|chemotherapy|bone marrow|metastasis|anemia|platelet count|lymph nodes|malignancy|staging|biopsy site
    |treatment cycle
"""

# Shared pools (one per line: key, then entries separated by "|"): every specialty draws
# from these, so classes overlap.
_SHARED = """
pmh hypertension|hyperlipidemia|type 2 diabetes mellitus|hypothyroidism|gastroesophageal reflux|osteoarthritis
    |depression|asthma|obesity|anxiety|gout|anemia
med lisinopril 10 mg daily|metformin 500 mg twice daily|atorvastatin 20 mg at bedtime|aspirin 81 mg daily
    |omeprazole 20 mg daily|levothyroxine 50 mcg daily|sertraline 50 mg daily|acetaminophen as needed
    |amlodipine 5 mg daily|vitamin D daily
soc The patient denies tobacco use.|The patient drinks alcohol socially.|The patient is a former smoker.
    |The patient lives with family and works as a {job}.|The patient is retired.
job teacher|driver|nurse|clerk|farmer|mechanic|cashier|engineer|cook|electrician
hx Symptoms are worse at night.|There is no fever or chills.|The symptoms have been gradually progressive.
    |Over-the-counter medication gave partial relief.|The patient denies recent travel.|Appetite has been stable.
    |Sleep has been poor.|The patient missed several days of work because of this.|There was no recent trauma.
gen The patient is alert and oriented x3 and in no acute distress.|Neck is supple.|Skin is warm and dry.
    |Extremities show no clubbing or cyanosis.|Abdomen is soft and nontender.|Heart sounds are normal.
    |Lungs are clear to auscultation.|Mood and affect are appropriate.|Head is normocephalic and atraumatic.
img The heart size is normal.|No acute fracture is seen.|Soft tissues are unremarkable.|There is no lymphadenopathy.
    |No pneumothorax is identified.|The liver and spleen are normal in size.|Vascular calcifications are noted.
    |There is no acute hemorrhage.|No suspicious mass is identified.|Mild degenerative change is noted.
plan Risks, benefits, and alternatives were discussed, and the patient agrees with the plan.
    |Laboratory studies including CBC and BMP were ordered.|Follow up in {n} weeks or sooner if symptoms worsen.
    |All questions were answered.|Records from the primary care physician will be obtained.
    |The patient was given written instructions.|We will continue the current medications.
open The patient was brought to the operating room and placed in the supine position.|A time-out was performed.
    |The area was prepped and draped in the usual sterile fashion.
op Hemostasis was obtained.|Sponge and needle counts were correct.|The wound was irrigated with saline.
    |The skin was closed with staples.
    |The patient tolerated the procedure well and was taken to recovery in stable condition.
"""
# Specialty-flavoured filler per shared pool; {C} {D} {P} {F} {T} are drawn from the pools.
_SPEC_TMPL = """
hx The patient has a history of {D}.|The patient was seen by Dr. {name} on {date} for {C}.|Previous {P} was reviewed.
    |Concern for {D} was raised.
gen {F}|{F}|The {T} and {T} were evaluated.|The {T} appears stable compared with prior.
img {F}|The {T} is unremarkable.|There is no abnormality of the {T}.
plan {P} was discussed as an option.|Findings involving the {T} were discussed with the patient.
    |We will reassess the {T} at the next visit.
op The {T} was identified and protected.|Attention was then turned to the {T}.|{F}
"""
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
    for block in _unwrap(_POOLS).split("\n@"):
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
        return self.fill(self.rng.choice(_lines(_SHARED)[key]))

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
                          job=r.choice(_lines(_SHARED)["job"]))

    def pad(self, key: str) -> str:
        """One filler sentence for a section: specialty-flavoured with probability P_SPEC."""
        if self.rng.random() < P_SPEC:
            return _cap(self.fill(self.rng.choice(_lines(_SPEC_TMPL)[key])))
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
                ["DESCRIPTION OF PROCEDURE", " ".join(_lines(_SHARED)["open"])],
                ["COMPLICATIONS", "None."]]
        return secs, _cap(p) + ".", f"{_title(p)} - {r.randint(1, 9)}", p
    vit = (f"Blood pressure {r.randint(100, 170)}/{r.randint(60, 100)}, pulse "
           f"{r.randint(55, 110)}, respirations {r.randint(12, 22)}, temperature "
           f"{r.randint(970, 1004) / 10}.")
    meds = [w.draw("M")] + r.sample(_lines(_SHARED)["med"], r.randint(1, 3))
    secs = [["CHIEF COMPLAINT", _cap(c) + "."],
            ["HISTORY OF PRESENT ILLNESS", f"This is a {age}-year-old {sex} who presents with "
             f"{c} for the past {r.randint(2, 11)} {r.choice(['days', 'weeks', 'months'])}."],
            ["PAST MEDICAL HISTORY", _cap(", ".join(r.sample(_lines(_SHARED)["pmh"], 2)))
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
