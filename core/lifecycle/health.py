"""Health events: built from errors, opened once per problem, resolved by a Healthy event. Pure.

The shape follows the public health-event schema (`spec/management-api.md`, "Health events").
A resource has at most one open event per event name: the same problem again refreshes the open
event (same `eventId`, new time and detail) instead of piling up copies. Recovery resolves every
open event of the resource at once with one `SourceHealthy` event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.errors import ErrorType
from core.lifecycle.states import StateError

HEALTHY_EVENT = "SourceHealthy"
_TITLES = {
    ErrorType.THIRD_PARTY_CONFIG: "Third party configuration error",
    ErrorType.THIRD_PARTY_GENERIC: "Third party error",
    ErrorType.FIRST_PARTY_GENERIC: "First party error",
}


class Severity(StrEnum):
    ERROR = "Error"
    WARNING = "Warning"


# The public schema knows two severities, `Error` ("unable to collect data as expected") and
# `Warning` ("a configuration issue or a degraded state"); a recovery is neither an error nor the
# problem it ends, so it always carries the lesser one. `status: Healthy` tells it apart.
RECOVERY_SEVERITY = Severity.WARNING


class Status(StrEnum):
    HEALTHY = "Healthy"
    UNHEALTHY = "UnHealthy"


@dataclass(frozen=True)
class ResourceIdentity:
    """Which source an event is about, with names as they were when it happened."""

    collector_id: str
    collector_name: str
    id: str
    name: str

    def to_json(self) -> dict[str, str]:
        return {
            "collectorId": self.collector_id,
            "collectorName": self.collector_name,
            "id": self.id,
            "name": self.name,
            "type": "Source",
        }


@dataclass(frozen=True)
class HealthEvent:
    event_id: str
    event_name: str
    status: Status
    severity: Severity
    time: datetime
    tracker_id: str
    title: str
    description: str
    resource: ResourceIdentity

    def to_json(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "eventName": self.event_name,
            "eventType": "Health-Change",
            "status": self.status.value,
            "severityLevel": self.severity.value,
            "eventTime": self.time.isoformat().replace("+00:00", "Z"),
            "eventFormatVersion": "1.0",
            "subsystem": "Collection",
            "details": {"trackerId": self.tracker_id, "name": self.title, "description": self.description},
            "resourceIdentity": self.resource.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HealthEvent:
        details, resource = data["details"], data["resourceIdentity"]
        return cls(
            event_id=str(data["eventId"]),
            event_name=str(data["eventName"]),
            status=Status(data["status"]),
            severity=Severity(data["severityLevel"]),
            time=datetime.fromisoformat(str(data["eventTime"]).replace("Z", "+00:00")),
            tracker_id=str(details["trackerId"]),
            title=str(details["name"]),
            description=str(details["description"]),
            resource=ResourceIdentity(
                collector_id=str(resource["collectorId"]),
                collector_name=str(resource["collectorName"]),
                id=str(resource["id"]),
                name=str(resource["name"]),
            ),
        )


def event_name(error_type: ErrorType) -> str:
    """`ThirdPartyConfig` -> `ThirdPartyConfigError`: the contract's event names."""
    return f"{error_type.value}Error"


def describe(error: StateError) -> str:
    """The description an operator reads: the collection that failed (none: the source's start),
    upstream status and the safe summary, never a secret."""
    text = f"{error.code}: {error.message}" if error.code is not None else error.message
    return f"{error.collection}: {text}" if error.collection is not None else text


def problem(
    error: StateError,
    resource: ResourceIdentity,
    now: datetime,
    new_id: str,
    *,
    open_events: Mapping[str, HealthEvent],
    final: bool,
) -> HealthEvent:
    """The open event for `error`: a new one, or the already open one of that name refreshed.

    Configuration errors and errors past their retry window (`final`) are `Error`; a generic
    error still being retried is a `Warning`. A retry never lowers an open `Error` event: while one
    collection has stopped, another collection's retries of the same error type leave its event
    (severity and description) as it is.
    """
    name = event_name(error.type)
    severity = Severity.ERROR if final or error.type is ErrorType.THIRD_PARTY_CONFIG else Severity.WARNING
    fresh = HealthEvent(
        event_id=new_id,
        event_name=name,
        status=Status.UNHEALTHY,
        severity=severity,
        time=now,
        tracker_id=name,
        title=_TITLES[error.type],
        description=describe(error),
        resource=resource,
    )
    already = open_events.get(name)
    if already is None:
        return fresh
    if already.severity is Severity.ERROR and severity is Severity.WARNING:
        return already
    return replace(fresh, event_id=already.event_id)


def recovery(
    open_events: Mapping[str, HealthEvent], resource: ResourceIdentity, now: datetime, new_id: str
) -> HealthEvent | None:
    """The Healthy event that resolves every open event of the resource, or None if none is open.

    Its severity is its own, `RECOVERY_SEVERITY`, whatever it resolves: an alert keyed on `Error`
    does not fire on a recovery. Its description names what ended.
    """
    if not open_events:
        return None
    resolved = sorted(open_events.values(), key=lambda event: event.time)
    names = ", ".join(event.event_name for event in resolved)
    return HealthEvent(
        event_id=new_id,
        event_name=HEALTHY_EVENT,
        status=Status.HEALTHY,
        severity=RECOVERY_SEVERITY,
        time=now,
        tracker_id=HEALTHY_EVENT,
        title="Source healthy",
        description=f"resolved: {names}",
        resource=resource,
    )


GAP_EVENT = "CollectionGap"


def gap(
    what: str,
    reason: str,
    resource: ResourceIdentity,
    now: datetime,
    new_id: str,
    *,
    open_events: Mapping[str, HealthEvent],
) -> HealthEvent:
    """A Warning that names what can no longer be collected; collection goes on after it. One stays
    open per source (refreshed by the next gap), and recovery from errors leaves it open. A gap that
    goes on where the open one ends widens it (`widened`): so the next second's edge, which a
    sub-window of the same backfill meets a moment later, does not hide the days before it."""
    title = "Data no longer available from Mimecast"
    already = open_events.get(GAP_EVENT)
    if already is not None:
        what = widened(already.description, what, reason)
    return standing_warning(
        GAP_EVENT, title, f"not collected: {what} ({reason})", resource, now, new_id, open_events
    )


# "not collected: <stream> <since> .. <edge> (<reason>)", as `gap` writes it for a time range.
_OPEN_RANGE = re.compile(r"not collected: (\S+) (\S+) \.\. (\S+) \((.*)\)")
_NEW_RANGE = re.compile(r"(\S+) (\S+) \.\. (\S+)")


def widened(open_description: str, what: str, reason: str) -> str:
    """`what`, or the open gap's range carried on to its end, when `what` is a range of the same
    stream, for the same reason, that starts inside (or where) the open one ends. Pure; the times
    are written alike (`windows.into_reach`), so their text orders as they do."""
    opened, new = _OPEN_RANGE.fullmatch(open_description), _NEW_RANGE.fullmatch(what)
    if opened is None or new is None:
        return what
    stream, since, edge, open_reason = opened.groups()
    if (new[1], reason) != (stream, open_reason) or not since <= new[2] <= edge:
        return what
    return f"{stream} {since} .. {max(edge, new[3])}"


def standing_warning(
    name: str,
    title: str,
    description: str,
    resource: ResourceIdentity,
    now: datetime,
    new_id: str,
    open_events: Mapping[str, HealthEvent],
) -> HealthEvent:
    """A Warning of which one stays open per source under `name`: a new one refreshes it (same id)."""
    already = open_events.get(name)
    return HealthEvent(
        event_id=already.event_id if already is not None else new_id,
        event_name=name,
        status=Status.UNHEALTHY,
        severity=Severity.WARNING,
        time=now,
        tracker_id=name,
        title=title,
        description=description,
        resource=resource,
    )
