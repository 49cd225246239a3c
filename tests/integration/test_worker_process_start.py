"""The worker's Celery app, in a process of its own: what each pool process does as it starts."""

from __future__ import annotations

import subprocess
import sys

from tests.support.celery_worker import base_env

# In a fresh interpreter (the app reads its settings from the environment on import): a pool
# process's start signal builds the process's services, so its first task does not pay for them.
PROBE = """
from celery import signals
import worker.app
from worker.wiring import services
assert services.cache_info().currsize == 0
signals.worker_process_init.send(sender=None)
print(services.cache_info().currsize)
"""


def test_a_pool_process_builds_its_services_as_it_starts_not_in_its_first_task() -> None:
    env = base_env("redis://127.0.0.1:1/0", "http://127.0.0.1:1")  # nothing is connected to
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
