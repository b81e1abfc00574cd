"""Validation stage: run the great-expectations suites in ``data_checks/`` over an ingested frame.

``schema`` (required columns, rows) on the raw frame; ``rows`` (quarantine) and ``table`` (encoding
damage, label leak, strict labels) on helper columns (lengths, flags, labels: GX never sees note
text); then the label policy and (text, label) de-duplication; last ``classes`` (a split must be
possible). A failed table-level check raises :class:`DataValidationError`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from medtx.config import Settings
from medtx.config.paths import data_checks_dirs
from medtx.data.labels import LabelPolicy, clean_label
from medtx.data.redact import redact_preview
from medtx.errors import ConfigError, DataValidationError

LEAK_WINDOW = 60  # characters at the start of a text searched for its own label
#: U+FFFD, or a UTF-8 lead byte read as cp1252/latin-1 ("Ã©", "Â°", "â€™") followed by a
#: continuation byte (0x80-0xBF) read the same way.
_CONTINUATION = "\u0080-\u00bf" + bytes(range(0x80, 0xA0)).decode("cp1252", errors="ignore")
MOJIBAKE = re.compile(f"\ufffd|[\u00c2\u00c3][{_CONTINUATION}]|\u00e2\u20ac")


@dataclass(frozen=True)
class CheckResult:
    name: str  # e.g. "required_columns", "leak_guard", "empty_text"
    reason: str  # one line: why this check exists (from the suite file's meta)
    level: str  # "table" (fails the run) | "row" (quarantines rows)
    passed: bool
    unexpected: int  # rows failing a row-level check; 0 for table checks
    observed: Any  # JSON-serialisable observed value
    details: str = ""  # human text, never note text


@dataclass(frozen=True)
class ValidationReport:
    notes: pd.DataFrame  # note_id, text, label, group
    quarantine: pd.DataFrame  # row_id, note_id, reason, label, n_chars, preview (redacted)
    checks: list[CheckResult]
    counts: dict[str, int]
    label_counts: dict[str, int]
    policy: dict

    def summary(self) -> dict:
        """Everything but the frames, JSON-serialisable, for cards and logs."""
        reasons = self.quarantine["reason"].value_counts().sort_index()
        return {"counts": dict(self.counts), "label_counts": dict(self.label_counts),
                "policy": self.policy, "checks": [asdict(c) for c in self.checks],
                "quarantine_reasons": {str(k): int(v) for k, v in reasons.items()}}


def note_group(text: str) -> str:
    """sha1 hex of the lower-cased, whitespace-collapsed text: identical notes share a group."""
    return hashlib.sha1(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def suite_path(name: str) -> Path:
    """``<name>.json`` in ``$MEDTX_DATA_CHECKS``, else ``data_checks/`` of the source tree or cwd."""
    candidates = [d / f"{name}.json" for d in data_checks_dirs()]
    for path in (p for p in candidates if p.is_file()):
        return path
    raise ConfigError(f"data check suite {name!r} not found; looked at {[str(p) for p in candidates]}")


def _suite_dict(name: str) -> dict:
    try:
        suite = json.loads(suite_path(name).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"data check suite {name!r} is not valid JSON: {exc}") from None
    if any(not {"name", "level", "reason"} <= set(e.get("meta", {})) for e in suite["expectations"]):
        raise ConfigError(f"data check suite {name!r}: every expectation needs meta name/level/reason")
    return suite


class _SuiteRunner:
    """One ephemeral GX context per validation; validates suites over in-memory frames."""

    def __init__(self, params: dict) -> None:
        os.environ["GX_ANALYTICS_ENABLED"] = "false"
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx, self.params = gx, params
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        asset = context.data_sources.add_pandas("medtx_validation").add_dataframe_asset("frame")
        self._batches = asset.add_batch_definition_whole_dataframe("whole")

    def run(self, name: str, frame: pd.DataFrame, skip: frozenset = frozenset()
            ) -> tuple[list[CheckResult], dict[str, list]]:
        """Results in suite order plus failing index values; ``meta.applies`` in skip: not run."""
        raw = _suite_dict(name)
        index_column = raw.get("meta", {}).get("index_column", "row_id")
        metas = [e["meta"] for e in raw["expectations"]]
        raw["expectations"] = [e for e in raw["expectations"] if e["meta"].get("applies") not in skip]
        batch = self._batches.get_batch(batch_parameters={"dataframe": frame})
        fmt = {"result_format": "COMPLETE", "unexpected_index_column_names": [index_column],
               "return_unexpected_index_query": False}
        try:
            outcome = batch.validate(self._gx.ExpectationSuite(**raw), result_format=fmt,
                                     expectation_parameters=self.params)
        except self._gx.exceptions.SuiteParameterError as exc:
            raise ConfigError(f"data check suite {name!r}: {exc}") from None
        by_name = {r.expectation_config.meta["name"]: r for r in outcome.results
                   if r.expectation_config is not None}
        checks, failing = [], {}
        for meta in metas:
            if meta.get("applies") in skip:
                checks.append(CheckResult(meta["name"], meta["reason"], meta["level"], True, 0,
                                          None, f"not applied: needs {meta['applies']}"))
                continue
            check, failing[meta["name"]] = _to_check(meta, by_name[meta["name"]], index_column,
                                                     len(frame))
            checks.append(check)
        return checks, failing


def _to_check(meta: dict, result: Any, index_column: str, n_rows: int) -> tuple[CheckResult, list]:
    """One GX result -> CheckResult + failing index values; a check that crashed is a ConfigError."""
    info = result.exception_info or {}
    for item in [info] if "raised_exception" in info else list(info.values()):
        if isinstance(item, dict) and item.get("raised_exception"):
            first = str(item.get("exception_message") or "").splitlines()[:1]  # no data values
            raise ConfigError(f"data check {meta['name']!r} could not run: {first}")
    res, kwargs = result.result or {}, result.expectation_config.kwargs
    index = [row[index_column] for row in res.get("unexpected_index_list") or []]
    unexpected = int(res.get("unexpected_count") or 0)
    bounds = f"[{kwargs.get('min_value', '')}, {kwargs.get('max_value', '')}]".replace("None", "")
    if meta["level"] == "row":
        index = [int(i) for i in index]
        observed: Any = round(unexpected / n_rows, 6) if n_rows else 0.0
        details = f"{unexpected} of {n_rows} rows"
    elif "mismatched" in res.get("details", {}):
        observed = sorted(res["details"]["mismatched"].get("missing", []))
        details = f"missing column(s) {observed}" if observed else "all present"
    elif "observed_value" in res:
        observed = _plain(res["observed_value"])
        observed = round(observed, 6) if isinstance(observed, float) else observed
        details = f"observed {observed}, allowed {bounds}"
    elif index_column == "row_id":  # a value check over rows: report the distinct bad values
        observed = sorted({str(v) for v in res.get("unexpected_list") or []})
        details = f"unexpected value(s) {observed}" if observed else "all expected"
    else:  # one row per named item (e.g. class): report item -> value
        rows = res.get("unexpected_index_list") or []
        observed = {str(r[index_column]): _plain(r[kwargs["column"]]) for r in rows}
        details = f"outside {bounds}: {observed}" if observed else f"all within {bounds}"
    if not result.success and meta.get("action"):
        details += f" -> {meta['action']}"
    check = CheckResult(meta["name"], meta["reason"], meta["level"], bool(result.success),
                        unexpected if meta["level"] == "row" else 0, observed, details)
    return check, index


def _plain(value: Any) -> Any:
    """numpy scalars (also inside lists and dicts) -> plain JSON types."""
    return json.loads(json.dumps(value, default=lambda v: v.item()))


def _as_text(value: Any) -> str:
    """Stripped text; missing cells become ""."""
    return value.strip() if isinstance(value, str) else "" if pd.isna(value) else str(value).strip()


def _is_damaged(text: str) -> bool:
    """U+FFFD or mojibake anywhere in the text (cheap substring test before the regex)."""
    return any(c in text for c in "\ufffd\u00c2\u00c3\u00e2") and MOJIBAKE.search(text) is not None


def _carries_label(text: str, label: str) -> bool:
    """The label name appears, as whole words, in the first LEAK_WINDOW characters."""
    if not text or not label:
        return False
    head = " ".join(text[: LEAK_WINDOW * 4].lower().split())[:LEAK_WINDOW]
    return re.search(r"(?<!\w)" + re.escape(label.lower()) + r"(?!\w)", head) is not None


def _flags(flags: list[bool], measurable: pd.Series) -> pd.Series:
    """1.0/0.0 where measurable, NaN elsewhere, so a mean counts measurable rows only."""
    values = pd.Series(flags, dtype="float64").where(measurable.to_numpy())
    return values if measurable.any() else values.fillna(0.0)


def _helpers(raw: pd.DataFrame, text: pd.Series, label: pd.Series) -> pd.DataFrame:
    """Per-row helper columns the suites check; they carry no note text."""
    has_text, has_label = text != "", label != ""
    others = [c for c in raw.columns if c != "row_id"]
    first_row = raw.groupby(others, dropna=False, sort=False)["row_id"].transform("first")
    return pd.DataFrame({
        "row_id": raw["row_id"].to_numpy(),
        "_n_chars": text.str.len().astype("float64").where(has_text),
        "_label": label.where(has_label),
        "_damaged": _flags([_is_damaged(t) for t in text], has_text),
        "_leaks": _flags([_carries_label(t, lb) for t, lb in zip(text, label)], has_text & has_label),
        "_first_row": first_row.to_numpy(),
    })


def _raise_failed(checks: list[CheckResult], context: str = "") -> None:
    failed = [c for c in checks if c.level == "table" and not c.passed]
    if failed:
        parts = "; ".join(f"{c.name}: {c.details}" for c in failed)
        raise DataValidationError(f"data validation failed: {parts}{context}",
                                  failed=[c.name for c in failed])


def _quarantine(helpers: pd.DataFrame, raw_text: Any, checks: list[CheckResult],
                failing: dict[str, list]) -> pd.DataFrame:
    """One row per quarantined input row, with the first failed row check as its reason."""
    # later checks are written first, so the first failed check in suite order wins
    reasons = {row_id: c.name for c in reversed(checks) for row_id in failing[c.name]}
    mask = helpers["row_id"].isin(list(reasons)).to_numpy()
    rows = helpers[mask]
    return pd.DataFrame({
        "row_id": rows["row_id"].astype("int64").to_numpy(),
        "note_id": pd.Series([f"r{i}" for i in rows["row_id"]], dtype="str"),
        "reason": pd.Series([reasons[i] for i in rows["row_id"]], dtype="str"),
        "label": rows["_label"].fillna("").astype("str").to_numpy(),
        "n_chars": rows["_n_chars"].fillna(0).astype("int64").to_numpy(),
        "preview": pd.Series([redact_preview(t) for t in raw_text[mask]], dtype="str"),
    })


def _apply_policy(helpers: pd.DataFrame, text: pd.Series, policy: LabelPolicy
                  ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Notes after the label policy, min_samples and (group, label) de-duplication."""
    frame = pd.DataFrame({
        "note_id": pd.Series([f"r{i}" for i in helpers["row_id"]], dtype="str"),
        "text": text.to_numpy(),
        "label": [policy.apply(lab) for lab in helpers["_label"]],
        "group": pd.Series([note_group(t) for t in text], dtype="str"),
        "source": helpers["_label"].to_numpy(),
    })
    excluded = int(frame["label"].isna().sum())
    frame = frame[frame["label"].notna()]
    if policy.min_samples > 0:
        per_class = frame.groupby("label")["group"].nunique()
        small = frame["label"].isin(per_class[per_class < policy.min_samples].index)
        excluded += int(small.sum())
        frame = frame[~small]
    notes = frame.drop_duplicates(["group", "label"], keep="first")
    counts = {"excluded_by_policy": excluded, "merged": int((notes["label"] != notes["source"]).sum()),
              "duplicate_pairs_removed": len(frame) - len(notes)}
    return notes.drop(columns="source").astype({"label": "str"}).reset_index(drop=True), counts


def validate(raw: pd.DataFrame, settings: Settings, policy: LabelPolicy) -> ValidationReport:
    """Run every data check; quarantine bad rows; apply the label policy; return the notes.

    Raises DataValidationError naming each failed table-level check and what it observed.
    """
    data = settings.data
    runner = _SuiteRunner({  # suite parameters: thresholds from settings
        "required_columns": sorted({data.text_field, data.label_field}),
        "min_chars": data.min_chars, "max_chars": data.max_chars, "known_labels": [],
        "max_encoding_damage_frac": data.max_encoding_damage_frac, "leak_guard_frac": data.leak_guard_frac})
    checks, _ = runner.run("schema", raw)  # before anything reads the text or label column
    _raise_failed(checks)
    if "row_id" not in raw.columns:
        raw = raw.assign(row_id=range(len(raw)))
    text = raw[data.text_field].map(_as_text).reset_index(drop=True).astype("str")
    helpers = _helpers(raw, text, raw[data.label_field].map(clean_label).reset_index(drop=True))
    present = helpers["_label"].dropna().unique()
    runner.params["known_labels"] = sorted(str(lab) for lab in present if policy.is_known(lab))
    row_checks, failing = runner.run("rows", helpers)
    not_applied = frozenset() if policy.strict else frozenset({"strict_policy"})
    table_checks, _ = runner.run("table", helpers, not_applied)
    checks += row_checks + table_checks
    _raise_failed(table_checks)

    quarantine = _quarantine(helpers, raw[data.text_field].to_numpy(), row_checks, failing)
    keep = ~helpers["row_id"].isin(quarantine["row_id"]).to_numpy()
    notes, policy_counts = _apply_policy(helpers[keep], text[keep], policy)
    per_class = notes.groupby("label")["group"].nunique().sort_index()
    class_checks, _ = runner.run("classes", pd.DataFrame(
        {"label": per_class.index.astype("str"), "n_notes": per_class.to_numpy()}))
    checks += class_checks
    reasons = quarantine["reason"].value_counts().to_dict()
    _raise_failed(class_checks, f" (of {len(raw)} rows: {len(quarantine)} quarantined {reasons}, "
                                f"{policy_counts['excluded_by_policy']} excluded by label policy)")

    counts = {"rows_in": len(raw), "quarantined": len(quarantine), **policy_counts,
              "notes_out": len(notes), "classes": len(per_class),
              "distinct_texts": int(notes["group"].nunique()),
              "label_conflict_texts": int((notes.groupby("group")["label"].nunique() > 1).sum())}
    label_counts = {str(k): int(v) for k, v in notes["label"].value_counts().sort_index().items()}
    return ValidationReport(notes, quarantine, checks, counts, label_counts, policy.describe())
