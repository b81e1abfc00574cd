"""Redacted previews of note text for quarantine tables and reports.

A preview helps a person recognise what kind of row was quarantined (a header, a fragment, a
garbled line) without exposing identifiers: every digit becomes ``#`` and every capitalised word
that is not an ALL-CAPS section header is cut to its initial (``John Smith`` -> ``J. S.``).
"""
from __future__ import annotations

import re

PREVIEW_CHARS = 40

_WORD = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*")
_DIGIT = re.compile(r"\d")


def _initial(match: re.Match) -> str:
    word = match.group(0)
    if word[0].isupper() and not word.isupper():
        return word[0] + "."
    return word


def redact_preview(text: object, limit: int = PREVIEW_CHARS) -> str:
    """A whitespace-collapsed, redacted preview of at most ``limit`` characters.

    Missing values give ``""``. Only the first few hundred characters are looked at, so a
    multi-megabyte note costs no more than a short one.
    """
    if not isinstance(text, str):
        return ""
    head = " ".join(text[: limit * 8].split())
    redacted = _WORD.sub(_initial, _DIGIT.sub("#", head))
    return redacted[:limit].rstrip()
