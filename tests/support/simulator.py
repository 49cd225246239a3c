"""The Mimecast simulator as a real process on a free port, driven over HTTP like the real API."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import ServerExited, free_port, http_status, wait_until

CONTROL_TOKEN = "test-control-token"
CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"


class SimulatorProcess:
    """`python -m simulator` with the given options; `control` speaks to its `/_sim/` plane."""

    def __init__(self, log_dir: Path, **options: Any) -> None:
        self.port = free_port()
        self.options = {
            "seed": 7,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "control_token": CONTROL_TOKEN,
            "backlog_hours": 2,
            "events_per_minute": 6,
            **options,
        }
        self.log_path = log_dir / f"simulator-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.control = httpx.Client(base_url=self.url, headers={"X-Sim-Token": CONTROL_TOKEN}, timeout=60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(self.port)]
        env = {key: value for key, value in os.environ.items() if not key.startswith("SIM_")}
        for name, value in self.options.items():
            env[f"SIM_{name.upper()}"] = value if isinstance(value, str) else _env_value(value)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until(self._healthy, timeout=30, what=f"simulator on port {self.port}")

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServerExited(f"simulator exited: {self.log_path.read_text()[-2000:]}")
        return http_status(f"{self.url}/_sim/health") == 200

    def stop(self) -> None:
        self.control.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    # The control plane, as tests use it.
    def reset(self) -> None:
        self.control.post("/_sim/reset").raise_for_status()

    def fault(self, route: str, **fault: Any) -> None:
        self.control.post("/_sim/faults", json={"route": route, **fault}).raise_for_status()

    def advance(self, seconds: float) -> None:
        self.control.post("/_sim/clock/advance", json={"seconds": seconds}).raise_for_status()

    def configure(self, **options: Any) -> None:
        self.control.post("/_sim/config", json=options).raise_for_status()

    def truth(self, collection: str, **params: Any) -> list[str]:
        response = self.control.get("/_sim/truth", params={"collection": collection, **params})
        response.raise_for_status()
        ids: list[str] = response.json()["ids"]
        return ids

    def state(self) -> dict[str, Any]:
        response = self.control.get("/_sim/state")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def token(self, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> str:
        form = {"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials"}
        response = self.control.post("/oauth/token", data=form)
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token


def _env_value(value: Any) -> str:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return str(value)


# httpx builds a TLS context for every client (~0.1 s each); these clients speak plain HTTP on
# loopback, so they share one context, built once.
TLS = ssl.create_default_context()


def connect(sim: SimulatorProcess) -> httpx.Client:
    """A client of `sim` holding a fresh bearer token."""
    client = httpx.Client(base_url=sim.url, timeout=30, verify=TLS)
    renew_token(client)
    return client


def renew_token(client: httpx.Client) -> None:
    """Take a new token, as a client does once its token expired."""
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}
    response = client.post("/oauth/token", data=form)
    response.raise_for_status()
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
