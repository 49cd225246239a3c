"""`POST /api/ttp/threat-intel/get-feed`: the malware threat-intel feeds (spec-more 7).

Not the `/api` envelope: the body is a STIX 2.0 bundle (`fileType: stix`) or pipe-separated CSV
(`csv`, the default; zipped with `compress: true`), and the next page's token comes in the
`X-Mc-Threat-Feed-Next-Token` header while more objects follow. The last page has no such header, or
(`feed_last_token: repeat`) repeats the token it was asked with. A window without objects is a 200
with the `fail` envelope `err_threat_intel_feed_no_result_found`. `X-RateLimit-*` only on a 429.
"""

from __future__ import annotations

import io
import json
import random
import uuid
import zipfile
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulator import pagetokens
from simulator.api_filters import DAY_MS, Invalid
from simulator.clock import parse_time
from simulator.dataset import Record, seq_bounds_for_time
from simulator.feed_records import CSV_HEADER, csv_row
from simulator.gateway import admit, json_response
from simulator.state import FEED_TYPES, Simulation

NEXT_TOKEN = "X-Mc-Threat-Feed-Next-Token"  # noqa: S105 - a header name
NO_RESULT = ("err_threat_intel_feed_no_result_found", "No results found for threat intel feed.")


def _item(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
        raise Invalid("data", "err_validation_invalid", "data must be a list holding one request object")
    item: dict[str, Any] = data[0]
    return item


def _query(item: dict[str, Any], now: int) -> dict[str, Any]:
    feed_type = item.get("feedType", "malware_customer")
    if feed_type not in FEED_TYPES:
        raise Invalid(
            "feedType", "err_validation_invalid", f"feedType must be one of {', '.join(FEED_TYPES)}"
        )
    file_type = item.get("fileType", "csv")
    if file_type not in ("stix", "csv"):
        raise Invalid("fileType", "err_validation_invalid", "fileType must be stix or csv")
    compress = item.get("compress", False)
    if not isinstance(compress, bool):
        raise Invalid("compress", "err_validation_invalid", "compress must be true or false")
    bounds = {}
    for name, default in (("start", now - 7 * DAY_MS), ("end", now)):
        value = item.get(name)
        try:
            bounds[name] = parse_time(str(value)) if value not in (None, "") else default
        except ValueError:
            raise Invalid(
                name, "err_validation_invalid_date", f"{name} is not a valid date: {value!r}"
            ) from None
    return {"feedType": feed_type, "fileType": file_type, "compress": compress, **bounds, "after": None}


def _fail(status: int, key: Any, code: str, message: str) -> Response:
    error = {"code": code, "message": message, "retryable": False}
    body = {"meta": {"status": status}, "data": [], "fail": [{"key": key, "errors": [error]}]}
    return json_response(body, 200)


async def feed_page(request: Request) -> Response:
    sim: Simulation = request.app.state.sim
    try:
        body = json.loads(await request.body())
        item = _item(body)
    except ValueError:
        body, item = None, {}
    collection = FEED_TYPES.get(str(item.get("feedType", "malware_customer")), "threatIntelCustomer")
    _client, _quota_headers, refusal = await admit(sim, request, "feed", collection)
    if refusal is not None:
        return refusal
    now = sim.clock.now_ms()
    token = item.get("token")
    try:
        if body is None:
            raise Invalid("body", "err_request_malformed", "The request body is not valid JSON")
        if token:
            try:
                query = pagetokens.decode("feed", str(token))
            except pagetokens.BadToken as error:
                raise Invalid("token", "err_invalid_page_token", str(error)) from None
        else:
            query = _query(_item(body), now)
    except Invalid as error:
        return _fail(400, item, error.code, str(error))
    page, more = _select(sim, query, now)
    if not page:
        return _fail(200, item, *NO_RESULT)
    headers = {}
    if more:
        headers[NEXT_TOKEN] = pagetokens.encode("feed", {**query, "after": page[-1].seq})
    elif token and sim.options.feed_last_token == "repeat":  # noqa: S105 - an option value
        headers[NEXT_TOKEN] = str(token)
    return _answer(sim, query, page, headers, now)


def _select(sim: Simulation, query: dict[str, Any], now: int) -> tuple[list[Record], bool]:
    """Objects created in `[start, end]` (inclusive), oldest first, whole triples per page."""
    collection = FEED_TYPES[query["feedType"]]
    start, end = int(query["start"]), min(int(query["end"]) + 1, now + 1)
    if start >= end:
        return [], False
    first, last = seq_bounds_for_time(start, end)
    if query.get("after") is not None:
        first = int(query["after"]) + 1
    size = sim.options.feed_page_objects // 3 * 3
    page: list[Record] = []
    for record in sim.dataset.scan(collection, first, last, newest_first=False):
        if start <= record.ts < end:
            if len(page) >= size and record.kind == "malware":
                return page, True
            page.append(record)
    return page, False


def _answer(
    sim: Simulation, query: dict[str, Any], page: list[Record], headers: dict[str, str], now: int
) -> Response:
    stamp = f"{query['feedType']}_{query['fileType']}_{now}"
    if query["fileType"] == "stix":
        bundle_id = uuid.UUID(int=random.Random(f"{stamp}:{page[0].seq}").getrandbits(128), version=4)
        objects = b"[" + b",".join(record.raw for record in page) + b"]"
        head = f'{{"type":"bundle","id":"bundle--{bundle_id}","spec_version":"2.0","objects":'.encode()
        headers["Content-Disposition"] = f'attachment; filename="{stamp}.stix"'
        return Response(head + objects + b"}", 200, headers, media_type="application/json")
    rng = random.Random(f"{sim.dataset.seed}:{page[0].seq}")
    rows = [csv_row(rng, json.loads(record.raw)) for record in page if record.kind == "indicator"]
    text = "\n".join([CSV_HEADER, *rows]).encode()
    if query["compress"]:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{stamp}.csv", text)
        text = buffer.getvalue()
        headers["Content-Disposition"] = f'attachment; filename="{stamp}.zip"'
    else:
        headers["Content-Disposition"] = f'attachment; filename="{stamp}.csv"'
    return Response(text, 200, headers, media_type="application/octet-stream")
