"""One AWS call, its botocore failure turned into the caller's typed error naming the call."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional


def _failed(what: str, error: type[Exception], exc: Exception) -> Exception:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return error(f"{what} failed: {err.get('Code')}: {err.get('Message')}")
    return error(f"{what} failed: {exc}")


def aws_call(what: str, error: type[Exception], fn: Callable[..., Any], **kwargs: Any) -> Any:
    """``fn(**kwargs)``; a ClientError or BotoCoreError (waiters included) becomes
    ``error("<what> failed: <code>: <message>")``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise _failed(what, error, exc) from None


def describe_or_none(what: str, error: type[Exception], fn: Callable[..., Any],
                     **kwargs: Any) -> Optional[dict]:
    """:func:`aws_call` for a ``describe_*`` call, with None when the resource does not exist
    (SageMaker answers ``Could not find ...``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        if "Could not find" in str(exc.response.get("Error", {}).get("Message", "")):
            return None
        raise _failed(what, error, exc) from None
    except BotoCoreError as exc:
        raise _failed(what, error, exc) from None
