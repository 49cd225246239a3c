"""`GET /siem/v1/batch/events/cg` and `/ci` (Cloud Integrated), the batch files they point to, and
`GET /siem/v1/events/cg`."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from simulator import pagetokens
from simulator.batches import BatchFile, BatchStore
from simulator.clock import iso_ms, parse_time
from simulator.dataset import SEQ_PER_MINUTE, Record, seq_bounds_for_time
from simulator.gateway import admit, json_response, scripted_fault, siem_error
from simulator.records import SIEM_TYPES, siem_streaming_form
from simulator.state import Simulation

FILE_PREFIX = "/mimecast-siem-batch"
BATCH_MAX_PAGE = 100
STREAM_MAX_PAGE = 500


class BadRequest(ValueError):
    """A request the SIEM endpoints answer with 400 and an `error` object."""


def _types(value: str | None, known: tuple[str, ...] = SIEM_TYPES) -> list[int]:
    """Type indexes asked for: one type, a comma-separated list, or (left out) every type."""
    if not value:
        return list(range(len(known)))
    wanted = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise BadRequest(f"Unknown type: {', '.join(unknown)}. Allowed: {', '.join(known)}")
    return sorted({known.index(name) for name in wanted})


def _page_size(value: str | None, default: int, cap: int) -> int:
    if value is None:
        return default
    try:
        size = int(value)
    except ValueError:
        raise BadRequest(f"pageSize must be an integer, got {value!r}") from None
    if size < 1:
        raise BadRequest("pageSize must be at least 1")
    return min(size, cap)


def _day(value: str, name: str) -> date:
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise BadRequest(f"{name} must be a date as YYYY-MM-DD, got {value!r}")


def _midnight_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


async def batch_page(request: Request) -> Response:
    """`/siem/v1/batch/events/cg`: SIEM batch file listings."""
    sim: Simulation = request.app.state.sim
    return await _listing_page(request, sim, sim.batches, "batch")


async def ci_batch_page(request: Request) -> Response:
    """`/siem/v1/batch/events/ci`: Cloud Integrated batch file listings, the same way."""
    sim: Simulation = request.app.state.sim
    return await _listing_page(request, sim, sim.ci_batches, "ci")


async def _listing_page(request: Request, sim: Simulation, store: BatchStore, route: str) -> Response:
    _client, headers, refusal = await admit(sim, request, route)
    if refusal is not None:
        return refusal
    try:
        query = _batch_query(sim, request, store, route)
        size = _page_size(
            request.query_params.get("pageSize"), query.get("pageSize", BATCH_MAX_PAGE), BATCH_MAX_PAGE
        )
    except BadRequest as error:
        return siem_error(400, "InvalidRequest", str(error), headers)
    now = sim.clock.now_ms()
    after = tuple(query["after"]) if query["after"] else None
    found = store.published(now, after, set(query["types"]), query["from"], query["until"])
    page, more = found[:size], len(found) > size
    query["pageSize"] = size  # a token-only request (or @nextPage alone) keeps the page size
    if page:
        query["after"] = list(page[-1].key)
    expires = now + sim.options.batch_url_ttl_seconds * 1000
    value = [_listing(sim, store, request, file, now, expires) for file in page]
    if len(value) >= 2 and _chance(sim.dataset.seed, "dup", page[0].key) < sim.options.duplicate_url_rate:
        value.insert(1 + len(value) // 2, value[0])
    body = {"value": value, "@nextPage": pagetokens.encode(route, query), "isCaughtUp": not more}
    return json_response(body, 200, headers)


def _batch_query(sim: Simulation, request: Request, store: BatchStore, route: str) -> dict[str, Any]:
    token = request.query_params.get("nextPage")
    if token:
        try:
            return pagetokens.decode(route, token)
        except pagetokens.BadToken as error:
            raise BadRequest(f"nextPage: {error}") from None
    now = sim.clock.now_ms()
    oldest_day = datetime.fromtimestamp(
        (now - sim.options.batch_retention_days * 86_400_000) / 1000, UTC
    ).date()
    starts = request.query_params.get("dateRangeStartsAt")
    ends = request.query_params.get("dateRangeEndsAt")
    start_day = _day(starts, "dateRangeStartsAt") if starts else oldest_day
    if start_day < oldest_day:
        days = sim.options.batch_retention_days
        raise BadRequest(f"dateRangeStartsAt {start_day} is older than {days} days; earliest: {oldest_day}")
    until = None
    if ends:
        end_day = _day(ends, "dateRangeEndsAt")
        if end_day < start_day:
            raise BadRequest("dateRangeEndsAt is before dateRangeStartsAt")
        until = _midnight_ms(end_day + timedelta(days=1))
    types = _types(request.query_params.get("type"), store.types)
    return {"types": types, "from": _midnight_ms(start_day), "until": until, "after": None}


def _listing(
    sim: Simulation, store: BatchStore, request: Request, file: BatchFile, now: int, expires: int
) -> dict[str, Any]:
    url, expiry = signed_url(sim, request, file.name, now, expires)
    return {"url": url, "size": len(store.body(file)), "expiry": expiry}


def signed_url(sim: Simulation, request: Request, name: str, now: int, expires: int) -> tuple[str, str]:
    """A pre-signed URL of the file `name`, good until `expires`, and its `expiry` as listed."""
    signed_at = datetime.fromtimestamp(now // 1000, UTC).strftime("%Y%m%dT%H%M%SZ")
    ttl = (expires - now) // 1000
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": "SIMULATOR/s3/aws4_request",
        "X-Amz-Date": signed_at,
        "X-Amz-Expires": str(ttl),
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": sim.batches.signature(name, f"{signed_at}:{ttl}"),
    }
    base = str(request.base_url).rstrip("/")
    url = f"{base}{FILE_PREFIX}/{sim.dataset.account_id}/{name}.json.gz?{urlencode(query)}"
    return url, iso_ms(now // 1000 * 1000 + ttl * 1000)


def _s3_error(status: int, code: str, message: str) -> Response:
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n'
    body = f"{xml}<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return Response(body, status, media_type="application/xml")


async def batch_file(request: Request) -> Response:
    """Serve a file without auth; 403 once its URL expired or when the signature is wrong, 404 if unknown."""
    sim: Simulation = request.app.state.sim
    refusal = await scripted_fault(sim, "files")
    if refusal is not None:
        return refusal
    name = request.path_params["name"]
    ours = request.path_params["account"] == sim.dataset.account_id
    bulk = sim.bulk.files.get(name) if ours else None
    store = sim.ci_batches if name.startswith(sim.ci_batches.prefix) else sim.batches
    file = store.find(name) if ours and bulk is None else None
    now = sim.clock.now_ms()
    if bulk is None and (file is None or not store.available(file, now)):
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    params = request.query_params
    signed_at, ttl = params.get("X-Amz-Date", ""), params.get("X-Amz-Expires", "")
    expected = sim.batches.signature(name, f"{signed_at}:{ttl}")
    if not hmac.compare_digest(expected, params.get("X-Amz-Signature", "")):
        return _s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match.")
    issued = datetime.strptime(signed_at, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp() * 1000
    if now > issued + int(ttl) * 1000:
        return _s3_error(403, "AccessDenied", "Request has expired")
    if bulk is not None:
        return StreamingResponse(sim.bulk.gzip(bulk), 200, media_type="application/gzip")
    assert file is not None
    body = store.body(file)
    corruption = sim.faults.corruption_for(file.name)
    if corruption is not None:
        body = _corrupt(store, file, body, corruption.mode, corruption.line)
    return Response(body, 200, media_type="application/gzip", headers={"ETag": hashlib.md5(body).hexdigest()})  # noqa: S324


def _corrupt(store: BatchStore, file: BatchFile, body: bytes, mode: str, line: int) -> bytes:
    if mode == "truncate":
        return body[: max(len(body) // 2, 10)]
    lines = store.lines(file)
    position = min(line, len(lines))
    broken = [*lines[:position], b'{"type":"receipt","broken": ', *lines[position:]]
    return gzip.compress(b"".join(item + b"\n" for item in broken), mtime=0)


def _chance(seed: int, *parts: object) -> float:
    digest = hashlib.blake2b(f"{seed}:{parts}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


async def stream_page(request: Request) -> Response:
    sim: Simulation = request.app.state.sim
    _client, headers, refusal = await admit(sim, request, "streaming")
    if refusal is not None:
        return refusal
    now = sim.clock.now_ms()
    try:
        query = _stream_query(sim, request, now)
        size = _page_size(request.query_params.get("pageSize"), query.get("pageSize", 100), STREAM_MAX_PAGE)
    except BadRequest as error:
        return siem_error(
            400, "InvalidDateRange" if "24-hour" in str(error) else "InvalidRequest", str(error), headers
        )
    types = {SIEM_TYPES[index] for index in query["types"]}
    start, end = int(query["from"]), int(query["until"]) if query["until"] is not None else None
    oldest = now - sim.options.streaming_retention_hours * 3_600_000
    first_seq, last_seq = seq_bounds_for_time(max(start, oldest), min(end, now + 1) if end else now + 1)
    after = query["after"]
    if after is not None:
        first_seq = max(first_seq, int(after) + 1)
    page: list[Record] = []
    more = False
    for record in sim.dataset.scan("siem", first_seq, last_seq, newest_first=False):
        if (
            record.ts < max(start, oldest)
            or record.ts > now
            or (end and record.ts >= end)
            or record.kind not in types
        ):
            continue
        if len(page) == size:
            more = True
            break
        page.append(record)
    events = [siem_streaming_form(json.loads(record.raw)) for record in page]
    if after is not None and page and _chance(sim.dataset.seed, "overlap", after) < sim.options.overlap_rate:
        previous = next(sim.dataset.scan("siem", int(after), int(after), newest_first=False), None)
        if previous is not None:
            events.insert(0, siem_streaming_form(json.loads(previous.raw)))
    query["pageSize"] = size  # following @nextLink, which names only the token, keeps the page size
    if page:
        query["after"] = page[-1].seq
    token = pagetokens.encode("streaming", query)
    base = str(request.base_url).rstrip("/")
    body = {
        "value": events,
        "@nextLink": f"{base}/siem/v1/events/cg?{urlencode({'nextPage': token})}",
        "@nextPage": token,
        "pageSize": size,
        "isCaughtUp": not more,
    }
    return json_response(body, 200, headers)


def _stream_query(sim: Simulation, request: Request, now: int) -> dict[str, Any]:
    token = request.query_params.get("nextPage")
    if token:
        try:
            return pagetokens.decode("streaming", token)
        except pagetokens.BadToken as error:
            raise BadRequest(f"nextPage: {error}") from None
    oldest = now - sim.options.streaming_retention_hours * 3_600_000
    starts = request.query_params.get("dateRangeStartsAt")
    ends = request.query_params.get("dateRangeEndsAt")
    start = _instant(starts, "dateRangeStartsAt") if starts else oldest + 60_000
    if start < oldest:
        raise BadRequest("Invalid date range: 'from' must be within the 24-hour retention period")
    end = _instant(ends, "dateRangeEndsAt") if ends else None
    if end is not None and end < start:
        raise BadRequest("dateRangeEndsAt is before dateRangeStartsAt")
    types = _types(request.query_params.get("types") or request.query_params.get("type"))
    return {"types": types, "from": start, "until": end, "after": None}


def _instant(value: str, name: str) -> int:
    try:
        return parse_time(value)
    except ValueError:
        raise BadRequest(f"{name} must be ISO 8601 such as 2025-01-01T12:30:45.000Z, got {value!r}") from None


__all__ = ["FILE_PREFIX", "SEQ_PER_MINUTE", "batch_file", "batch_page", "ci_batch_page", "stream_page"]
