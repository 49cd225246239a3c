"""`mimecast-source run` (what `make run` calls): the whole product on this machine, no Docker.

It starts every process as a child, prints where to look, and stops them all on Ctrl-C.
Today the stack is the Mimecast simulator; the API, workers, beat and Flower join as they land.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click


@dataclass
class Supervisor:
    """Child processes started in order and stopped in reverse; one dying stops the rest."""

    log_dir: Path
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
        self.children.append((name, process))

    def wait(self) -> str | None:
        """Block until Ctrl-C (None) or a child exits (its name)."""
        try:
            while True:
                for name, process in self.children:
                    if process.poll() is not None:
                        return name
                time.sleep(0.5)
        except KeyboardInterrupt:
            return None

    def stop(self) -> None:
        for _name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _name, process in reversed(self.children):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@click.command()
@click.option("--var-dir", default="var", show_default=True, help="Where logs and data go.")
@click.option("--simulator-port", type=int, default=8025, show_default=True, envvar="SIM_PORT")
def run(var_dir: str, simulator_port: int) -> None:
    """Run the stack locally: the Mimecast simulator (more processes join as they land)."""
    logs = Path(var_dir) / "logs"
    supervisor = Supervisor(logs)
    env = {"SIM_HOST": "127.0.0.1", "SIM_PORT": str(simulator_port)}
    supervisor.start("simulator", [sys.executable, "-m", "simulator"], env)
    url = f"http://127.0.0.1:{simulator_port}"
    click.echo(
        f"""
mimecast-source is running (Ctrl-C stops it). Logs: {logs}/

  Mimecast API 2.0 simulator  {url}
    client id / secret        demo-client-id / demo-client-secret
    control plane             {url}/_sim/state   (header X-Sim-Token: sim-control-token)

Try:
  curl -s -X POST {url}/oauth/token \\
       -d client_id=demo-client-id -d client_secret=demo-client-secret -d grant_type=client_credentials
"""
    )
    stopped = supervisor.wait()
    if stopped is not None:
        click.echo(f"{stopped} exited; see {logs}/{stopped}.log. Stopping the rest.", err=True)
    supervisor.stop()
    sys.exit(1 if stopped else 0)
