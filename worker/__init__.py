"""The worker process: its settings, its Celery app (`celery -A worker worker`) and its wiring.

`worker.app` is imported on first use only, so that reading `worker.settings` (the API, the
command line) does not build the Celery app or demand the worker's settings.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from worker.app import app

        return app
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
