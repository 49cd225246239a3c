"""`mimecast-source run` (what `make run` calls), as a newcomer meets it.

Given free ports and an empty var directory, when `mimecast-source run` starts, then it prints a
summary; the API, Flower (behind the same credentials) and the simulator answer; the demo source
exists through the API with the credentials of var/demo.env; records arrive under var/out; and
SIGINT (Ctrl-C) stops it with exit code 0, leaving no process of its tree behind.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.ports import free_port
from tests.support.stack import wait_for

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_MARK = "mimecast-source is running"
DEPLOYMENT = (
    "REDIS_URL",
    "SECRETS_KEY",
    "API_ACCESS_ID",
    "API_ACCESS_KEY",
    "SINK_URL",
    "DEMO",
    "FLOWER_BASIC_AUTH",
)


def descendants(root: int) -> set[int]:
    """Every live process under `root`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        children = {pid for pid, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def demo_env(var: Path) -> dict[str, str]:
    lines = (var / "demo.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


# As a shell does for `cmd &` in a script: the command starts with SIGINT ignored.
SIGINT_IGNORED = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]


@contextmanager
def running(
    args: list[str], env: dict[str, str], cwd: Path, *, sigint_ignored: bool = False
) -> Iterator[Run]:
    """`mimecast-source run` until the block ends, then SIGINT (Ctrl-C) and its exit code."""
    args = [*SIGINT_IGNORED, *args] if sigint_ignored else args
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd
    )
    assert process.stdout is not None
    stdout = process.stdout
    run = Run(process)
    reader = threading.Thread(target=lambda: run.output.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda: SUMMARY_MARK in run.text() or process.poll() is not None, timeout=90, what="summary")
        assert process.poll() is None, run.text()
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            run.code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            reader.join(timeout=10)
            stdout.close()


@dataclass
class Run:
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    code: int | None = None

    def text(self) -> str:
        return "".join(self.output)


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in DEPLOYMENT and not key.startswith(("SIM_", "MIMECAST_"))
    }
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def command(var: Path, **ports: int) -> list[str]:
    args = [sys.executable, "-c", "from cli.main import main; main()", "run", "--var-dir", str(var)]
    for name in ("api", "flower", "simulator", "redis"):
        args += [f"--{name}-port", str(ports.get(name) or free_port())]
    return args


def test_make_run_starts_everything_creates_the_demo_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    var = tmp_path / "var"
    api, flower, sim = free_port(), free_port(), free_port()
    env = clean_env(SIM_BACKLOG_HOURS="1", SIM_EVENTS_PER_MINUTE="5")
    with running(command(var, api=api, flower=flower, simulator=sim), env, tmp_path) as run:
        summary = run.text()
        for where in (f"http://127.0.0.1:{api}/", f"http://127.0.0.1:{flower}/", f"http://127.0.0.1:{sim}"):
            assert where in summary
        tree = descendants(run.process.pid)

        credentials = demo_env(var)
        auth = (credentials["API_ACCESS_ID"], credentials["API_ACCESS_KEY"])
        assert credentials["API_ACCESS_KEY"] in summary
        assert httpx.get(f"http://127.0.0.1:{api}/health", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{sim}/_sim/health", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{flower}/", timeout=5).status_code == 401
        assert httpx.get(f"http://127.0.0.1:{flower}/", auth=auth, timeout=5).status_code == 200

        with httpx.Client(base_url=f"http://127.0.0.1:{api}/api/v1", auth=auth, timeout=10) as client:
            collectors = client.get("/collectors").json()["collectors"]
            demo = next(c for c in collectors if c["name"] == "demo")
            sources = client.get(f"/collectors/{demo['id']}/sources").json()["sources"]
        assert [s["config"]["name"] for s in sources] == ["Mimecast"]
        assert sources[0]["config"]["clientID"] == "demo-client-id"
        assert sources[0]["config"]["clientSecret"] == "********"
        assert (var / "secrets.key").exists()
        assert (var / "redis" / "appendonlydir").is_dir()

        if importlib.util.find_spec("tasks.fetch") is not None:
            # Collection exists: the demo's records reach the file destination within a minute.
            wait_for(lambda: list((var / "out").rglob("*.ndjson")), timeout=60, what="records under var/out")

    assert run.code == 0, run.text()[-3000:]
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in tree if alive(pid)], "children left behind"
    assert len(tree) >= 6  # redis, simulator, api, worker (and its pool), beat, flower


def test_a_real_mimecast_setting_means_no_simulator_and_no_demo_source(tmp_path: Path) -> None:
    var = tmp_path / "var"
    api = free_port()
    with running(command(var, api=api), clean_env(MIMECAST_GATEWAY="uk"), tmp_path) as run:
        credentials = demo_env(var)
        auth = (credentials["API_ACCESS_ID"], credentials["API_ACCESS_KEY"])
        collectors = httpx.get(f"http://127.0.0.1:{api}/api/v1/collectors", auth=auth, timeout=10)
        assert collectors.json() == {"collectors": []}
        assert "simulator" not in run.text().lower()
        assert not (var / "logs" / "simulator.log").exists()
    assert run.code == 0, run.text()[-3000:]


def gone(tree: set[int], timeout: float) -> list[int]:
    """The processes of `tree` still alive after waiting up to `timeout` seconds for them to end."""
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in tree if alive(pid)]


def test_a_supervisor_killed_with_sigkill_takes_its_children_along_and_the_next_run_starts_cleanly(
    tmp_path: Path,
) -> None:
    var = tmp_path / "var"
    ports = {"api": free_port(), "flower": free_port(), "simulator": free_port(), "redis": free_port()}
    env = clean_env(SIM_BACKLOG_HOURS="1", SIM_EVENTS_PER_MINUTE="5")
    with running(command(var, **ports), env, tmp_path) as first:
        tree = descendants(first.process.pid)
        assert len(tree) >= 6
        first.process.kill()  # SIGKILL: the supervisor cannot clean up
        first.process.wait(timeout=10)
        left = gone(tree, timeout=60)
        assert not left, [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in left]

    # Started the way a script's `make run &` starts it: SIGINT ignored by inheritance.
    with running(command(var, **ports), env, tmp_path, sigint_ignored=True) as second:
        assert f"http://127.0.0.1:{ports['api']}/" in second.text()
        credentials = demo_env(var)
        auth = (credentials["API_ACCESS_ID"], credentials["API_ACCESS_KEY"])
        api = f"http://127.0.0.1:{ports['api']}/api/v1"
        collectors = httpx.get(f"{api}/collectors", auth=auth, timeout=10).json()["collectors"]
        assert [c["name"] for c in collectors] == ["demo"]  # the first run's Redis data, kept
        tree = descendants(second.process.pid)
    assert second.code == 0, second.text()[-3000:]
    assert not gone(tree, timeout=10)


def test_a_port_in_use_is_named_with_the_process_holding_it(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        run = subprocess.run(
            command(tmp_path / "var", api=port),
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    assert run.returncode == 1
    assert f"port {port} (API) is already in use by pid {os.getpid()} (" in run.stderr
    assert "--api-port / API_PORT" in run.stderr
    assert not (tmp_path / "var" / "logs").exists()  # nothing was started
