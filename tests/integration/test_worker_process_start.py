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
from worker.wiring import _built
assert _built.cache_info().currsize == 0
signals.worker_process_init.send(sender=None)
print(_built.cache_info().currsize)
"""


def test_a_pool_process_builds_its_services_as_it_starts_not_in_its_first_task() -> None:
    env = base_env("redis://127.0.0.1:1/0", "http://127.0.0.1:1")  # nothing is connected to
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


# The threads pool builds a process's services in its first tasks, which start together.
TOGETHER_PROBE = """
import threading
import worker.app
from worker.wiring import services
start = threading.Barrier(8)
got = []
def first_task():
    start.wait()
    got.append(services())
threads = [threading.Thread(target=first_task) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(got), len({id(built) for built in got}))
"""


def test_tasks_starting_together_in_one_process_share_one_set_of_services() -> None:
    env = base_env("redis://127.0.0.1:1/0", "http://127.0.0.1:1")
    done = subprocess.run(
        [sys.executable, "-c", TOGETHER_PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["8", "1"]
