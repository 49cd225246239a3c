"""The Celery app of the workers: `celery -A worker worker`. Refuses to start without SECRETS_KEY."""

from __future__ import annotations

from worker.config import create_celery
from worker.logging import install as install_logging
from worker.settings import Settings

_settings = Settings()
_settings.secrets_keys()  # MissingSetting (with how to make a key) before any task can run
install_logging()  # JSON lines, task ids bound per task, secrets masked

app = create_celery(_settings)
