"""docker-compose.yml, the Dockerfile and .env.example, checked statically and by a real Compose
(Debian's `docker-compose`, whose `config` parses, validates and resolves the file without an
engine): the services, their health checks and commands, the scaling rules, one image built once,
and that no secret is written into the files or pasted into a URL."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.settings import SimulatorSettings
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
APP_SERVICES = ("api", "worker", "beat", "flower")


def documented() -> dict[str, str]:
    """Name -> the comment line just above its `NAME=` (or `#NAME=`) line in .env.example."""
    found: dict[str, str] = {}
    lines = ENV_EXAMPLE.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^#?([A-Z][A-Z0-9_]*)=", line)
        if match:
            above = lines[index - 1] if index else ""
            found[match.group(1)] = above if above.startswith("# ") else ""
    return found


def command(service: str) -> list[str]:
    raw = SERVICES[service]["command"]
    return raw if isinstance(raw, list) else raw.split()


def seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def interpolated_names(node: Any) -> set[str]:
    text = yaml.safe_dump(node)
    return set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))  # `$${X}` is the container's own


def test_the_stack_has_redis_api_worker_beat_flower_and_a_demo_simulator() -> None:
    assert set(SERVICES) == {"redis", "api", "worker", "beat", "flower", "simulator"}
    assert SERVICES["simulator"]["profiles"] == ["demo"]
    assert all("profiles" not in SERVICES[name] for name in SERVICES if name != "simulator")


def test_redis_keeps_its_data_with_aof_every_second_and_never_evicts() -> None:
    redis = SERVICES["redis"]
    assert redis["image"].startswith("redis:7")
    started = " ".join(redis["command"])
    for flag in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
        assert flag in started
    volume = redis["volumes"][0]
    name, _, target = volume.partition(":")
    assert target == "/data"
    assert name in COMPOSE["volumes"]
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]


def test_every_dependent_waits_for_a_healthy_redis() -> None:
    for name in APP_SERVICES:
        assert SERVICES[name]["depends_on"] == {"redis": {"condition": "service_healthy"}}, name


def test_the_api_serves_on_8080_with_a_health_check_on_its_liveness_route() -> None:
    api = SERVICES["api"]
    everywhere = "0.0.0.0"  # noqa: S104 - inside its container
    assert command("api") == ["mimecast-source", "api", "--host", everywhere, "--port", "8080"]
    assert api["ports"] == ["${API_PORT:-8080}:8080"]
    assert "http://127.0.0.1:8080/health" in " ".join(api["healthcheck"]["test"])


def test_workers_scale_no_fixed_name_no_host_port_and_a_grace_period_above_the_task_limit() -> None:
    worker = SERVICES["worker"]
    assert command("worker")[:4] == ["celery", "-A", "worker", "worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert any(arg.startswith("--hostname=") and "%h" in arg for arg in command("worker"))
    # prefork (processes) unless WORKER_POOL says threads: the pool is the operator's choice
    assert "--pool=${WORKER_POOL:-prefork}" in command("worker")
    time_limit = Settings.model_fields["task_time_limit_seconds"].default
    assert seconds(worker["stop_grace_period"]) > time_limit
    assert not any("container_name" in service for service in SERVICES.values())


def test_exactly_one_beat() -> None:
    assert command("beat")[:4] == ["celery", "-A", "worker", "beat"]
    assert SERVICES["beat"]["deploy"]["replicas"] == 1
    beats = [name for name in SERVICES if "beat" in command(name)]
    assert beats == ["beat"]


def test_flower_needs_basic_auth_has_no_control_operations_and_is_not_published() -> None:
    flower = SERVICES["flower"]
    assert command("flower")[:4] == ["celery", "-A", "worker", "flower"]
    assert "--read_only=True" in command("flower")
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert "FLOWER_UNAUTHENTICATED_API" not in yaml.safe_dump(COMPOSE)
    assert "ports" not in flower
    assert flower["expose"] == ["5555"]


def test_the_demo_simulator_serves_on_8025() -> None:
    assert command("simulator")[:2] == ["mimecast-source", "simulator"]
    assert SERVICES["simulator"]["ports"] == ["${SIM_PORT:-8025}:8025"]


@pytest.mark.parametrize("name", list(SERVICES))
def test_no_secret_is_written_into_the_compose_file(name: str) -> None:
    secretish = re.compile(r"(secret|password|key|auth|token)", re.IGNORECASE)
    environment = SERVICES[name].get("environment", {})
    for variable, value in environment.items():
        if secretish.search(variable):
            # Only an interpolation from the environment, or a demo value of the simulator.
            assert str(value).startswith("${"), f"{name}.{variable} holds a literal value"
    text = (ROOT / "docker-compose.yml").read_text()
    assert "gAAAAA" not in text
    assert not re.search(r"[A-Za-z0-9_-]{43}=", text)


def test_every_variable_the_compose_file_uses_is_a_setting_or_documented() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    docs = documented()
    for variable in interpolated_names(COMPOSE):
        assert variable in fields or variable in docs, variable
    for service in APP_SERVICES:
        for variable in SERVICES[service]["environment"]:
            assert variable in fields or variable in docs, f"{service}: {variable}"


def test_the_env_example_documents_every_setting_with_one_comment() -> None:
    docs = documented()
    wanted = {name.upper() for name in Settings.model_fields}
    wanted |= {f"SIM_{name.upper()}" for name in SimulatorSettings.model_fields}
    missing = sorted(wanted - set(docs))
    assert not missing, f".env.example lacks {missing}"
    uncommented = sorted(name for name in wanted if not docs[name])
    assert not uncommented, f"no comment above {uncommented}"


def test_the_env_example_holds_no_secret_value() -> None:
    for line in ENV_EXAMPLE.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and re.search("KEY|SECRET|PASSWORD|AUTH", name):
            assert value == "", f"{name} has a value in .env.example"


def test_the_image_is_slim_python_311_installs_the_project_and_runs_as_non_root() -> None:
    assert re.search(r"^FROM python:3\.11-slim", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^RUN .*pip install .*\.", DOCKERFILE, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert users, "the image never drops root"
    assert users[-1] not in ("root", "0")
    for room in ("core", "worker", "tasks", "api", "simulator", "cli"):
        assert f"COPY {room} ./{room}" in DOCKERFILE


def test_every_service_runs_the_one_image_which_only_the_api_builds() -> None:
    for name in (*APP_SERVICES, "simulator"):
        assert SERVICES[name]["image"] == "mimecast-source:latest", name
        assert SERVICES[name]["pull_policy"] == "never", name
    assert [name for name in SERVICES if "build" in SERVICES[name]] == ["api"]
    assert SERVICES["api"]["build"] == "."


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in SERVICES.items():
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "celery -A worker inspect ping" in SERVICES["worker"]["healthcheck"]["test"][1]
    assert "/tmp/celerybeat-schedule" in " ".join(SERVICES["beat"]["healthcheck"]["test"])
    assert "--schedule=/tmp/celerybeat-schedule" in command("beat")
    assert "http://127.0.0.1:5555/healthcheck" in " ".join(SERVICES["flower"]["healthcheck"]["test"])


def test_the_redis_password_is_never_pasted_into_a_url() -> None:
    for name in APP_SERVICES:
        environment = SERVICES[name]["environment"]
        assert "$" not in environment["REDIS_URL"], name
        assert environment["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?"), name


FILLED = {
    "SECRETS_KEY": "a-fernet-key",
    "API_ACCESS_KEY": "an-access-key",
    "REDIS_PASSWORD": "p@ss/w:rd#%x",
    "FLOWER_BASIC_AUTH": "admin:flower-password",
}


def compose_config(
    tmp_path: Path, values: dict[str, str], example: str = ENV_EXAMPLE
) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` on the project's file with an .env of `values` (no engine needed),
    made from `example` (.env.example unless another text is given)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed: `make test` installs Debian's package")
    env_file = tmp_path / ".env"
    lines = example.splitlines()
    filled = [f"{line}{values.get(line[:-1], '')}" if line.endswith("=") else line for line in lines]
    env_file.write_text("\n".join(filled) + "\n")
    command = [binary, "--project-directory", str(ROOT), "--env-file", str(env_file)]
    command += ["-f", str(ROOT / "docker-compose.yml"), "config"]
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60, check=False)


def test_a_real_compose_resolves_the_file_from_a_filled_in_env_example(tmp_path: Path) -> None:
    run = compose_config(tmp_path, FILLED)
    assert run.returncode == 0, run.stderr
    resolved: dict[str, Any] = yaml.safe_load(run.stdout)
    services = resolved["services"]
    assert set(services) == {"redis", "api", "worker", "beat", "flower", "simulator"}
    assert services["simulator"]["profiles"] == ["demo"]
    assert [name for name, service in services.items() if "build" in service] == ["api"]
    assert {services[name]["image"] for name in (*APP_SERVICES, "simulator")} == {"mimecast-source:latest"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["REDIS_URL"] == "redis://redis:6379/0", name
        assert environment["REDIS_PASSWORD"] == FILLED["REDIS_PASSWORD"], name
    assert services["redis"]["environment"]["REDIS_PASSWORD"] == FILLED["REDIS_PASSWORD"]
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == FILLED["FLOWER_BASIC_AUTH"]
    assert "--pool=prefork" in services["worker"]["command"]  # the default, resolved


def test_a_real_compose_runs_the_workers_on_the_pool_the_env_names(tmp_path: Path) -> None:
    threads = ENV_EXAMPLE.replace("#WORKER_POOL=prefork", "WORKER_POOL=threads")
    threads = threads.replace("#WORKER_CONCURRENCY=4", "WORKER_CONCURRENCY=16")
    assert threads != ENV_EXAMPLE
    run = compose_config(tmp_path, FILLED, threads)
    assert run.returncode == 0, run.stderr
    worker = yaml.safe_load(run.stdout)["services"]["worker"]["command"]
    assert "--pool=threads" in worker
    assert "--concurrency=16" in worker


@pytest.mark.parametrize("missing", sorted(FILLED))
def test_a_real_compose_refuses_to_start_without_a_required_secret_and_names_it(
    tmp_path: Path, missing: str
) -> None:
    run = compose_config(tmp_path, {name: value for name, value in FILLED.items() if name != missing})
    assert run.returncode != 0
    assert f"set {missing}" in run.stderr


def test_the_settings_put_the_redis_password_into_the_url_escaped() -> None:
    import kombu
    import redis

    password = FILLED["REDIS_PASSWORD"] + "?&= é@"
    settings = Settings(_env_file=None, redis_url="redis://redis:6379/0", redis_password=password)  # type: ignore[call-arg]
    assert password not in settings.redis_url
    assert redis.Redis.from_url(settings.redis_url).connection_pool.connection_kwargs["password"] == password
    connection = kombu.Connection(settings.redis_url)
    assert (connection.password, connection.hostname, connection.port) == (password, "redis", 6379)
    kept = Settings(_env_file=None, redis_url="redis://:inurl@h:1/0", redis_password="other")  # type: ignore[call-arg]
    assert kept.redis_url == "redis://:inurl@h:1/0"
    none = Settings(_env_file=None, redis_url="redis://h:1/0", redis_password="")  # type: ignore[call-arg]
    assert none.redis_url == "redis://h:1/0"


def test_the_docker_context_leaves_out_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "var", ".env"):
        assert entry in ignored


def test_the_admin_key_is_required_by_compose_and_an_empty_one_is_no_admin() -> None:
    # A copied .env.example leaves API_ACCESS_KEY empty: that must never mean "admin with no key".
    assert SERVICES["api"]["environment"]["API_ACCESS_KEY"].startswith("${API_ACCESS_KEY:?")
    empty = Settings(_env_file=None, api_access_id="admin", api_access_key="")  # type: ignore[call-arg]
    assert empty.admin_credentials() is None
