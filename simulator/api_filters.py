"""What each `/api` log route reads from its filter, and which records the filter matches.

One `Collection` per route: the window's field names, the defaults when they are left out (spec and
spec-more 1.3), the nesting of records, the order, and the route's own filter fields, validated the
gateway's way (a `fail` entry naming the field).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from simulator.clock import parse_time
from simulator.dataset import Record

DAY_MS = 86_400_000


class Invalid(ValueError):
    """A validation failure answered as `200` with a `fail` entry naming the field."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code = field, code


Defaults = Literal["origin", "today", "month"]


@dataclass(frozen=True)
class Collection:
    """How one `/api` route reads its filter and shapes its answer."""

    route: str
    dataset: str
    window: tuple[str, str]  # the filter's from/to field names
    required: bool
    nested: str | None  # DLP and the logs nest their records in data[0].<nested>
    total: bool  # answers carry meta.pagination.totalCount
    order_option: bool = False  # takes `oldestFirst` (else: the `listing_order` setting, or newest first)
    inclusive: bool = False  # a record at exactly the window's end is in it
    defaults: Defaults = "origin"  # the window when its fields are left out
    count_key: str | None = None  # impersonation: data[0].resultCount


def _ttp(route: str, dataset: str, nested: str, count_key: str | None = None) -> Collection:
    """A TTP log route: `from`/`to` (default: today), `oldestFirst`, inclusive window end."""
    return Collection(route, dataset, ("from", "to"), False, nested, True, True, True, "today", count_key)


COLLECTIONS = {
    "dlp": Collection("dlp", "dlp", ("from", "to"), True, "dlpLogs", True, order_option=True),
    "audit": Collection("audit", "auditEvent", ("startDateTime", "endDateTime"), True, None, False),
    "hold": Collection("hold", "holdMessageList", ("start", "end"), False, None, True),
    "url": _ttp("url", "ttpUrl", "clickLogs"),
    "attachment": _ttp("attachment", "ttpAttachment", "attachmentLogs"),
    "impersonation": _ttp("impersonation", "ttpImpersonation", "impersonationLogs", "resultCount"),
    "archive": Collection(
        "archive", "archiveSearch", ("start", "end"), False, "logs", True, False, True, "today"
    ),
    "release": Collection(
        "release", "holdReleaseLog", ("start", "end"), False, "heldReleaseLogs", True, False, True, "month"
    ),
}
# The routes whose order the `listing_order` setting switches (they have no order option).
SWITCHED_ORDER = frozenset({"audit", "hold", "archive", "release"})
_CHOICES = {
    "route": ("inbound", "outbound", "internal", "all"),
    "scanResult": ("clean", "malicious", "all"),
    "result": ("safe", "malicious", "timeout", "error", "unsafe", "all"),
    "searchField": ("senderAddress", "recipientAddress", "subject", "policy", "all"),
}
_ROUTE_FIELDS = {"url": ("route", "scanResult"), "attachment": ("route", "result")}


def _window_defaults(spec: Collection, now: int, origin: int) -> tuple[int, int]:
    if spec.defaults == "today":
        return now - now % DAY_MS, now + 1
    if spec.defaults == "month":
        return now - 30 * DAY_MS, now + 1
    return origin, now + 1


def filter_of(spec: Collection, body: Any) -> dict[str, Any]:
    """The query a first-page request asks for, validated."""
    if not isinstance(body, dict):
        raise Invalid("body", "err_request_malformed", "The request body must be a JSON object")
    data = body.get("data")
    if data is None and not spec.required:
        data = [{}]
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
        raise Invalid("data", "err_validation_invalid", "data must be a list holding one filter object")
    item = data[0]
    query: dict[str, Any] = {"after": None}
    for name in spec.window:
        value = item.get(name)
        if value in (None, ""):
            if spec.required:
                raise Invalid(name, "err_validation_blank", f"{name} must not be blank")
            query[name] = None
            continue
        try:
            query[name] = parse_time(str(value))
        except ValueError:
            raise Invalid(
                name, "err_validation_invalid_date", f"{name} is not a valid date: {value!r}"
            ) from None
    if spec.order_option:
        oldest_first = item.get("oldestFirst", False)
        if not isinstance(oldest_first, bool):
            raise Invalid(
                "oldestFirst",
                "err_validation_invalid",
                f"oldestFirst must be true or false, got {oldest_first!r}",
            )
        query["oldestFirst"] = oldest_first
    if spec.route == "audit":
        categories = item.get("categories")
        if categories is not None and not (
            isinstance(categories, list) and all(isinstance(c, str) for c in categories)
        ):
            raise Invalid("categories", "err_validation_invalid", "categories must be a list of strings")
        query["categories"] = categories
        query["query"] = item.get("query")
    if spec.route in ("hold", "release"):
        query["searchBy"] = item.get("searchBy")
        query["filterBy"] = item.get("filterBy")
    if spec.route == "archive":
        query["query"] = item.get("query")
    for name in _ROUTE_FIELDS.get(spec.route, ()):
        query[name] = _choice(item, name)
    if spec.route == "impersonation":
        query.update(_impersonation_filter(item))
    return query


def _choice(item: dict[str, Any], name: str) -> str:
    value = item.get(name, "all")
    if value not in _CHOICES[name]:
        allowed = ", ".join(_CHOICES[name])
        raise Invalid(name, "err_validation_invalid", f"{name} must be one of {allowed}, got {value!r}")
    return str(value)


def _impersonation_filter(item: dict[str, Any]) -> dict[str, Any]:
    tagged = item.get("taggedMalicious")
    if tagged is not None and not isinstance(tagged, bool):
        raise Invalid("taggedMalicious", "err_validation_invalid", "taggedMalicious must be true or false")
    field, text = item.get("searchField"), item.get("query")
    if field is not None:
        _choice(item, "searchField")
        if not text:
            raise Invalid("query", "err_validation_blank", "query must not be blank with searchField")
    lists = {}
    for name in ("identifiers", "actions"):
        value = item.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise Invalid(name, "err_validation_invalid", f"{name} must be a list of strings")
        lists[name] = value
    return {"taggedMalicious": tagged, "searchField": field, "query": text, **lists}


def window(spec: Collection, query: dict[str, Any], now: int, origin: int) -> tuple[int, int]:
    """The window as `[start, end)` in epoch ms, the end made exclusive for the inclusive routes."""
    default_start, default_end = _window_defaults(spec, now, origin)
    start_name, end_name = spec.window
    start = query.get(start_name)
    end = query.get(end_name)
    start = int(start) if start is not None else default_start
    end = int(end) + (1 if spec.inclusive else 0) if end is not None else default_end
    return start, min(end, now + 1)


def newest_first(spec: Collection, query: dict[str, Any], listing_order: str) -> bool:
    if spec.order_option:
        return not query.get("oldestFirst", False)
    return spec.route not in SWITCHED_ORDER or listing_order == "newest_first"


def matcher(spec: Collection, query: dict[str, Any]) -> Callable[[Record], bool]:
    """The filter beyond the time window, for the fields only some routes have."""
    if spec.route == "audit" and (query.get("categories") or query.get("query")):
        categories, text = query.get("categories"), str(query.get("query") or "").lower()

        def audit(record: Record) -> bool:
            item = record.as_dict()
            in_category = not categories or item.get("category") in categories
            return in_category and (not text or text in json.dumps(item).lower())

        return audit
    if spec.route in ("hold", "release") and (query.get("searchBy") or query.get("filterBy")):
        return _hold_matcher(spec.route, query.get("searchBy"), query.get("filterBy"))
    if spec.route == "archive" and query.get("query"):
        needle = str(query["query"]).lower()
        return lambda record: needle in str(record.as_dict().get("searchText", "")).lower()
    if spec.route in _ROUTE_FIELDS:
        wanted = {name: query.get(name, "all") for name in _ROUTE_FIELDS[spec.route]}
        if any(value != "all" for value in wanted.values()):
            return lambda record: all(
                value == "all" or record.as_dict().get(name) == value for name, value in wanted.items()
            )
    if spec.route == "impersonation":
        return _impersonation_matcher(query)
    return lambda record: True


def _impersonation_matcher(query: dict[str, Any]) -> Callable[[Record], bool]:
    tagged, field, text = query.get("taggedMalicious"), query.get("searchField"), query.get("query")
    identifiers, actions = query.get("identifiers"), query.get("actions")

    def matches(record: Record) -> bool:
        item = record.as_dict()
        if tagged is not None and item.get("taggedMalicious") is not tagged:
            return False
        if field and field != "all" and str(text).lower() not in str(item.get(field, "")).lower():
            return False
        if field == "all" and str(text).lower() not in json.dumps(item).lower():
            return False
        if identifiers and not set(identifiers) & set(item.get("identifiers") or []):  # type: ignore[call-overload]
            return False
        return not actions or item.get("action") in actions

    return matches


def _hold_matcher(route: str, search: Any, filters: Any) -> Callable[[Record], bool]:
    fields = {
        "subject": ("subject",),
        "sender": ("from", "fromHeader"),
        "recipient": ("to",),
        "reason_code": ("reasonCode",),
        "from": ("fromEnv", "fromHdr"),
        "to": ("to",),
        "operator": ("operator",),
        "info": ("messageInfo",),
        "heldReason": ("heldReason",),
    }
    field_name = search.get("fieldName", "all") if isinstance(search, dict) else "all"
    needle = str(search.get("value", "") if isinstance(search, dict) else "").lower()
    wanted = {
        str(f.get("fieldName")): str(f.get("value")).lower() for f in filters or [] if isinstance(f, dict)
    }
    attachments_field = "hasAttachments" if route == "hold" else "attachments"

    def held(record: Record) -> bool:
        item = record.as_dict()
        if needle:
            keys = fields.get(field_name, tuple(item))
            if needle not in json.dumps([item.get(key) for key in keys]).lower():
                return False
        for name, value in wanted.items():
            if name == "attachments":
                if str(item.get(attachments_field)).lower() != value:
                    return False
            elif name in ("route", "status") and value != "all" and str(item.get(name, "")).lower() != value:
                return False
        return True

    return held
