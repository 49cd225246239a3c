"""The control plane under `/_sim/`: never part of the Mimecast surface, guarded by its own token.

Tests, benchmarks and demos use it to script faults, move time (advance it, freeze it, let it run
again), change credentials and read the ground truth: the id of every record made available so far.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.clock import iso_ms, parse_time
from simulator.faults import Corruption, Fault
from simulator.gateway import json_response
from simulator.settings import COLLECTIONS
from simulator.siem_routes import signed_url
from simulator.state import Client, Simulation
from simulator.truth import truth_ids

FAULT = TypeAdapter(Fault)
CORRUPTION = TypeAdapter(Corruption)


class NewClient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    collections: list[str] = Field(default_factory=lambda: list(COLLECTIONS))


def _sim(request: Request) -> Simulation:
    sim: Simulation = request.app.state.sim
    return sim


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _authorized(request: Request) -> bool:
    given = request.headers.get("x-sim-token", "")
    return hmac.compare_digest(given.encode(), _sim(request).initial.control_token.encode())


async def _json(request: Request) -> Any:
    raw = await request.body()
    return {} if not raw else TypeAdapter(Any).validate_json(raw)


def guarded(handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        if not _authorized(request):
            return _error(401, "missing or wrong X-Sim-Token")
        try:
            response: Response = await handler(request, _sim(request))
            return response
        except (ValidationError, ValueError, KeyError) as error:
            return _error(400, str(error))

    return endpoint


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def state(request: Request, sim: Simulation) -> Response:
    options = sim.options.model_dump(mode="json", exclude={"client_secret", "control_token", "client_id"})
    clients = [
        {"client_id": c.client_id, "collections": sorted(c.collections), "revoked": c.revoked}
        for c in sim.clients.values()
    ]
    return json_response(
        {
            "now": iso_ms(sim.clock.now_ms()),
            "clockFrozen": sim.clock.frozen,
            "startedAt": iso_ms(sim.started_ms),
            "origin": iso_ms(sim.dataset.origin_minute * 60_000),
            "seed": sim.initial.seed,
            "accountId": sim.dataset.account_id,
            "calls": dict(sim.calls),
            "overQuota": dict(sim.refused),
            "pendingFaults": sim.faults.pending(),
            "clients": clients,
            "options": options,
        }
    )


async def reset(request: Request, sim: Simulation) -> Response:
    sim.reset()
    return json_response({"reset": True, "now": iso_ms(sim.clock.now_ms())})


async def add_fault(request: Request, sim: Simulation) -> Response:
    fault = FAULT.validate_python(await _json(request))
    sim.faults.add(fault)
    return json_response({"pending": sim.faults.pending()}, 201)


async def clear_faults(request: Request, sim: Simulation) -> Response:
    sim.faults = type(sim.faults)()
    return json_response({"pending": {}})


async def expire_tokens(request: Request, sim: Simulation) -> Response:
    return json_response({"expired": sim.expire_tokens()})


async def add_client(request: Request, sim: Simulation) -> Response:
    new = NewClient.model_validate(await _json(request))
    unknown = set(new.collections) - set(COLLECTIONS)
    if unknown:
        raise ValueError(f"unknown collections {sorted(unknown)}; allowed: {list(COLLECTIONS)}")
    sim.clients[new.client_id] = Client(new.client_id, new.client_secret, set(new.collections))
    return json_response({"client_id": new.client_id, "collections": sorted(new.collections)}, 201)


async def revoke_client(request: Request, sim: Simulation) -> Response:
    client = sim.clients.get(request.path_params["client_id"])
    if client is None:
        return _error(404, f"no client {request.path_params['client_id']!r}")
    client.revoked = True
    return json_response({"client_id": client.client_id, "revoked": True})


async def rotate_client(request: Request, sim: Simulation) -> Response:
    client = sim.clients.get(request.path_params["client_id"])
    if client is None:
        return _error(404, f"no client {request.path_params['client_id']!r}")
    body = await _json(request)
    client.client_secret = str(body.get("client_secret") or secrets.token_urlsafe(24))
    client.revoked = False
    return json_response({"client_id": client.client_id, "client_secret": client.client_secret})


async def corrupt_file(request: Request, sim: Simulation) -> Response:
    body = dict(await _json(request))
    target = str(body.pop("file"))
    name = urlparse(target).path.rsplit("/", 1)[-1].removesuffix(".json.gz")
    store = sim.ci_batches if name.startswith(sim.ci_batches.prefix) else sim.batches
    file = store.find(name)
    if file is None:
        raise ValueError(f"no batch file {name!r}")
    sim.faults.corrupt(file.name, CORRUPTION.validate_python(body))
    ids = [record.id for record in store.records(file)]
    return json_response({"file": file.name, "recordIds": ids})


async def bulk_file(request: Request, sim: Simulation) -> Response:
    """A batch file of `lines` lines of one log type, for benchmarks: its URL and uncompressed size."""
    body = dict(await _json(request))
    file = sim.bulk.add(int(body.get("lines", 0)), str(body.get("type", "receipt")))
    now = sim.clock.now_ms()
    url, expiry = signed_url(sim, request, file.name, now, now + sim.options.batch_url_ttl_seconds * 1000)
    size = sim.bulk.size(file) if body.get("measure") else None
    return json_response(
        {"file": file.name, "url": url, "expiry": expiry, "lines": file.lines, "bytes": size}, 201
    )


async def advance_clock(request: Request, sim: Simulation) -> Response:
    seconds = float((await _json(request))["seconds"])
    return json_response({"now": iso_ms(int(sim.clock.advance(seconds) * 1000))})


async def freeze_clock(request: Request, sim: Simulation) -> Response:
    return json_response({"now": iso_ms(int(sim.clock.freeze() * 1000)), "frozen": True})


async def resume_clock(request: Request, sim: Simulation) -> Response:
    return json_response({"now": iso_ms(int(sim.clock.resume() * 1000)), "frozen": False})


async def configure(request: Request, sim: Simulation) -> Response:
    sim.configure(dict(await _json(request)))
    return json_response(
        sim.options.model_dump(mode="json", exclude={"client_secret", "control_token", "client_id"})
    )


async def truth(request: Request, sim: Simulation) -> Response:
    params = request.query_params
    collection = params.get("collection", "")
    if collection not in COLLECTIONS:
        raise ValueError(f"collection must be one of {', '.join(COLLECTIONS)}")
    via = params.get("via", "batch")
    if via not in ("batch", "streaming"):
        raise ValueError("via must be batch or streaming (it matters for siem only)")
    since = _moment(params.get("since"))
    until = _moment(params.get("until"))
    ids = truth_ids(sim, collection, via, since, until)
    return json_response({"collection": collection, "count": len(ids), "ids": ids})


def _moment(value: str | None) -> int | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else parse_time(value)


ROUTES = [
    Route("/_sim/health", health),
    Route("/_sim/state", guarded(state)),
    Route("/_sim/reset", guarded(reset), methods=["POST"]),
    Route("/_sim/faults", guarded(add_fault), methods=["POST"]),
    Route("/_sim/faults", guarded(clear_faults), methods=["DELETE"]),
    Route("/_sim/tokens/expire", guarded(expire_tokens), methods=["POST"]),
    Route("/_sim/clients", guarded(add_client), methods=["POST"]),
    Route("/_sim/clients/{client_id}/revoke", guarded(revoke_client), methods=["POST"]),
    Route("/_sim/clients/{client_id}/rotate", guarded(rotate_client), methods=["POST"]),
    Route("/_sim/files/corrupt", guarded(corrupt_file), methods=["POST"]),
    Route("/_sim/files/bulk", guarded(bulk_file), methods=["POST"]),
    Route("/_sim/clock/advance", guarded(advance_clock), methods=["POST"]),
    Route("/_sim/clock/freeze", guarded(freeze_clock), methods=["POST"]),
    Route("/_sim/clock/resume", guarded(resume_clock), methods=["POST"]),
    Route("/_sim/config", guarded(configure), methods=["POST"]),
    Route("/_sim/truth", guarded(truth)),
]
