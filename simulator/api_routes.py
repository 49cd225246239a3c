"""`POST /oauth/token` and the `/api/...` routes: DLP logs, audit events, the Hold Message List, the
TTP logs, archive search logs and message release logs (filters in `api_filters.py`).

The `/api` routes keep the API 1.0 envelope (`meta`/`data`/`fail`), page with `pageToken`/`next`,
accept a request that carries only a page token, and answer a malformed body with a `200` whose
`fail` list is not empty, as the real gateway does.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulator import pagetokens
from simulator.api_filters import COLLECTIONS, Collection, Invalid, filter_of, matcher, newest_first, window
from simulator.dataset import Record, seq_bounds_for_time
from simulator.gateway import admit, gateway_fail, json_response, scripted_fault
from simulator.state import Simulation

API_MAX_PAGE = 500
API_DEFAULT_PAGE = 25
# The mark of the placeholder `next` on an exhausted listing; not a filter field of any route.
PLACEHOLDER = "exhausted"


async def token(request: Request) -> Response:
    sim: Simulation = request.app.state.sim
    form = await request.form()
    refusal = await scripted_fault(sim, "token", str(form.get("client_id", "")))
    if refusal is not None:
        return refusal
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


def _fail(status: int, field: str, code: str, message: str, key: Any = None) -> Response:
    error = {"code": code, "message": message, "field": field, "retryable": False}
    body = {"meta": {"status": status}, "data": [], "fail": [{"key": key or {}, "errors": [error]}]}
    return json_response(body, 200 if status == 400 else status)


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


def _select(
    sim: Simulation, spec: Collection, query: dict[str, Any], size: int, now: int
) -> tuple[list[Record], bool, int | None]:
    """One page of records after the token's position, whether more follow, and the total if counted."""
    start, end = window(spec, query, now, sim.dataset.origin_minute * 60_000)
    if start >= end:
        return [], False, 0 if spec.total else None
    newest = newest_first(spec, query, sim.options.listing_order)
    matches = matcher(spec, query)

    def wanted(record: Record) -> bool:
        listed = spec.route != "hold" or record.until > now
        return (
            start <= record.ts < end and listed and sim.visible(spec.dataset, record, now) and matches(record)
        )

    first_seq, last_seq = seq_bounds_for_time(start, end)
    after = query.get("after")
    total = (
        sim.window_total(
            (spec.route, start, end, now, _filter_key(query)),
            lambda: sum(1 for r in sim.dataset.scan(spec.dataset, first_seq, last_seq, False) if wanted(r)),
        )
        if spec.total
        else None
    )
    if after is not None:
        first_seq, last_seq = (first_seq, after - 1) if newest else (after + 1, last_seq)
    page: list[Record] = []
    for record in sim.dataset.scan(spec.dataset, first_seq, last_seq, newest):
        if wanted(record):
            if len(page) == size:
                return page, True, total
            page.append(record)
    return page, False, total


def _filter_key(query: dict[str, Any]) -> str:
    """What of a query decides its window's total: all but the position and the page size."""
    return json.dumps(
        {name: value for name, value in query.items() if name not in ("after", "pageSize")},
        sort_keys=True,
        default=str,
    )


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
        query = _decode(spec, token) if token else filter_of(spec, body)
        size = _page_size(body, query.get("pageSize", API_DEFAULT_PAGE))
    except Invalid as error:
        data = body.get("data") if isinstance(body, dict) else None
        key = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
        response = _fail(400, error.field, error.code, str(error), key)
        response.headers.update(headers)
        return response
    if query.get(PLACEHOLDER):
        return _envelope(sim, spec, [], size, token, None, headers)
    page, more, total = _select(sim, spec, query, size, now)
    next_token = None
    if more:
        next_token = pagetokens.encode(spec.route, {**query, "after": page[-1].seq, "pageSize": size})
    elif page and sim.options.empty_last_page:
        next_token = pagetokens.encode(spec.route, {PLACEHOLDER: True})
    return _envelope(sim, spec, page, size, next_token, total, headers)


def _decode(spec: Collection, token: str) -> dict[str, Any]:
    try:
        return pagetokens.decode(spec.route, token)
    except pagetokens.BadToken as error:
        raise Invalid("pageToken", "err_invalid_page_token", str(error)) from None


def _envelope(
    sim: Simulation,
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
    data = records
    if spec.nested and (page or not sim.options.empty_window_flat or spec.route == "dlp"):
        count = f',"{spec.count_key}":{total or 0}'.encode() if spec.count_key else b""
        data = b'[{"' + spec.nested.encode() + b'":' + records + count + b"}]"
    meta = json.dumps({"status": 200, "pagination": pagination}, separators=(",", ":")).encode()
    content = b'{"meta":' + meta + b',"data":' + data + b',"fail":[]}'
    return Response(content, 200, headers, media_type="application/json")
