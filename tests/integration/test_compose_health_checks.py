"""The health checks of docker-compose.yml, run as Compose would run them, against real processes.

Given a redis-server whose password holds every character that breaks a URL (`@ / : # %`), and a
worker, beat and Flower configured as compose configures them (REDIS_URL without the password,
REDIS_PASSWORD beside it), each service's health check command, taken from the compose file,
passes while the service runs and fails once it is gone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.support.celery_worker import CeleryWorker, base_env
from tests.support.ports import free_port, wait_until
from tests.support.stack import wait_for

ROOT = Path(__file__).resolve().parents[2]
SERVICES: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
PASSWORD = "p@ss/w:rd#%x?"
BIN = str(Path(sys.executable).parent)
# Where no node may answer, the ping gives up after 3 seconds instead of compose's 10: a node
# that does answer (the check passing wrongly) answers within a second here.
NO_ANSWER = {"--timeout 10": "--timeout 3"}


@pytest.fixture
def guarded_redis(tmp_path: Path) -> Iterator[int]:
    """A redis-server on a free port that wants PASSWORD."""
    port = free_port()
    args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(tmp_path)]
    process = subprocess.Popen([*args, "--requirepass", PASSWORD], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=PASSWORD, socket_timeout=1)
    try:
        wait_until(lambda: _pings(client), timeout=10, what="redis with a password")
        yield port
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def compose_env(port: int, **extra: str) -> dict[str, str]:
    env = base_env(f"redis://127.0.0.1:{port}/0", REDIS_PASSWORD=PASSWORD, **extra)
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def health_check(service: str, env: dict[str, str], **replace: str) -> int:
    """Exit code of the service's compose health check, run here (`$$` is Compose's escape of `$`)."""
    test: list[str] = SERVICES[service]["healthcheck"]["test"]
    args = ["sh", "-c", test[1].replace("$$", "$")] if test[0] == "CMD-SHELL" else list(test[1:])
    for old, new in replace.items():
        args = [arg.replace(old, new) for arg in args]
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, timeout=60, check=False).returncode


def test_the_worker_is_healthy_while_its_node_answers_a_ping_through_a_password_protected_redis(
    guarded_redis: int, tmp_path: Path
) -> None:
    env = compose_env(guarded_redis, HOSTNAME=socket.gethostname())
    # Compose's node name is worker@<container hostname>; the fixture's is NAME@%h.
    worker = CeleryWorker(tmp_path, env, name="worker")
    worker.start()
    try:
        assert health_check("worker", env) == 0
        assert health_check("worker", {**env, "HOSTNAME": "another-replica"}, **NO_ANSWER) != 0
    finally:
        worker.stop()
    assert health_check("worker", env, **NO_ANSWER) != 0


def test_beat_is_healthy_while_it_keeps_its_schedule_file_fresh(guarded_redis: int, tmp_path: Path) -> None:
    env = compose_env(guarded_redis)
    schedule = tmp_path / "celerybeat-schedule"
    args = [sys.executable, "-m", "celery", "-A", "worker", "beat", "--schedule", str(schedule)]
    with (tmp_path / "beat.log").open("ab") as log:
        beat = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    check = {"/tmp/celerybeat-schedule": str(schedule)}  # the path inside the container, and here
    try:
        wait_for(lambda: health_check("beat", env, **check) == 0, timeout=30, what="beat healthy")
        # Beat sends `dispatch` to the guarded Redis: the broker connection works with the password.
        client = redis.Redis(port=guarded_redis, password=PASSWORD)
        wait_for(
            lambda: client.llen("celery") > 0 or client.keys("*unacked*"), timeout=30, what="dispatch sent"
        )
        client.close()
    finally:
        beat.terminate()
        beat.wait(timeout=20)
    an_hour_ago = time.time() - 3600
    for path in tmp_path.glob("celerybeat-schedule*"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert health_check("beat", env, **check) != 0
    assert health_check("beat", env, **{"/tmp/celerybeat-schedule": str(tmp_path / "none")}) != 0


def test_flower_is_healthy_while_it_serves(guarded_redis: int, tmp_path: Path) -> None:
    port = free_port()
    env = compose_env(guarded_redis, FLOWER_BASIC_AUTH="admin:flower-password")
    args = [sys.executable, "-m", "celery", "-A", "worker", "flower", "--address=127.0.0.1", f"--port={port}"]
    with (tmp_path / "flower.log").open("ab") as log:
        flower = subprocess.Popen([*args, "--read_only=True"], env=env, cwd=ROOT, stdout=log, stderr=log)
    here = {"127.0.0.1:5555": f"127.0.0.1:{port}"}
    try:
        wait_for(lambda: health_check("flower", env, **here) == 0, timeout=60, what="flower healthy")
    finally:
        flower.terminate()
        flower.wait(timeout=20)
    assert health_check("flower", env, **here) != 0
