"""What a management write can be refused for. The API maps each to its status (404, 409, 412)."""

from __future__ import annotations

from core.errors import Refusal


class StoreRefusal(Refusal):
    """A write refused as a whole: nothing of it was stored."""


class NotFound(StoreRefusal):
    """No such collector, source or field (or it is being deleted)."""


class NameTaken(StoreRefusal):
    """The name is already used in its scope (collectors, a collector's sources, fields)."""


class StaleVersion(StoreRefusal):
    """The `If-Match` version is not the stored one: someone else changed it since it was read."""


class Busy(StoreRefusal):
    """Work is still in flight on the source; removal waits."""
