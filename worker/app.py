"""The Celery app of the workers: `celery -A worker worker`. Refuses to start without SECRETS_KEY."""

from __future__ import annotations

import logging

from worker.config import create_celery
from worker.settings import Settings

_settings = Settings()
_settings.secrets_keys()  # MissingSetting (with how to make a key) before any task can run
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = create_celery(_settings)
