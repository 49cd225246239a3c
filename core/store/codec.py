"""The stored text forms shared by the management stores: compact JSON and Redis replies as text."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON: the same value always gives the same text."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def fold(name: str) -> str:
    """The form a name is claimed under: names differing only in case clash."""
    return name.casefold()
