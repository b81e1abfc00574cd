"""The building blocks of the settings classes: strict, bounded field types and ``section``,
the decorator that makes a class a frozen, validating, hashable config section."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import field
from typing import Annotated, Any, TypeVar

from annotated_types import Ge, Gt, Le, Lt
from pydantic import ConfigDict, Strict
from pydantic.dataclasses import dataclass
from typing_extensions import dataclass_transform  # 3.10 has no typing.dataclass_transform

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # strict float still takes an int (3 -> 3.0), never a bool
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
StrList = Annotated[list[Str], Strict()]
StrMap = Annotated[dict[Str, Str], Strict()]
Count = Annotated[int, Strict(), Ge(1)]  # 1, 2, ...
NonNegInt = Annotated[int, Strict(), Ge(0)]
PosFloat = Annotated[float, Strict(), Gt(0)]
NonNegFloat = Annotated[float, Strict(), Ge(0)]
Fraction = Annotated[float, Strict(), Gt(0), Lt(1)]  # open interval (0, 1)
Share = Annotated[float, Strict(), Ge(0), Le(1)]  # closed interval [0, 1]
Percent = Annotated[float, Strict(), Ge(0), Le(100)]
Port = Annotated[int, Strict(), Ge(1), Le(65535)]

_T = TypeVar("_T")


def _stable_hash(self: Any) -> int:
    """Hash of the section's content (sections hold lists and dicts, so not field-wise)."""
    return hash(json.dumps(dataclasses.asdict(self), sort_keys=True, default=str))


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def section(cls: type[_T]) -> type[_T]:
    """A frozen, validating config section, hashable by content and picklable."""
    made: Any = dataclass(frozen=True, config=ConfigDict(extra="forbid"))(cls)
    made.__hash__ = _stable_hash
    return made
