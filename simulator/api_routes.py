"""`POST /oauth/token` and the `/api/...` routes: DLP logs, audit events and the Hold Message List.

The `/api` routes keep the API 1.0 envelope (`meta`/`data`/`fail`), page with `pageToken`/`next`,
accept a request that carries only a page token, and answer a malformed body with a `200` whose
`fail` list is not empty, as the real gateway does.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulator import pagetokens
from simulator.clock import parse_time
from simulator.dataset import Record, seq_bounds_for_time
from simulator.gateway import admit, gateway_fail, json_response, scripted_fault
from simulator.state import Simulation

API_MAX_PAGE = 500
API_DEFAULT_PAGE = 25
# The mark of the placeholder `next` on an exhausted listing; not a filter field of any route.
PLACEHOLDER = "exhausted"


async def token(request: Request) -> Response:
    sim: Simulation = request.app.state.sim
    refusal = await scripted_fault(sim, "token")
    if refusal is not None:
        return refusal
    form = await request.form()
    if form.get("grant_type") != "client_credentials":
        return gateway_fail(400, "unsupported_grant_type", "grant_type must be client_credentials")
    client = sim.clients.get(str(form.get("client_id", "")))
    secret = str(form.get("client_secret", ""))
    if client is None or client.revoked or client.client_secret != secret:
        if sim.options.token_error_status == 400:
            return Response(status_code=400)
        return gateway_fail(401, "InvalidClientIdentifier", "Client credentials are invalid")
    access_token, ttl = sim.issue_token(client.client_id)
    return json_response(
        {"access_token": access_token, "token_type": "Bearer", "expires_in": ttl, "scope": ""}
    )


class Invalid(ValueError):
    """A validation failure answered as `200` with a `fail` entry naming the field."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code = field, code


@dataclass(frozen=True)
class Collection:
    """How one `/api` route reads its filter and shapes its answer."""

    route: str
    dataset: str
    window: tuple[str | None, str | None]  # the filter's from/to field names
    required: bool
    nested: str | None  # DLP nests its records in data[0].dlpLogs
    total: bool  # answers carry meta.pagination.totalCount


COLLECTIONS = {
    "dlp": Collection("dlp", "dlp", ("from", "to"), True, "dlpLogs", True),
    "audit": Collection("audit", "auditEvent", ("startDateTime", "endDateTime"), True, None, False),
    "hold": Collection("hold", "holdMessageList", ("start", "end"), False, None, True),
}


def _fail(status: int, field: str, code: str, message: str, key: Any = None) -> Response:
    error = {"code": code, "message": message, "field": field, "retryable": False}
    body = {"meta": {"status": status}, "data": [], "fail": [{"key": key or {}, "errors": [error]}]}
    return json_response(body, 200 if status == 400 else status)


def _filter_of(spec: Collection, body: Any, now: int) -> dict[str, Any]:
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
    for name, default in zip(spec.window, (None, None), strict=True):
        value = item.get(name) if name else None
        if value in (None, ""):
            if spec.required:
                raise Invalid(str(name), "err_validation_blank", f"{name} must not be blank")
            query[str(name)] = default
            continue
        try:
            query[str(name)] = parse_time(str(value))
        except ValueError:
            raise Invalid(
                str(name), "err_validation_invalid_date", f"{name} is not a valid date: {value!r}"
            ) from None
    if spec.route == "dlp":
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
    if spec.route == "hold":
        query["searchBy"] = item.get("searchBy")
        query["filterBy"] = item.get("filterBy")
    return query


def _page_size(body: Any, default: int) -> int:
    meta = body.get("meta") if isinstance(body, dict) else None
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    size = pagination.get("pageSize", default) if isinstance(pagination, dict) else default
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise Invalid(
            "pageSize", "err_validation_invalid", f"pageSize must be a positive integer, got {size!r}"
        )
    return min(size, API_MAX_PAGE)


def _page_token(body: Any) -> str | None:
    meta = body.get("meta") if isinstance(body, dict) else None
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    value = pagination.get("pageToken") if isinstance(pagination, dict) else None
    return value or None


def _matcher(spec: Collection, query: dict[str, Any]) -> Callable[[Record], bool]:
    """The filter beyond the time window, for the fields only some routes have."""
    if spec.route == "audit" and (query.get("categories") or query.get("query")):
        categories, text = query.get("categories"), str(query.get("query") or "").lower()

        def audit(record: Record) -> bool:
            item = record.as_dict()
            in_category = not categories or item.get("category") in categories
            return in_category and (not text or text in json.dumps(item).lower())

        return audit
    if spec.route == "hold" and (query.get("searchBy") or query.get("filterBy")):
        return _hold_matcher(query.get("searchBy"), query.get("filterBy"))
    return lambda record: True


def _hold_matcher(search: Any, filters: Any) -> Callable[[Record], bool]:
    fields = {
        "subject": ("subject",),
        "sender": ("from", "fromHeader"),
        "recipient": ("to",),
        "reason_code": ("reasonCode",),
    }
    field_name = search.get("fieldName", "all") if isinstance(search, dict) else "all"
    needle = str(search.get("value", "") if isinstance(search, dict) else "").lower()
    wanted = {
        str(f.get("fieldName")): str(f.get("value")).lower() for f in filters or [] if isinstance(f, dict)
    }

    def held(record: Record) -> bool:
        item = record.as_dict()
        if needle:
            keys = fields.get(field_name, tuple(item))
            if needle not in json.dumps([item.get(key) for key in keys]).lower():
                return False
        route = wanted.get("route")
        if route and route != "all" and str(item.get("route", "")).lower() != route:
            return False
        attachments = wanted.get("attachments")
        return not attachments or str(item.get("hasAttachments")).lower() == attachments

    return held


def _window(sim: Simulation, spec: Collection, query: dict[str, Any], now: int) -> tuple[int, int]:
    start_name, end_name = spec.window
    start = query.get(str(start_name)) or sim.dataset.origin_minute * 60_000
    end = query.get(str(end_name)) or now + 1
    return int(start), min(int(end), now + 1)


def _select(
    sim: Simulation, spec: Collection, query: dict[str, Any], size: int, now: int
) -> tuple[list[Record], bool, int | None]:
    """One page of records after the token's position, whether more follow, and the total if counted."""
    start, end = _window(sim, spec, query, now)
    if start >= end:
        return [], False, 0 if spec.total else None
    newest_first = spec.route != "dlp" or not query.get("oldestFirst", False)
    matches = _matcher(spec, query)

    def wanted(record: Record) -> bool:
        listed = spec.route != "hold" or record.until > now
        return start <= record.ts < end and listed and matches(record)

    first_seq, last_seq = seq_bounds_for_time(start, end)
    after = query.get("after")
    total = (
        sum(1 for r in sim.dataset.scan(spec.dataset, first_seq, last_seq, False) if wanted(r))
        if spec.total
        else None
    )
    if after is not None:
        first_seq, last_seq = (first_seq, after - 1) if newest_first else (after + 1, last_seq)
    page: list[Record] = []
    for record in sim.dataset.scan(spec.dataset, first_seq, last_seq, newest_first):
        if wanted(record):
            if len(page) == size:
                return page, True, total
            page.append(record)
    return page, False, total


def endpoint(route: str) -> Callable[[Request], Awaitable[Response]]:
    """The handler of one `/api` route."""
    spec = COLLECTIONS[route]

    async def handle(request: Request) -> Response:
        return await api_page(request, spec)

    return handle


async def api_page(request: Request, spec: Collection) -> Response:
    sim: Simulation = request.app.state.sim
    _client, headers, refusal = await admit(sim, request, spec.route)
    if refusal is not None:
        return refusal
    try:
        body = json.loads(await request.body())
    except ValueError:
        response = _fail(400, "body", "err_request_malformed", "The request body is not valid JSON")
        response.status_code = 400
        response.headers.update(headers)
        return response
    now = sim.clock.now_ms()
    try:
        token = _page_token(body)
        query = _decode(spec, token) if token else _filter_of(spec, body, now)
        size = _page_size(body, query.get("pageSize", API_DEFAULT_PAGE))
    except Invalid as error:
        data = body.get("data") if isinstance(body, dict) else None
        key = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
        response = _fail(400, error.field, error.code, str(error), key)
        response.headers.update(headers)
        return response
    if query.get(PLACEHOLDER):
        return _envelope(spec, [], size, token, None, headers)
    page, more, total = _select(sim, spec, query, size, now)
    next_token = None
    if more:
        next_token = pagetokens.encode(spec.route, {**query, "after": page[-1].seq, "pageSize": size})
    elif page and sim.options.empty_last_page:
        next_token = pagetokens.encode(spec.route, {PLACEHOLDER: True})
    return _envelope(spec, page, size, next_token, total, headers)


def _decode(spec: Collection, token: str) -> dict[str, Any]:
    try:
        return pagetokens.decode(spec.route, token)
    except pagetokens.BadToken as error:
        raise Invalid("pageToken", "err_invalid_page_token", str(error)) from None


def _envelope(
    spec: Collection,
    page: list[Record],
    size: int,
    next_token: str | None,
    total: int | None,
    headers: dict[str, str],
) -> Response:
    pagination: dict[str, Any] = {"pageSize": size}
    if total is not None:
        pagination["totalCount"] = total
    if next_token:
        pagination["next"] = next_token
    records = b"[" + b",".join(record.raw for record in page) + b"]"
    data = b'[{"' + spec.nested.encode() + b'":' + records + b"}]" if spec.nested else records
    meta = json.dumps({"status": 200, "pagination": pagination}, separators=(",", ":")).encode()
    content = b'{"meta":' + meta + b',"data":' + data + b',"fail":[]}'
    return Response(content, 200, headers, media_type="application/json")
