"""Typed errors: every failure a user can act on has a class and a message naming the problem.

Messages never contain note text (clinical data): only counts, ids, column names and hashes.
"""
from __future__ import annotations


class MedtxError(Exception):
    """Base class for every error medtx raises on purpose."""


class ConfigError(MedtxError, ValueError):
    """A configuration file or override is malformed (unknown key, missing key, bad value)."""


class InputError(MedtxError, ValueError):
    """Notes given for prediction are malformed (not a list of non-empty strings).

    Messages name positions in the request, never the text.
    """


class IngestError(MedtxError):
    """The input data cannot be read: missing path or S3 key, empty file, not a CSV, not UTF-8."""


class DataValidationError(MedtxError):
    """Table-level data checks failed. ``failed`` lists the names of the failed checks."""

    def __init__(self, message: str, failed: list[str] | None = None):
        super().__init__(message)
        self.failed = list(failed or [])


class ModelLoadError(MedtxError):
    """Model weights or a model package cannot be loaded (offline hub id, missing files)."""


class IntegrityError(ModelLoadError):
    """A model package file does not match its manifest (tampered or corrupted)."""


class TrainingError(MedtxError):
    """Training cannot proceed (e.g. too few samples for the configured split)."""


class GateFailed(MedtxError):
    """A model did not pass the approval gate and an action required it to."""


class RegistryError(MedtxError):
    """A registry operation is invalid (unknown version, refused status transition, backend error)."""


class MonitorError(MedtxError):
    """Monitoring cannot judge a window (no reference profile, state unusable, bad capture)."""


class RehearsalError(MedtxError):
    """A flow of the local rehearsal (``medtx pipeline``) failed or the loop cannot go on."""
