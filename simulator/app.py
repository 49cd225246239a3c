"""The simulator's ASGI app: the Mimecast API 2.0 surface plus the `/_sim/` control plane."""

from __future__ import annotations

import asyncio
import uuid

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator import api_routes, control, feed_routes, siem_routes
from simulator.settings import SimulatorSettings
from simulator.state import Simulation


class Gateway:
    """ASGI middleware: the configured latency on every Mimecast call, an `x-request-id` on every answer."""

    def __init__(self, app: ASGIApp, sim: Simulation) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        latency = self.sim.options.latency_ms
        if latency and not scope["path"].startswith("/_sim/"):
            await asyncio.sleep(latency / 1000)
        request_id = uuid.uuid4().hex.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id))
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(settings: SimulatorSettings) -> Starlette:
    sim = Simulation(settings)
    routes = [
        Route("/oauth/token", api_routes.token, methods=["POST"]),
        Route("/siem/v1/batch/events/cg", siem_routes.batch_page, methods=["GET"]),
        Route(siem_routes.FILE_PREFIX + "/{account}/{name}.json.gz", siem_routes.batch_file, methods=["GET"]),
        Route("/siem/v1/events/cg", siem_routes.stream_page, methods=["GET"]),
        Route("/api/dlp/get-logs", api_routes.endpoint("dlp"), methods=["POST"]),
        Route("/api/audit/get-audit-events", api_routes.endpoint("audit"), methods=["POST"]),
        Route("/api/gateway/get-hold-message-list", api_routes.endpoint("hold"), methods=["POST"]),
        Route("/api/ttp/url/get-logs", api_routes.endpoint("url"), methods=["POST"]),
        Route("/api/ttp/attachment/get-logs", api_routes.endpoint("attachment"), methods=["POST"]),
        Route("/api/ttp/impersonation/get-logs", api_routes.endpoint("impersonation"), methods=["POST"]),
        Route("/api/archive/get-archive-search-logs", api_routes.endpoint("archive"), methods=["POST"]),
        # A separate documented endpoint with the same request and records (spec-more 5.3).
        Route("/api/archive/get-search-logs", api_routes.endpoint("archive"), methods=["POST"]),
        Route("/api/gateway/get-held-release-logs", api_routes.endpoint("release"), methods=["POST"]),
        Route("/api/ttp/threat-intel/get-feed", feed_routes.feed_page, methods=["POST"]),
        Route("/siem/v1/batch/events/ci", siem_routes.ci_batch_page, methods=["GET"]),
        *control.ROUTES,
    ]
    app = Starlette(routes=routes)
    app.state.sim = sim
    app.add_middleware(Gateway, sim=sim)
    return app
