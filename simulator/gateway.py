"""What stands before every Mimecast route: scripted faults, bearer checks, permissions and quotas."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from simulator.faults import Fault
from simulator.state import COLLECTION_OF_ROUTE, Client, Simulation


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status, headers, media_type="application/json")


def gateway_fail(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The gateway's flat error form: `{"fail": [{"code", "message"}]}`."""
    return json_response({"fail": [{"code": code, "message": message}]}, status, headers)


def siem_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The /siem/v1 endpoints' error form: `{"error": {"code", "message"}}`."""
    return json_response({"error": {"code": code, "message": message}}, status, headers)


class DroppedResponse(Response):
    """Headers promise a body that never comes: the server closes the connection part-way."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"value":[{"url":', "more_body": True})
        # Returning without the rest makes the server close the connection mid-body.


def fault_response(fault: Fault, route: str) -> Response:
    if fault.kind == "drop":
        return DroppedResponse()
    if fault.kind == "rate_limit":
        headers = {
            "X-RateLimit-Limit": "0",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(fault.reset_ms),
        }
        headers.update(fault.headers)
        if fault.body is not None:
            return json_response(fault.body, 429, headers)
        return gateway_fail(429, "too_many_requests", "Over throttling limit", headers)
    if fault.kind == "fail_200":
        body = fault.body or {
            "meta": {"status": 200},
            "data": [],
            "fail": [
                {
                    "errors": [
                        {"code": "err_simulated_failure", "message": "Simulated failure", "retryable": False}
                    ]
                }
            ],
        }
        return json_response(body, 200, fault.headers)
    status = fault.status if fault.kind == "status" else 500
    if fault.body is not None:
        return json_response(fault.body, status, fault.headers)
    message = "An unexpected error occurred while processing the batch request"
    if route in ("batch", "streaming"):
        return siem_error(status, "internal-error", message, fault.headers)
    return gateway_fail(status, "internal-error", message, fault.headers)


async def scripted_fault(sim: Simulation, route: str, client_id: str | None = None) -> Response | None:
    """Consume the next scripted fault of `route` for `client_id`: a slow one delays, any other
    answers instead."""
    sim.count(route)
    fault = sim.faults.take(route, client_id)
    if fault is None:
        return None
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay_ms / 1000)
        return None
    return fault_response(fault, route)


async def admit(
    sim: Simulation, request: Request, route: str, collection: str | None = None
) -> tuple[Client | None, dict[str, str], Response | None]:
    """Run the gate for an API call: the client, the quota headers to add, or the refusal.

    The permission checked is the route's collection, or `collection` for a route serving several."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    issued = sim.tokens.get(token) if scheme.lower() == "bearer" else None
    refusal = await scripted_fault(sim, route, issued.client_id if issued else None)
    if refusal is not None:
        return None, {}, refusal
    client = sim.clients.get(issued.client_id) if issued else None
    if issued is None or client is None or client.revoked:
        return None, {}, gateway_fail(401, "token_verification_failed", "Token verification failed")
    if issued.expires_ms <= sim.clock.now_ms():
        return None, {}, gateway_fail(401, "token_expired", "Token has expired")
    if (collection or COLLECTION_OF_ROUTE[route]) not in client.collections:
        return None, {}, gateway_fail(403, "app_forbidden", "Forbidden to perform the requested operation")
    quota = sim.quotas.spend(client.client_id, route, sim.clock.now_ms())
    headers = quota.headers(sim.options.quota_reset, sim.options.quota_headers)
    if quota.exceeded:
        sim.count_refused(route)
        return None, {}, gateway_fail(429, "too_many_requests", "Over throttling limit", headers)
    return client, headers, None
