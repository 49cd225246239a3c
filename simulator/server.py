"""Run the simulator under uvicorn."""

from __future__ import annotations

import uvicorn

from simulator.app import create_app
from simulator.settings import SimulatorSettings


def serve(settings: SimulatorSettings) -> None:
    app = create_app(settings)
    print(
        f"Mimecast API 2.0 simulator on http://{settings.host}:{settings.port} "
        f"(client id {settings.client_id}, control plane /_sim/ with X-Sim-Token)",
        flush=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
