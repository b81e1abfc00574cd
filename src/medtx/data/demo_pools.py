"""The vocabulary of the built-in synthetic demo notes (``medtx.data.demo``), as text.

Invented phrases only: no real patient, clinician or note. Kept apart from the generator so each
file reads as one thing: this one is data, demo.py is the code that draws notes from it.
"""

# Per-specialty pools: "@name|sampling weight|neighbours;..." then C complaints, D diagnoses,
# P procedures, F findings, M medications, T terms. Entries are separated by "|"; an indented
# line continues the line above it (see demo._unwrap), so long pools wrap at an entry boundary.
POOLS = """
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
SHARED = """
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
SPEC_TMPL = """
hx The patient has a history of {D}.|The patient was seen by Dr. {name} on {date} for {C}.|Previous {P} was reviewed.
    |Concern for {D} was raised.
gen {F}|{F}|The {T} and {T} were evaluated.|The {T} appears stable compared with prior.
img {F}|The {T} is unremarkable.|There is no abnormality of the {T}.
plan {P} was discussed as an option.|Findings involving the {T} were discussed with the patient.
    |We will reassess the {T} at the next visit.
op The {T} was identified and protected.|Attention was then turned to the {T}.|{F}
"""
