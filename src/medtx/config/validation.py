"""Config validation that is not an annotation: messages naming the dotted key, and the value
checks that span fields. Nothing here imports the settings classes (``check_values`` takes a
:class:`~medtx.config.settings.Settings`), so they can validate their own copies
(``Settings.with_overrides``)."""
from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any, Optional

from pydantic import ValidationError

from medtx.errors import ConfigError

#: the shortest token window a model may use (special tokens included)
MIN_MAX_LENGTH = 16
_ACCOUNT_ID = re.compile(r"\d{12}")
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_-]+")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+")
_EXPECTED = {
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "dataclass_type": "must be an object (a config section)",
}
_BOUNDS = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="),
           "less_than": ("lt", "<"), "less_than_equal": ("le", "<=")}
_UNKNOWN = ("unexpected_keyword_argument", "extra_forbidden")


def _key(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: Any) -> str:
    if value is None or isinstance(value, (bool, int, float, str)):
        text = repr(value)
        return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"
    return type(value).__name__


def _section_at(loc: tuple, root: type) -> Optional[type]:
    """The section dataclass found at ``loc`` under ``root`` (dict values skip their key)."""
    tp: Any = root
    for part in loc:
        if dataclasses.is_dataclass(tp):
            tp = typing.get_type_hints(tp).get(str(part))
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
        if typing.get_origin(tp) is typing.Union:  # Optional[X]
            tp = next((a for a in typing.get_args(tp) if a is not type(None)), None)
    return tp if isinstance(tp, type) and dataclasses.is_dataclass(tp) else None


def describe(exc: ValidationError, root: type) -> str:
    """One message naming every offending dotted key of a pydantic error over ``root``."""
    unknown: dict[tuple, list[str]] = {}
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        loc, kind = tuple(err["loc"]), err["type"]
        if kind in _UNKNOWN:
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
        elif kind == "missing":
            problems.append(f"missing required config key {_key(loc)!r}")
        else:
            if kind == "literal_error":
                expected = f"must be {err.get('ctx', {}).get('expected', 'one of the allowed values')}"
            elif kind in _BOUNDS:
                name, sign = _BOUNDS[kind]
                bound = err.get("ctx", {}).get(name)
                expected = f"must be {sign} {bound:g}" if isinstance(bound, (int, float)) else f"must be {sign} {bound}"
            else:
                expected = _EXPECTED.get(kind, f"is invalid ({err['msg']})")
            problems.append(f"config key {_key(loc)!r} {expected}, got {_shown(err.get('input'))}")
    for where, names in reversed(unknown.items()):
        section = _section_at(where, root)
        allowed = f"; allowed: {sorted(f.name for f in dataclasses.fields(section))}" if section else ""
        place = f" in section {_key(where)!r}" if where else ""
        problems.insert(0, f"unknown config key(s) {sorted(names)}{place}{allowed}")
    return "; ".join(problems) or str(exc)


def check_values(s: Any) -> None:
    """The checks that span fields (split sizes, token windows, recipe knobs, accounts); the
    bounds of single values are annotations on the settings classes."""
    if s.split.test_size + s.split.val_size >= 0.9:
        raise ConfigError("split.test_size + split.val_size must leave at least 10% for training")
    if s.model.long_note == "head_tail" and not s.model.head_tokens < s.model.max_length - 2:
        raise ConfigError("model.head_tokens must be smaller than model.max_length - 2")
    if s.train.window_sampling == "pooled" and s.model.long_note != "chunks":
        raise ConfigError("train.window_sampling 'pooled' pools the chunk windows of a note; "
                          "it needs model.long_note 'chunks'")
    if s.data.max_chars <= s.data.min_chars:
        raise ConfigError("data.max_chars must be above data.min_chars")
    c = s.compute
    if c.backend == "sagemaker":
        if not c.image or not c.role or not (c.s3_prefix or s.aws.s3_root):
            raise ConfigError("compute.backend 'sagemaker' needs compute.image, compute.role and "
                              "compute.s3_prefix (or aws.s3_root)")
        if c.spot and (c.max_wait_s is None or c.max_wait_s < c.max_run_s):
            raise ConfigError("compute.spot needs compute.max_wait_s >= compute.max_run_s")
    if s.compute.backend == "batch" and not s.compute.queue:
        raise ConfigError("compute.backend 'batch' needs compute.queue (an AWS Batch job queue)")
    _check_deploy(s.deploy)
    _check_monitor(s.monitor, s.deploy)
    _check_project(s.project)
    _check_aws(s.aws)
    if s.monitor.account is not None and s.monitor.account not in s.aws.accounts:
        raise ConfigError(f"monitor.account {s.monitor.account!r} is not an account in "
                          f"aws.accounts (known: {sorted(s.aws.accounts)})")
    if s.registry.account is not None and s.registry.account not in s.aws.accounts:
        raise ConfigError(f"registry.account {s.registry.account!r} is not an account in "
                          f"aws.accounts (known: {sorted(s.aws.accounts)})")


def _check_role(arn: str, key: str, account_id: Optional[str]) -> None:
    match = _ROLE_ARN.fullmatch(arn)
    if not match:
        raise ConfigError(f"{key} must be an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>), "
                          f"got {arn!r}")
    if account_id and match.group(1) != account_id:
        raise ConfigError(f"{key} is a role in account {match.group(1)}, "
                          f"but the account_id beside it is {account_id}")


def _check_aws(aws: Any) -> None:
    if aws.account_id is not None and not _ACCOUNT_ID.fullmatch(aws.account_id):
        raise ConfigError(f"aws.account_id must be 12 digits, got {aws.account_id!r}")
    if aws.role_arn is not None:
        _check_role(aws.role_arn, "aws.role_arn", aws.account_id)
    for name, account in aws.accounts.items():
        key = f"aws.accounts.{name}"
        if not _ACCOUNT_NAME.fullmatch(name):
            raise ConfigError(f"account name {name!r} in aws.accounts may only use letters, "
                              "digits, _ and -")
        if not _ACCOUNT_ID.fullmatch(account.account_id):
            raise ConfigError(f"{key}.account_id must be 12 digits, got {account.account_id!r}")
        _check_role(account.role_arn, f"{key}.role_arn", account.account_id)


MONITOR_SIGNALS = ("chars", "words", "headers", "non_letter_share", "empty", "oov_rate",
                   "input_mmd", "input_classifier", "predicted_label", "confidence")


def _check_project(p: Any) -> None:
    import re

    for key, value in (("name", p.name), ("branch", p.branch)):
        if value is not None and not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", value):
            raise ConfigError(f"project.{key} must be 1-40 lower-case letters, digits, '_' or '-' "
                              f"starting with a letter or digit, got {value!r}")


def _check_monitor(m: Any, deploy: Any) -> None:
    if m.stage not in deploy.targets:
        raise ConfigError(f"monitor.stage {m.stage!r} is not a stage in deploy.targets "
                          f"(known: {sorted(deploy.targets)})")
    sides = set(m.reference_sides)
    if not sides or not sides <= {"val", "test"} or len(sides) != len(m.reference_sides):
        raise ConfigError(f"monitor.reference_sides: held-out sides, distinct, among val and "
                          f"test, got {m.reference_sides}")
    unknown = [s for s in m.retrain_on if s not in MONITOR_SIGNALS]
    if unknown:
        raise ConfigError(f"monitor.retrain_on names unknown signals {unknown} "
                          f"(known: {list(MONITOR_SIGNALS)})")


def _check_deploy(d: Any) -> None:
    missing = [name for name in d.stages if name not in d.targets]
    if missing:
        raise ConfigError(f"deploy.stages {missing} have no entry in deploy.targets "
                          f"(known: {sorted(d.targets)})")
    if len(set(d.stages)) != len(d.stages):
        raise ConfigError(f"deploy.stages lists a stage twice: {d.stages}")
    for name, t in d.targets.items():
        key = f"deploy.targets.{name}"
        if t.serverless_memory_mb is not None and (
                t.serverless_memory_mb not in range(1024, 6145, 1024)):
            raise ConfigError(f"{key}.serverless_memory_mb must be 1024..6144 in steps of 1024")
        if t.traffic != "ALL_AT_ONCE" and not 1 <= t.canary_percent <= 50:
            raise ConfigError(f"{key}.canary_percent must be within 1..50 for {t.traffic}")
    ports = [d.targets[n].port for n in d.stages if d.targets[n].target == "local"]
    if len(set(ports)) != len(ports):
        raise ConfigError(f"local deploy stages share a port: {ports}")
    for name, h in d.handoff_to.items():
        if not h.webhook_url.startswith(("https://", "http://")) or not h.event:
            raise ConfigError(f"deploy.handoff_to.{name}: webhook_url must be an http(s) URL "
                              "and event non-empty")
