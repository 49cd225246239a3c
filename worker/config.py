"""The Celery app's configuration: at-least-once delivery over Redis, JSON only, no results kept.

Both the worker (`worker.app`) and the management API (which only sends) build their app here.
"""

from __future__ import annotations

from celery import Celery

from worker.settings import Settings

TASK_MODULES = ["tasks.lifecycle"]


def create_celery(settings: Settings) -> Celery:
    app = Celery("mimecast-source", broker=settings.redis_url, include=TASK_MODULES)
    app.conf.update(
        # At-least-once: ack after the task ran, requeue when its process dies, one message at a time.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Our own Redis keys are the record; Celery results are not kept.
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_time_limit=settings.task_time_limit_seconds,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_seconds},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app
