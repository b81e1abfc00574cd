"""The timestamps medtx's stores write (registry audit, local endpoints, monitoring state)."""
from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> str:
    """Current time as ISO 8601 UTC with microseconds (sortable as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
