"""Request bodies of ``POST /invocations`` -> notes, and the errors a client can act on.

Accepted: ``application/json`` (``{"inputs": "note" | ["note", ...], "top_k": k,
"inference_id": "..."}``), ``text/csv`` (one note per row, RFC 4180 quoting) and
``application/jsonlines`` (one ``{"inputs": "note"}`` per line). Every message names a field,
a position or a limit, never note text.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from medtx.errors import InputError
from medtx.serving.contract import CUSTOM_ATTRIBUTES_HEADER

JSON_TYPES = {"application/json"}
CSV_TYPES = {"text/csv"}
JSONLINES_TYPES = {"application/jsonlines", "application/x-jsonlines", "application/jsonl"}
ACCEPTED = sorted(JSON_TYPES | CSV_TYPES | JSONLINES_TYPES)
JSON_FIELDS = {"inputs", "top_k", "inference_id"}
MAX_INFERENCE_ID = 256  # characters; SageMaker's InferenceId is at most 64
_SHOWN = 10


class RequestError(InputError):
    """A request the server refuses; ``status`` is the HTTP status, ``code`` a short name."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class Request:
    """A parsed request: notes, the encoding captured for it, optional top_k and inference id."""

    notes: list[str]
    encoding: str  # "JSON" or "CSV" (SageMaker capture encodings)
    top_k: Optional[int] = None
    inference_id: Optional[str] = None
    truncated: list[int] = field(default_factory=list)


def _positions(bad: list[int]) -> str:
    shown = ", ".join(str(i) for i in bad[:_SHOWN])
    return shown + (f" (and {len(bad) - _SHOWN} more)" if len(bad) > _SHOWN else "")


def bad(message: str, code: str = "bad_request") -> RequestError:
    return RequestError(400, code, message)


def media_type(content_type: Optional[str]) -> str:
    """``"Application/JSON; charset=utf-8"`` -> ``"application/json"``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad("request body is not valid UTF-8", "bad_encoding") from None


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        pos = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise bad(f"{where} is not valid JSON{pos}", "malformed_json") from None


def _check_notes(notes: list[Any], what: str) -> list[str]:
    wrong = [i for i, t in enumerate(notes) if not isinstance(t, str)]
    if wrong:
        kinds = sorted({type(notes[i]).__name__ for i in wrong})
        raise bad(f"{len(wrong)} {what} are not text ({', '.join(kinds)}) at position(s) "
                  f"{_positions(wrong)}", "note_not_text")
    blank = [i for i, t in enumerate(notes) if not t.strip()]
    if blank:
        raise bad(f"{len(blank)} {what} are empty or whitespace only at position(s) "
                  f"{_positions(blank)}", "empty_note")
    return notes


def _from_json(text: str) -> Request:
    doc = _json(text, "request body")
    if not isinstance(doc, dict):
        raise bad(f"request body must be a JSON object with 'inputs', got a JSON "
                  f"{type(doc).__name__}", "bad_field")
    unknown = sorted(set(doc) - JSON_FIELDS)
    if unknown:
        names = ", ".join(repr(k[:40]) for k in unknown[:_SHOWN])
        raise bad(f"unknown field(s) {names}; accepted: {', '.join(sorted(JSON_FIELDS))}", "bad_field")
    if "inputs" not in doc:
        raise bad("field 'inputs' is missing (a note or a list of notes)", "missing_field")
    inputs = doc["inputs"]
    if isinstance(inputs, str):
        notes = [inputs]
    elif isinstance(inputs, list):
        if not inputs:
            raise bad("field 'inputs' is an empty list", "empty_note")
        notes = inputs
    else:
        raise bad(f"field 'inputs' must be a string or a list of strings, got "
                  f"{_kind(inputs)}", "note_not_text")
    top_k = doc.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise bad(f"field 'top_k' must be an integer >= 1, got {_kind(top_k)}", "bad_field")
    inference_id = doc.get("inference_id")
    if inference_id is not None:
        inference_id = check_inference_id(inference_id, "field 'inference_id'")
    return Request(_check_notes(notes, "note(s) in 'inputs'"), "JSON", top_k, inference_id)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _from_csv(text: str) -> Request:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise bad(f"request body is not valid CSV ({exc})", "malformed_csv") from None
    rows = [r for r in rows if r]  # blank lines between rows carry no note
    wide = [i for i, r in enumerate(rows) if len(r) != 1]
    if wide:
        raise bad(f"{len(wide)} CSV row(s) have more than one field at row(s) {_positions(wide)}: "
                  "one note per row, quote notes that contain commas", "malformed_csv")
    if not rows:
        raise bad("CSV body holds no note", "empty_note")
    return Request(_check_notes([r[0] for r in rows], "CSV row(s)"), "CSV")


def _from_jsonlines(text: str) -> Request:
    notes: list[Any] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        doc = _json(line, f"line {n}")
        if not isinstance(doc, dict) or "inputs" not in doc:
            raise bad(f"line {n} must be a JSON object with field 'inputs'", "missing_field")
        unknown = set(doc) - {"inputs"}
        if unknown:
            raise bad(f"line {n} has unknown field(s); accepted: 'inputs'", "bad_field")
        notes.append(doc["inputs"])
    if not notes:
        raise bad("JSON Lines body holds no line", "empty_note")
    return Request(_check_notes(notes, "line(s)"), "JSON")


def check_inference_id(value: Any, where: str = "inference id") -> str:
    """An inference id: a non-empty printable string of at most 256 characters."""
    if not isinstance(value, str) or not value.strip():
        raise bad(f"{where} must be a non-empty string", "bad_field")
    if len(value) > MAX_INFERENCE_ID or not value.isprintable():
        raise bad(f"{where} must be printable and at most {MAX_INFERENCE_ID} characters", "bad_field")
    return value


def parse_request(body: bytes, content_type: Optional[str]) -> Request:
    """Parse a body by its content type; :class:`RequestError` (400/415) when it is refused."""
    kind = media_type(content_type)
    if kind in JSON_TYPES:
        return _from_json(_decode(body))
    if kind in CSV_TYPES:
        return _from_csv(_decode(body))
    if kind in JSONLINES_TYPES:
        return _from_jsonlines(_decode(body))
    shown = repr(kind[:60]) if kind else "none"
    raise RequestError(415, "unsupported_media_type",
                       f"content type {shown} is not accepted; use one of {', '.join(ACCEPTED)}")




def top_k_from_attributes(header: Optional[str]) -> Optional[int]:
    """``top_k`` from SageMaker's custom-attributes header (``top_k=5``, pairs separated by
    ``,`` or ``;``), the way CSV and JSON Lines bodies ask for it; None when absent."""
    for pair in (header or "").replace(";", ",").split(","):
        key, _, value = pair.partition("=")
        if key.strip().lower() == "top_k":
            if not value.strip().isdigit() or int(value) < 1:
                raise RequestError(400, "bad_field", f"header {CUSTOM_ATTRIBUTES_HEADER}: top_k "
                                   "must be an integer >= 1")
            return int(value)
    return None


def apply_limits(req: Request, max_notes: int, max_chars: int, overflow: str) -> Request:
    """Notes per request (413) and characters per note (413, or cut to ``max_chars``)."""
    if len(req.notes) > max_notes:
        raise RequestError(413, "too_many_notes",
                           f"{len(req.notes)} notes in one request; at most {max_notes}")
    long = [i for i, t in enumerate(req.notes) if len(t) > max_chars]
    if long and overflow != "truncate":
        raise RequestError(413, "note_too_long",
                           f"{len(long)} note(s) longer than {max_chars} characters at position(s) "
                           f"{_positions(long)}")
    for i in long:
        req.notes[i] = req.notes[i][:max_chars]
    req.truncated = long
    return req
