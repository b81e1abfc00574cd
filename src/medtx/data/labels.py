"""Label policy: which specialties a model learns, which are merged, which are excluded.

Presets:
- ``all40``: every specialty of the Medical Transcriptions data, labels stripped.
- ``spec12``: the common reduced task — 14 organ/clinical specialties with Neurosurgery merged
  into Neurology and Nephrology into Urology (12 classes). Document-type labels (Surgery,
  Consult, Discharge Summary, ...) are excluded.
- ``custom``: start from all labels and apply ``keep`` / ``drop`` / ``merge`` / ``min_samples``.

``keep``/``drop``/``merge``/``min_samples`` from config refine any preset.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, get_args

from medtx.config import LabelSettings
from medtx.config.settings import LabelPreset
from medtx.errors import ConfigError

#: Every specialty label of the public Medical Transcriptions dataset (stripped).
MTSAMPLES_LABELS: tuple[str, ...] = (
    "Allergy / Immunology", "Autopsy", "Bariatrics", "Cardiovascular / Pulmonary",
    "Chiropractic", "Consult - History and Phy.", "Cosmetic / Plastic Surgery", "Dentistry",
    "Dermatology", "Diets and Nutritions", "Discharge Summary", "ENT - Otolaryngology",
    "Emergency Room Reports", "Endocrinology", "Gastroenterology", "General Medicine",
    "Hematology - Oncology", "Hospice - Palliative Care", "IME-QME-Work Comp etc.",
    "Lab Medicine - Pathology", "Letters", "Nephrology", "Neurology", "Neurosurgery",
    "Obstetrics / Gynecology", "Office Notes", "Ophthalmology", "Orthopedic",
    "Pain Management", "Pediatrics - Neonatal", "Physical Medicine - Rehab", "Podiatry",
    "Psychiatry / Psychology", "Radiology", "Rheumatology", "SOAP / Chart / Progress Notes",
    "Sleep Medicine", "Speech - Language", "Surgery", "Urology",
)

SPEC12_KEEP: tuple[str, ...] = (
    "Cardiovascular / Pulmonary", "Orthopedic", "Radiology", "Gastroenterology", "Neurology",
    "Neurosurgery", "Urology", "Nephrology", "Obstetrics / Gynecology", "ENT - Otolaryngology",
    "Hematology - Oncology", "Ophthalmology", "Pediatrics - Neonatal", "Psychiatry / Psychology",
)
SPEC12_MERGE: dict[str, str] = {"Neurosurgery": "Neurology", "Nephrology": "Urology"}

PRESETS: tuple[str, ...] = get_args(LabelPreset)  # one list of presets: the config's


def clean_label(label: object) -> str:
    """Strip surrounding whitespace; missing labels become the empty string."""
    if label is None or (isinstance(label, float) and label != label):
        return ""
    return " ".join(str(label).split())


@dataclass(frozen=True)
class LabelPolicy:
    """A resolved policy. ``apply(label)`` returns the target class or ``None`` (excluded)."""

    name: str
    keep: Optional[frozenset] = None  # None = keep every label
    drop: frozenset = frozenset()
    merge: dict = field(default_factory=dict)
    min_samples: int = 0
    strict: bool = False
    known: frozenset = frozenset(MTSAMPLES_LABELS)

    def is_known(self, label: str) -> bool:
        """A label the policy was written for (strict policies refuse all others)."""
        return (
            label in self.known
            or label in self.merge
            or label in self.drop
            or (self.keep is not None and label in self.keep)
        )

    def apply(self, label: str) -> Optional[str]:
        """Map a cleaned label to its class, or ``None`` when the policy excludes it."""
        if not label or label in self.drop:
            return None
        target = self.merge.get(label, label)
        if self.keep is not None and label not in self.keep and target not in self.keep:
            return None
        return target

    def describe(self) -> dict:
        return {
            "name": self.name,
            "keep": sorted(self.keep) if self.keep is not None else None,
            "drop": sorted(self.drop),
            "merge": dict(sorted(self.merge.items())),
            "min_samples": self.min_samples,
            "strict": self.strict,
        }


def resolve_policy(settings: LabelSettings, preset: Optional[str] = None) -> LabelPolicy:
    """Build the policy for ``preset`` (default: ``settings.preset``) refined by settings."""
    name = preset or settings.preset
    if name not in PRESETS:
        raise ConfigError(f"unknown label preset {name!r}; choose one of {list(PRESETS)}")
    keep: Optional[set] = None
    merge: dict = {}
    if name == "spec12":
        keep = set(SPEC12_KEEP)
        merge = dict(SPEC12_MERGE)
    if settings.keep is not None:
        keep = {clean_label(k) for k in settings.keep}
    for src, dst in settings.merge.items():
        merge[clean_label(src)] = clean_label(dst)
    if keep is not None:
        # a merge target must survive the keep filter, and so must its sources
        keep |= {dst for src, dst in merge.items() if src in keep}
    return LabelPolicy(
        name=name,
        keep=frozenset(keep) if keep is not None else None,
        drop=frozenset(clean_label(d) for d in settings.drop),
        merge=merge,
        min_samples=settings.min_samples,
        strict=settings.strict,
    )
