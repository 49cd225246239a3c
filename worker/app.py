"""The Celery app of the workers: `celery -A worker worker`. Refuses to start without SECRETS_KEY."""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from worker.config import create_celery
from worker.logging import install as install_logging
from worker.settings import Settings

_settings = Settings()
_settings.secrets_keys()  # MissingSetting (with how to make a key) before any task can run
install_logging()  # JSON lines, task ids bound per task, secrets masked

app = create_celery(_settings)


def _build_services(**_: Any) -> None:
    """Each pool process builds its services (connection pools, the HTTP client and its TLS
    context) as it starts, not inside its first task: a source's first page does not wait for it."""
    from worker.wiring import services

    try:
        services()
    except Exception as exc:  # the first task builds them again, and its failure is handled there
        logging.getLogger(__name__).warning("services not built at process start: %s", type(exc).__name__)


signals.worker_process_init.connect(_build_services, weak=False)
