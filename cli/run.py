"""`mimecast-source run` (what `make run` calls): the whole product on this machine, no Docker.

Children: its own `redis-server` (AOF, data in VAR/redis) unless REDIS_URL is set, the Mimecast
simulator (demo only), the API with the Collection page, one worker, beat and Flower. In the demo
(the default unless MIMECAST_BASE_URL or MIMECAST_GATEWAY is set) it also creates a collector and a
source from `examples/mimecast-source.json`, pointed at the simulator. A SECRETS_KEY and the API
credentials are made once and kept in VAR (`secrets.key`, `demo.env`). Records go to VAR/out.
Ctrl-C (or SIGTERM) stops every child, Redis last; one child dying stops the rest. SIGINT is
handled even when the shell started us with it ignored (a script's `make run &`), and the children
die with the supervisor even when it is killed with SIGKILL (see `cli/supervisor.py`). A port
already in use stops the start before anything runs, naming the process that holds it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import httpx

from cli.ports import in_use
from cli.supervisor import Supervisor, wait_for

CLI = "from cli.main import main; main()"
DEMO_COLLECTOR = "demo"


def _http_ok(url: str, auth: tuple[str, str] | None = None) -> Callable[[], bool]:
    return lambda: httpx.get(url, auth=auth, timeout=2).status_code == 200


def _kept(path: Path, make: Callable[[], str]) -> str:
    """A value made once and kept in `path` (owner-only), for the next runs."""
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def _credentials(var: Path) -> tuple[str, str, bool]:
    """(access id, access key, made here): from the environment, else made once into demo.env."""
    given_id, given_key = os.environ.get("API_ACCESS_ID"), os.environ.get("API_ACCESS_KEY")
    if given_id and given_key:
        return given_id, given_key, False
    path = var / "demo.env"
    if path.exists():
        values = dict(
            line.split("=", 1)
            for line in path.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        if values.get("API_ACCESS_ID") and values.get("API_ACCESS_KEY"):
            return values["API_ACCESS_ID"], values["API_ACCESS_KEY"], True
    access_id, access_key = "demo", secrets.token_urlsafe(24)
    path.write_text(
        "# Made by `mimecast-source run`: the management API's admin credentials for this var/ directory.\n"
        f"API_ACCESS_ID={access_id}\nAPI_ACCESS_KEY={access_key}\n"
    )
    path.chmod(0o600)
    return access_id, access_key, True


def _real_mimecast() -> bool:
    """MIMECAST_BASE_URL or MIMECAST_GATEWAY set (environment or .env): a real deployment."""
    from worker.settings import Settings

    settings = Settings()
    return bool(settings.mimecast_base_url) or "mimecast_gateway" in settings.model_fields_set


def _example() -> Path:
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        candidate = base / "examples" / "mimecast-source.json"
        if candidate.exists():
            return candidate
    raise click.ClickException("examples/mimecast-source.json not found (run from the repository)")


def _demo_source(api_url: str, auth: tuple[str, str], example: Path) -> tuple[str, str]:
    """(collector id, source id) of the demo: made from the example file unless already there."""
    body: dict[str, Any] = json.loads(example.read_text())
    name = body["source"]["config"]["name"]
    with httpx.Client(base_url=f"{api_url}/api/v1", auth=auth, timeout=30) as api:
        collectors = api.get("/collectors").raise_for_status().json()["collectors"]
        found = [c["id"] for c in collectors if c.get("name") == DEMO_COLLECTOR]
        if found:
            collector_id = found[0]
        else:
            made = {"collector": {"collectorType": "Hosted", "name": DEMO_COLLECTOR}}
            collector_id = api.post("/collectors", json=made).raise_for_status().json()["collector"]["id"]
        listed = api.get(f"/collectors/{collector_id}/sources").raise_for_status().json()["sources"]
        for source in listed:
            if source["config"]["name"].lower() == name.lower():
                return collector_id, str(source["id"])
        created = api.post(f"/collectors/{collector_id}/sources", json=body).raise_for_status().json()
        return collector_id, str(created["source"]["id"])


def _redis_ready(port: int) -> Callable[[], bool]:
    import redis

    def ping() -> bool:
        client = redis.Redis(port=port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    return ping


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--var-dir", default="var", show_default=True, help="Where data, logs, keys and records go.")
@click.option(
    "--api-port", type=int, default=8080, show_default=True, envvar="API_PORT", help="API and page."
)
@click.option(
    "--flower-port", type=int, default=5555, show_default=True, envvar="FLOWER_PORT", help="Flower."
)
@click.option(
    "--simulator-port", type=int, default=8025, show_default=True, envvar="SIM_PORT", help="Simulator (demo)."
)
@click.option(
    "--redis-port",
    type=int,
    default=6380,
    show_default=True,
    envvar="RUN_REDIS_PORT",
    help="Port of the redis-server started here (unless REDIS_URL is set).",
)
@click.option(
    "--demo/--no-demo",
    default=None,
    help="Simulator and demo source [default: on unless MIMECAST_BASE_URL or MIMECAST_GATEWAY is set].",
)
def run(
    var_dir: str, api_port: int, flower_port: int, simulator_port: int, redis_port: int, demo: bool | None
) -> None:
    """Run the whole stack locally: Redis, the simulator, the API, a worker, beat and Flower."""
    from cryptography.fernet import Fernet

    # Both explicitly: a process started with SIGINT ignored keeps it ignored unless told otherwise.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    var = Path(var_dir)
    var.mkdir(parents=True, exist_ok=True)
    demo = (not _real_mimecast()) if demo is None else demo
    access_id, access_key, made_here = _credentials(var)
    secrets_key = os.environ.get("SECRETS_KEY") or _kept(
        var / "secrets.key", lambda: Fernet.generate_key().decode()
    )
    redis_url = os.environ.get("REDIS_URL") or f"redis://127.0.0.1:{redis_port}/0"
    api_url = f"http://127.0.0.1:{api_port}"
    sim_url = f"http://127.0.0.1:{simulator_port}"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "REDIS_URL": redis_url,
        "SECRETS_KEY": secrets_key,
        "API_ACCESS_ID": access_id,
        "API_ACCESS_KEY": access_key,
        "SINK_URL": os.environ.get("SINK_URL") or f"file://{var_dir.rstrip('/')}/out",
        "FLOWER_BASIC_AUTH": os.environ.get("FLOWER_BASIC_AUTH") or f"{access_id}:{access_key}",
    }
    if "REDIS_URL" not in os.environ:
        env["REDIS_PASSWORD"] = ""  # our own Redis has none, whatever .env says for compose
    if demo:
        env.update({"MIMECAST_BASE_URL": sim_url, "SIM_HOST": "127.0.0.1", "SIM_PORT": str(simulator_port)})
        env.setdefault("POLL_INTERVAL_SECONDS", "60")
    wanted = {
        "API": (api_port, "--api-port / API_PORT"),
        "Flower": (flower_port, "--flower-port / FLOWER_PORT"),
    }
    if demo:
        wanted["simulator"] = (simulator_port, "--simulator-port / SIM_PORT")
    if "REDIS_URL" not in os.environ:
        wanted["redis"] = (redis_port, "--redis-port / RUN_REDIS_PORT")
    problems = in_use(wanted)
    if problems:
        raise click.ClickException("\n".join(problems))
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "worker"]
    supervisor = Supervisor(var / "logs")
    stopped: str | None = None
    try:
        if "REDIS_URL" not in os.environ:
            if shutil.which("redis-server") is None:
                raise click.ClickException(
                    "redis-server is not installed: `make run` installs it, or set REDIS_URL"
                )
            data = (var / "redis").resolve()
            data.mkdir(parents=True, exist_ok=True)
            redis_args = [
                "redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--dir", str(data),
                "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
            ]  # fmt: skip
            supervisor.start("redis", redis_args, env)
            wait_for(_redis_ready(redis_port), supervisor, "redis-server", "redis")
        if demo:
            supervisor.start("simulator", [python, "-m", "simulator"], env)
        supervisor.start(
            "api", [python, "-c", CLI, "api", "--host", "127.0.0.1", "--port", str(api_port)], env
        )
        supervisor.start(
            "worker",
            [*celery, "worker", "--loglevel", "INFO", "--hostname", "worker1@%h", "-E", "-c", "2"],
            env,
            # Orphaned, it goes at once: a warm (or even cold) shutdown can hang once the Redis beside
            # it is gone too. Its tasks' messages are unacked and delivered again, no checkpoint moved
            # without the destination, and Celery's pool processes die with it (their own PDEATHSIG).
            death=signal.SIGKILL,
        )
        beat_schedule = str((var / "celerybeat-schedule").resolve())
        supervisor.start("beat", [*celery, "beat", "--loglevel", "INFO", "--schedule", beat_schedule], env)
        supervisor.start(
            "flower",
            [*celery, "flower", "--address=127.0.0.1", f"--port={flower_port}", "--read_only=True"],
            env,
        )
        if demo:
            wait_for(_http_ok(f"{sim_url}/_sim/health"), supervisor, "the simulator", "simulator")
        wait_for(_http_ok(f"{api_url}/health"), supervisor, "the API", "api")
        wait_for(_http_ok(f"http://127.0.0.1:{flower_port}/healthcheck"), supervisor, "Flower", "flower")
        lines = [
            ("Collection page", f"{api_url}/"),
            ("API", f"{api_url}/api/v1   (OpenAPI: {api_url}/api/v1/openapi.json)"),
            ("Metrics", f"{api_url}/metrics"),
            ("Flower", f"http://127.0.0.1:{flower_port}/   (the same credentials)"),
            ("Redis", redis_url),
            ("Destination", env["SINK_URL"]),
        ]
        if demo:
            collector_id, source_id = _demo_source(api_url, (access_id, access_key), _example())
            lines.append(("Mimecast simulator", f"{sim_url}   client demo-client-id / demo-client-secret"))
            lines.append(("Demo source", f"{source_id} in collector {DEMO_COLLECTOR} ({collector_id})"))
        where = f"(also in {var / 'demo.env'})" if made_here else "(from the environment)"
        lines.append(("Access id / key", f"{access_id} / {access_key}   {where}"))
        _summary(var, api_url, lines, made_here)
        stopped = supervisor.wait()
        if stopped is not None:
            click.echo(
                f"{stopped} exited; see {supervisor.log_dir}/{stopped}.log. Stopping the rest.", err=True
            )
    except KeyboardInterrupt:
        stopped = None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        click.echo("stopping ...", err=True)
        supervisor.stop()
    sys.exit(1 if stopped else 0)


def _summary(var: Path, api_url: str, lines: list[tuple[str, str]], made_here: bool) -> None:
    table = "\n".join(f"  {name:<19}{value}" for name, value in lines)
    source_env = f"  set -a; . {var / 'demo.env'}; set +a\n" if made_here else ""
    click.echo(
        f"""
mimecast-source is running (Ctrl-C stops it). Logs: {var / "logs"}/

{table}

Try:
{source_env}  mimecast-source sources list --api-url {api_url}
  mimecast-source health --api-url {api_url}
"""
    )
